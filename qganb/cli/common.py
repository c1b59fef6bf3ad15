"""What several command groups share: printing, and the options that name a guest and an installer."""

from __future__ import annotations

import argparse
import sys

from qganb.agent.transport import DEFAULT_URI


def stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def say(line: str) -> None:
    print(line, flush=True)


def add_guest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--guest", metavar="[USER@]HOST[:PORT]", help="the guest over SSH (default: the testbed)")
    parser.add_argument("--domain", help="its libvirt domain (default: the testbed's)")
    parser.add_argument("--connect", default=DEFAULT_URI, metavar="URI",
                        help=f"libvirt URI, e.g. qemu+ssh://root@hypervisor/system (default {DEFAULT_URI})")
    parser.add_argument("--identity", metavar="KEY", help="SSH private key (default: ssh's own choice)")
    parser.add_argument("--known-hosts", metavar="FILE",
                        help="known_hosts to verify the guest's host key with (default ~/.ssh/known_hosts)")


def add_stock_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--stock", metavar="SRPM|RPM",
                        help="testbed only: the agent package the guest starts from, a src.rpm (rebuilt unpatched) "
                        f"or an RPM; `as-is` leaves the guest's package alone (default: {default})")


def add_installer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--installer", default="auto", choices=["auto", "rpm", "dnf", "yum"],
                        help="auto: dnf, else yum, else rpm -Uvh (default auto)")
    parser.add_argument("--flag", action="append", metavar="OPTION",
                        help="extra installer option, e.g. --flag=--nodeps (repeatable)")
    parser.add_argument("--unblock", action="store_true",
                        help="rewrite the configuration line that disables a new command (shown otherwise)")
    parser.add_argument("--allow-downgrade", action="store_true",
                        help="install even when the guest runs a newer package (rpm --oldpackage, dnf/yum downgrade)")


def choose_guest_from(args: argparse.Namespace):  # type: ignore[no-untyped-def]  # -> GuestChoice
    from qganb.stages.guest_choice import choose_guest

    return choose_guest(args.guest or "", args.domain or "", uri=args.connect, identity=args.identity or "",
                        known_hosts=args.known_hosts or "", stock=getattr(args, "stock", None) or "")
