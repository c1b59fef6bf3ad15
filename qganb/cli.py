"""The `qganb` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from qganb import __version__
from qganb.errors import CommandFailed, QganbError


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _testbed_srpm(args: argparse.Namespace) -> int:
    from qganb.testbed.fixture_srpm import build_fixture_srpm

    fixture = build_fixture_srpm(args.qemu, args.style, refresh=args.refresh,
                                 on_line=_stderr_line if args.verbose else None)
    print(fixture.path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from qganb.testbed.debian_sources import supported_series
    from qganb.testbed.fixture_specs import STYLES

    parser = argparse.ArgumentParser(
        prog="qganb",
        description="Add custom QEMU Guest Agent commands and ship them as a patched qemu-guest-agent RPM.",
    )
    parser.add_argument("--version", action="version", version=f"qganb {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    testbed = commands.add_parser("testbed", help="the local testbed: fixture src.rpms built from real QEMU sources",
                                  description="The local testbed that the demo and the tests run against.")
    testbed_commands = testbed.add_subparsers(dest="testbed_command", metavar="TESTBED_COMMAND", required=True)
    srpm = testbed_commands.add_parser(
        "srpm",
        help="build (or reuse) a qemu-guest-agent fixture src.rpm and print its path",
        description="Build a qemu-guest-agent src.rpm from Debian's copy of upstream QEMU, with a spec in a "
        "real distro style and downstream patches. Results are cached by content; asking again is instant.",
    )
    srpm.add_argument("--qemu", required=True, metavar="VERSION",
                      help=f"QEMU series: {', '.join(supported_series())}")
    srpm.add_argument("--style", required=True, metavar="STYLE",
                      help="spec style: " + "; ".join(f"{s.name} ({s.description})" for s in STYLES.values()).replace("%", "%%"))
    srpm.add_argument("--refresh", action="store_true", help="re-read Debian's source indexes first")
    srpm.add_argument("-v", "--verbose", action="store_true", help="stream rpmbuild's output to stderr")
    srpm.set_defaults(handler=_testbed_srpm)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except CommandFailed as exc:
        print(f"qganb: error: {exc}", file=sys.stderr)
        print(exc.details(), file=sys.stderr)
        return 1
    except QganbError as exc:
        print(f"qganb: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qganb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
