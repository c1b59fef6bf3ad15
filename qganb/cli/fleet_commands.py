"""`qganb rollout`: the patched build to every guest of an Ansible inventory, canary first."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from qganb.cli.common import add_installer_arguments, say
from qganb.errors import UsageError


def rollout_inputs(run: str | None, rpms: list[str] | None, recipes: list[str] | None) -> tuple[list[Path], list[Path]]:
    """The builds and the recipes to verify: a run's (its build and edit stages), and/or given ones."""
    from qganb.stages.install import agent_rpm_of
    from qganb.stages.records import BuildRecord, EditRecord
    from qganb.stages.run_dir import RunDir

    builds = [Path(p) for p in rpms or []]
    chosen = [Path(p) for p in recipes or []]
    if run:
        run_dir = RunDir.existing(run)
        builds.insert(0, agent_rpm_of(run_dir.load(BuildRecord).packages))
        if not recipes:
            chosen = [Path(p) for p in run_dir.load(EditRecord).recipes]
    if not builds:
        raise UsageError("rollout needs a build: --run DIR of a run whose build stage ran, or --rpm RPM (repeatable)",
                         "add --run or --rpm")
    return builds, chosen


def _rollout(args: argparse.Namespace) -> int:
    from qganb.fleet.rollout import RolloutOptions, rollout
    from qganb.stages.install import InstallOptions

    builds, recipes = rollout_inputs(args.run, args.rpm, args.recipe)
    directory = Path(args.output) if args.output else (
        Path(args.run) / "rollout" if args.run else Path("runs") / "rollout")
    options = RolloutOptions(
        serial=args.serial, max_fail_percentage=args.max_fail_percentage, forks=args.forks, check=args.check,
        limit=args.limit, install=InstallOptions(installer=args.installer, extra_flags=args.flag or [],
                                                 unblock=args.unblock, allow_downgrade=args.allow_downgrade,
                                                 reinstall=args.reinstall,
                                                 known_rpms=[Path(p) for p in args.known_rpm or []]))
    report = rollout(Path(args.inventory), builds, recipes, directory, options, say=say)
    print(report.table())
    print(report.timeline())
    print(report.summary())
    print(f"report: {directory / 'rollout.json'}")
    return 0 if report.ok else 1


def add_rollout_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--serial", default="1,25%,100%", metavar="SIZES",
                        help="batch sizes after the one-host canary, as Ansible's serial: counts or percentages, "
                        "comma-separated (default 1,25%%,100%%); the first batch is always one host")
    parser.add_argument("--max-fail-percentage", type=int, default=0, metavar="N",
                        help="stop after a batch in which more than N%% of the hosts failed, were rolled back or "
                        "were unreachable (default 0: stop after the first such batch); a batch whose hosts all "
                        "failed, such as a failed canary, stops the rollout at any N, 100 included; hosts not "
                        "reached are left untouched; ignored with --check, which checks every host")
    parser.add_argument("--forks", type=int, default=10, metavar="N", help="hosts worked on at once (default 10)")
    parser.add_argument("--limit", metavar="PATTERN", help="only these hosts (Ansible's --limit)")


def add_commands(commands: Any) -> None:
    rollout = commands.add_parser(
        "rollout", help="roll the patched agent out to an Ansible inventory: canary, batches, per-host rollback",
        description="Install the build on every host of an Ansible inventory with ansible-runner: one host first "
        "(the canary), then batches as --serial says. Each host gets the build that matches the package it runs "
        "(same name, version and dist tag), through the same install transaction as `qganb install` (rolled back "
        "when its agent does not answer), then the recipes' verify cases through virsh on its hypervisor. Host "
        "variables: ansible_host, ansible_port, ansible_user, qganb_domain (default: the inventory name), "
        "qganb_libvirt_uri (default qemu:///system). Exit status 0 only when every host ends installed or "
        "unchanged and verified.")
    rollout.add_argument("--inventory", "-i", required=True, metavar="INVENTORY", help="Ansible inventory (INI or YAML)")
    rollout.add_argument("--run", metavar="DIR", help="run directory whose build stage made the RPM (its recipes "
                         "are verified)")
    rollout.add_argument("--rpm", action="append", metavar="RPM",
                         help="a built qemu-guest-agent RPM (repeatable: one per distro release for a mixed fleet)")
    rollout.add_argument("--recipe", action="append", metavar="RECIPE", help="recipes to verify (default: the run's)")
    rollout.add_argument("--check", action="store_true",
                         help="run every pre-check on every host and change nothing (Ansible's check mode)")
    rollout.add_argument("--reinstall", action="store_true",
                         help="install even on hosts that already run this very build (default: unchanged)")
    rollout.add_argument("--known-rpm", action="append", metavar="RPM",
                         help="an RPM a host may run now, to roll back to (repeatable; e.g. the distro's stock "
                         "build when the hosts' repositories no longer offer it); qganb also keeps every package "
                         "it installs")
    rollout.add_argument("--output", metavar="DIR",
                         help="where the playbook, the host logs and rollout.json go (default: RUN/rollout, or "
                         "runs/rollout)")
    add_rollout_arguments(rollout)
    add_installer_arguments(rollout)
    rollout.set_defaults(handler=_rollout)
