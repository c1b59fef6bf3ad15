"""`qganb testbed ...`: the local testbed (fixture src.rpms, QEMU trees, the test guest)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from qganb.cli.common import stderr_line
from qganb.errors import UsageError


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


def _fleet_only_default(args: argparse.Namespace, flag: str) -> None:
    if args.variant != "default":
        raise UsageError(f"{flag} is about the fleet, whose guests boot from the default guest's image, "
                         f"not the {args.variant} one", f"leave --variant {args.variant} out")


def _stocks_for(values: list[str]) -> dict[int, Path]:
    """`--stock-for I=PATH ...` as {I: PATH}, each path an existing file."""
    stocks: dict[int, Path] = {}
    for value in values:
        index, equals, path = value.partition("=")
        if not equals or not index.strip().isdigit() or not path:
            raise UsageError(f"--stock-for {value!r} is not I=PATH",
                             "write it like --stock-for 2=/path/to/qemu-guest-agent-2.12.0-3.el7.src.rpm")
        if int(index) in stocks:
            raise UsageError(f"--stock-for names guest {int(index)} twice", "give one agent package per guest")
        if not Path(path).is_file():
            raise UsageError(f"--stock-for {value}: {path} does not exist",
                             "give the path of a src.rpm or an RPM of the agent")
        stocks[int(index)] = Path(path)
    return stocks


def _fleet_up(args: argparse.Namespace) -> int:
    from qganb.testbed import fleet

    _fleet_only_default(args, "--guests")
    if args.stock:
        raise UsageError("--stock is for the default guest", "give a fleet guest its agent with --stock-for I=PATH")
    fleet.check_guest_count(args.guests)
    done = fleet.up_fleet(args.guests, _stocks_for(args.stock_for or []),
                          on_line=stderr_line if args.verbose else None)
    for member in done.guests:
        times = done.guest_timings[member.index]
        started = ("already running, its agent answers guest-ping" if member.index in done.reused else
                   f"agent answers guest-ping {times['boot']:.1f} s after its start (sshd {times['ssh']:.1f} s)")
        stock = f"; agent package changed in {times['stock']:.1f} s" if "stock" in times else ""
        print(f"{member.domain}: 127.0.0.1:{member.port}, {started}{stock}")
    timings = done.timings
    how = "reused" if timings["image"] < 5 else f"built in {timings['image']:.0f} s"
    booted = ("every guest was running already" if len(done.reused) == len(done.guests) else
              f"every agent answers {timings['boot']:.1f} s after the first start, every sshd {timings['ssh']:.1f} s")
    print(f"fleet of {len(done.guests)}: {booted}; stock agents {timings['stocks']:.1f} s; "
          f"image {done.image.name} ({how}); {timings['total']:.1f} s in all")
    print(f"inventory: {done.inventory}")
    print(f"ssh: qganb testbed ssh --guest I   (host keys pinned in {fleet.known_hosts_path()})")
    return 0


def _testbed_up(args: argparse.Namespace) -> int:
    from qganb.testbed import guest

    from qganb.stages.guest_choice import existing_stock

    if args.guests is not None:
        return _fleet_up(args)
    if args.stock_for:
        raise UsageError("--stock-for is for fleet guests", "add --guests N, or use --stock for the default guest")

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


def _fleet_status(args: argparse.Namespace) -> int:
    from qganb.testbed import fleet

    _fleet_only_default(args, "--guests")
    found = fleet.fleet_status()
    if not found:
        print("no fleet guest is defined (`qganb testbed up --guests N` boots one)")
        return 1
    for member in found:
        where = f"; ssh 127.0.0.1:{member.port}" if member.port is not None else ""
        print(f"{member.domain}: {member.state}; agent {'answers guest-ping' if member.agent_answers else 'not answering'}"
              f"{where}")
    return 0 if all(m.agent_answers for m in found) else 1


def _testbed_status(args: argparse.Namespace) -> int:
    from qganb.testbed import guest, libvirt_host

    if args.guests:
        return _fleet_status(args)
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
    if args.guest is not None:
        from qganb.testbed import fleet

        _fleet_only_default(args, "--guest")
        argv = fleet.booted_guest(args.guest).ssh_argv(command or None)
    else:
        argv = guest.ssh_argv(guest.current_image(args.variant), command or None, variant=args.variant)
    os.execvp(argv[0], argv)


def _testbed_down(args: argparse.Namespace) -> int:
    from qganb.testbed import guest

    if args.guests:
        from qganb.testbed import fleet

        _fleet_only_default(args, "--guests")
        stopped = fleet.down_fleet()
        print(f"{', '.join(stopped)} stopped; no fleet guest is running" if stopped
              else "no fleet guest was defined; none is running")
        return 0
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
    up.add_argument("--guests", type=int, metavar="N",
                    help="boot a fleet of N guests (1 to 8) instead, qganb-fleet-1..N, together, from the default "
                    "guest's image, each with its own SSH port (127.0.0.1:$QGANB_TESTBED_FLEET_SSH_PORT+i, base "
                    "22240), host key and hostname, and write an Ansible inventory of them")
    up.add_argument("--stock-for", action="append", metavar="I=PATH",
                    help="with --guests: the agent package fleet guest I starts from, a src.rpm or an RPM "
                    "(repeatable; default: the image's own)")
    add_variant(up)
    up.set_defaults(handler=_testbed_up)
    status = testbed_commands.add_parser("status", help="is the test guest running, and does its agent answer?")
    status.add_argument("--guests", action="store_true", help="the fleet's guests instead")
    add_variant(status)
    status.set_defaults(handler=_testbed_status)
    ssh = testbed_commands.add_parser("ssh", help="ssh into the test guest (pinned host key, testbed key)")
    add_variant(ssh)
    ssh.add_argument("--guest", type=int, metavar="I", help="fleet guest I (qganb-fleet-I) instead")
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="command to run instead of a shell")
    ssh.set_defaults(handler=_testbed_ssh)
    down = testbed_commands.add_parser("down", help="stop the test guest; leaves nothing running")
    down.add_argument("--guests", action="store_true",
                      help="stop every fleet guest (qganb-fleet-*) instead, and remove their run directories")
    add_variant(down)
    down.set_defaults(handler=_testbed_down)
