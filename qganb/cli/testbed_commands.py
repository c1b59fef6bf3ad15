"""`qganb testbed ...`: the local testbed (fixture src.rpms, QEMU trees, the test guest)."""

from __future__ import annotations

import argparse
from typing import Any

from qganb.cli.common import stderr_line


def _testbed_srpm(args: argparse.Namespace) -> int:
    from qganb.testbed.fixture_srpm import build_fixture_srpm

    fixture = build_fixture_srpm(args.qemu, args.style, refresh=args.refresh, source=args.source,
                                 on_line=stderr_line if args.verbose else None)
    print(fixture.path)
    return 0


def _testbed_tree(args: argparse.Namespace) -> int:
    from qganb.testbed.source_tree import unpacked_tree

    print(unpacked_tree(args.qemu, refresh=args.refresh, source=args.source))
    return 0


def _testbed_up(args: argparse.Namespace) -> int:
    from qganb.testbed import guest

    from qganb.stages.guest_choice import existing_stock

    timings = guest.up(on_line=stderr_line if args.verbose else None, variant=args.variant,
                       stock=existing_stock(args.stock) if args.stock else None)
    image = guest.current_image(args.variant)
    domain = guest.domain_name(args.variant)
    if timings["boot"] == 0.0:
        print(f"{domain} is already running and its agent answers guest-ping")
    else:
        how = "reused" if timings["image"] < 5 else f"built in {timings['image']:.0f} s"
        print(f"{domain}: agent answers guest-ping {timings['boot']:.1f} s after start "
              f"(sshd {timings['ssh']:.1f} s); image {image.directory.name} ({how})")
    if "stock" in timings:
        print(f"the guest runs {args.stock}'s agent package " + (
            f"(installed in {timings['stock']:.1f} s)" if timings["stock"] else "(it did already)"))
    flag = "" if args.variant == "default" else f" --variant {args.variant}"
    print(f"ssh: qganb testbed ssh{flag}   (port {guest.ssh_port(args.variant)} on 127.0.0.1, host key pinned in "
          f"{guest.known_hosts_path(args.variant)})")
    return 0


def _testbed_status(args: argparse.Namespace) -> int:
    from qganb.testbed import guest, libvirt_host

    libvirt_host.ensure_daemons()
    domain = guest.domain_name(args.variant)
    state = libvirt_host.domain_state(domain) or "not defined"
    answering = state == "running" and libvirt_host.agent_ping(domain)
    print(f"{domain}: {state}; agent {'answers guest-ping' if answering else 'not answering'}")
    return 0 if answering else 1


def _testbed_ssh(args: argparse.Namespace) -> int:
    import os

    from qganb.testbed import guest

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    argv = guest.ssh_argv(guest.current_image(args.variant), command or None, variant=args.variant)
    os.execvp(argv[0], argv)


def _testbed_down(args: argparse.Namespace) -> int:
    from qganb.testbed import guest

    guest.down(args.variant)
    print(f"{guest.domain_name(args.variant)} stopped; nothing of it is running")
    return 0


SOURCE_HELP = ("for series no Debian suite carries (2.12): the upstream tarball, or the directory or URL "
               "holding it (checked against its pinned sha256); default $QGANB_QEMU_SOURCES, else "
               "../shared/fixtures beside the checkout")


def add_commands(commands: Any) -> None:
    from qganb.testbed.catalog import STYLES, supported_series

    def add_variant(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--variant", choices=("default", "dnf"), default="default",
                            help="which test guest: default (rpm only, domain qganb-testbed) or dnf (dnf and a "
                            "local repository holding the stock agent, domain qganb-testbed-dnf)")

    testbed = commands.add_parser("testbed", help="the local testbed: fixture src.rpms built from real QEMU sources",
                                  description="The local testbed that the demo and the tests run against.")
    testbed_commands = testbed.add_subparsers(dest="testbed_command", metavar="TESTBED_COMMAND", required=True)
    srpm = testbed_commands.add_parser(
        "srpm",
        help="build (or reuse) a qemu-guest-agent fixture src.rpm and print its path",
        description="Build a qemu-guest-agent src.rpm from Debian's copy of upstream QEMU (or, for 2.12, the "
        "upstream release tarball), with a spec in a "
        "real distro style and downstream patches. Results are cached by content; asking again is instant.",
    )
    srpm.add_argument("--qemu", required=True, metavar="VERSION",
                      help=f"QEMU series: {', '.join(supported_series())}")
    srpm.add_argument("--style", required=True, metavar="STYLE",
                      help="spec style: " + "; ".join(f"{s.name} ({s.description})" for s in STYLES.values()).replace("%", "%%"))
    srpm.add_argument("--refresh", action="store_true", help="re-read Debian's source indexes first")
    srpm.add_argument("--source", metavar="PATH|URL", help=SOURCE_HELP)
    srpm.add_argument("-v", "--verbose", action="store_true", help="stream rpmbuild's output to stderr")
    srpm.set_defaults(handler=_testbed_srpm)
    tree = testbed_commands.add_parser(
        "tree", help="unpack (or reuse) a pristine QEMU tree from the fixture sources and print its path",
        description="Unpack the QEMU source the fixtures are built from, once, into qganb's cache: a tree "
        "to preview and validate recipes on. Treat it as read-only; `recipe apply` wants a copy.")
    tree.add_argument("--qemu", required=True, metavar="VERSION", help=f"QEMU series: {', '.join(supported_series())}")
    tree.add_argument("--refresh", action="store_true", help="re-read Debian's source indexes first")
    tree.add_argument("--source", metavar="PATH|URL", help=SOURCE_HELP)
    tree.set_defaults(handler=_testbed_tree)
    up = testbed_commands.add_parser(
        "up", help="boot the test guest (a libvirt TCG domain with the stock agent), building its image once",
        description="Boot the local test guest on qemu:///system, starting virtlogd/libvirtd if needed. The image "
        "(Debian with systemd, udev, OpenSSH, rpm and the stock fixture qemu-guest-agent RPM) is built once and "
        "cached. Prints the time from start to 'agent answers guest-ping'.")
    up.add_argument("-v", "--verbose", action="store_true", help="stream debootstrap/rpmbuild output")
    up.add_argument("--stock", metavar="SRPM|RPM",
                    help="the agent package the guest starts from: a src.rpm (rebuilt unpatched, once) or an RPM; "
                    "default: the image's own, the el7 QEMU 7.2 fixture's build")
    add_variant(up)
    up.set_defaults(handler=_testbed_up)
    status = testbed_commands.add_parser("status", help="is the test guest running, and does its agent answer?")
    add_variant(status)
    status.set_defaults(handler=_testbed_status)
    ssh = testbed_commands.add_parser("ssh", help="ssh into the test guest (pinned host key, testbed key)")
    add_variant(ssh)
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="command to run instead of a shell")
    ssh.set_defaults(handler=_testbed_ssh)
    down = testbed_commands.add_parser("down", help="stop the test guest; leaves nothing running")
    add_variant(down)
    down.set_defaults(handler=_testbed_down)
