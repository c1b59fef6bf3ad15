"""The `qganb` command line: one module per command group, each adding its subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from qganb import __version__
from qganb.cli import (
    fleet_commands,
    guest_commands,
    pipeline_commands,
    recipe_commands,
    testbed_commands,
)
from qganb.errors import QganbError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qganb",
        description="Add custom QEMU Guest Agent commands and ship them as a patched qemu-guest-agent RPM.",
    )
    parser.add_argument("--version", action="version", version=f"qganb {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Help lists them in pipeline order: the testbed, packaging, the guest side, all of it, recipes alone.
    testbed_commands.add_commands(commands)
    pipeline_commands.add_packaging_commands(commands)
    guest_commands.add_commands(commands)
    fleet_commands.add_commands(commands)
    pipeline_commands.add_run_command(commands)
    recipe_commands.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except QganbError as exc:
        print(f"qganb: error: {exc}", file=sys.stderr)
        if details := exc.details():
            print(details, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qganb: interrupted", file=sys.stderr)
        return 130
