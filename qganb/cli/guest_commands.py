"""`qganb install` and `qganb verify`: the guest side, over SSH and through libvirt."""

from __future__ import annotations

import argparse
from typing import Any

from qganb.cli.common import (
    add_guest_arguments,
    add_stock_argument,
    add_installer_arguments,
    choose_guest_from,
    say,
)
from qganb.errors import UsageError


def _install(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qganb.stages import install
    from qganb.stages.run_dir import RunDir

    choice = choose_guest_from(args)
    if choice.ssh is None:
        raise UsageError("install needs --guest [user@]host[:port] to reach the guest over SSH", "add --guest")
    options = install.InstallOptions(installer=args.installer, extra_flags=choice.install_flags + (args.flag or []),
                                     previous_rpm=Path(args.previous_rpm) if args.previous_rpm else None,
                                     known_rpms=choice.known_rpms, more_known_rpms=choice.more_known_rpms,
                                     unblock=args.unblock,
                                     allow_downgrade=args.allow_downgrade, reinstall=args.reinstall)
    with choice.ssh as ssh:
        if args.check:
            return _check(args, ssh, choice.domain, choice.uri, options)
        if args.resume and Path(args.resume).is_file():
            # A rollout host's <host>.pending.json: the transaction names its own domain and URI.
            pending_file = Path(args.resume)
            record = install.resume_install(ssh, install.PendingInstall.load(pending_file), options=options, say=say,
                                            pending_path=pending_file)
        elif args.resume:
            record = install.run(RunDir.existing(args.resume), ssh, domain=choice.domain, uri=choice.uri,
                                 options=options, say=say, resume=True)
        elif args.rpm:
            recipes = []
            if args.recipe:  # the recipe model's imports cost ~0.1 s: only when recipes are given
                from qganb.recipes.model import load_recipes

                recipes = load_recipes(args.recipe)
            record = install.install_rpm(ssh, Path(args.rpm), domain=choice.domain, uri=choice.uri,
                                         commands=[r.command for r in recipes],
                                         selinux_booleans=[b for r in recipes for b in r.model.selinux_booleans],
                                         options=options, say=say)
        else:
            if not args.run:
                raise UsageError("install needs an RPM: --rpm PATH, or --run DIR of a run whose build stage ran",
                                     "add --rpm or --run")
            record = install.run(RunDir(args.run), ssh, domain=choice.domain, uri=choice.uri, options=options,
                                 say=say)
    if args.record:
        import json

        from qganb.stages.run_dir import record_to_json

        Path(args.record).write_text(json.dumps(record_to_json(record), indent=2) + "\n")
    if record.outcome == "unchanged":
        print(f"{record.installed} already runs on {record.target}: unchanged")
    else:
        print(f"{record.installed} runs on {record.target} (was {record.previous or 'not installed'}); "
              f"{record.seconds.get('total', 0):.0f} s")
    return 0


def _check(args: argparse.Namespace, ssh: Any, domain: str, uri: str, options: Any) -> int:
    """`qganb install --check`: every pre-check, nothing changed."""
    from pathlib import Path

    from qganb.recipes.model import load_recipes
    from qganb.stages import install
    from qganb.stages.records import BuildRecord, EditRecord
    from qganb.stages.run_dir import RunDir

    if args.resume:
        raise UsageError("--check does not go with --resume", "resume the install without --check")
    if args.rpm:
        rpm, recipes = Path(args.rpm), load_recipes(args.recipe or [])
    elif args.run:
        run_dir = RunDir(args.run)
        rpm = install.agent_rpm_of(run_dir.load(BuildRecord).packages)
        recipes = load_recipes([Path(p) for p in run_dir.load(EditRecord).recipes])
    else:
        raise UsageError("install --check needs an RPM: --rpm PATH, or --run DIR of a run whose build stage ran",
                         "add --rpm or --run")
    found = install.check_install(ssh, rpm, domain=domain, uri=uri, commands=[r.command for r in recipes],
                                  selinux_booleans=[b for r in recipes for b in r.model.selinux_booleans],
                                  options=options, say=say)
    print(f"check passed on {found.target}: {found.action} {found.package} (now {found.before or 'not installed'})"
          + (f"; rollback to {found.rollback}" if found.rollback else "") + "; nothing was changed")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from qganb.recipes.model import load_recipes
    from qganb.stages import verify
    from qganb.stages.records import EditRecord
    from qganb.stages.run_dir import RunDir

    run_dir = RunDir(args.run) if args.run else None
    given = load_recipes(args.recipes) if args.recipes else None
    if given is None and (run_dir is None or not run_dir.has_stage(EditRecord.STAGE)):
        raise UsageError("no recipes to verify", "name recipe files, or --run DIR of a run whose edit stage ran")
    choice = choose_guest_from(args)
    try:
        if run_dir is not None:
            record = verify.run(run_dir, choice.agent(), domain=choice.domain, uri=choice.uri, ssh=choice.ssh,
                                recipes=given)
        else:
            assert given is not None
            record = verify.verify_on_guest(choice.agent(), given, domain=choice.domain, uri=choice.uri,
                                            ssh=choice.ssh)
    finally:
        if choice.ssh is not None:
            choice.ssh.close()
    print(f"{record.domain}: qemu-ga {record.agent_version}; "
          + ", ".join(f"{c} {'enabled' if e else 'disabled'}" for c, e in record.commands.items()))
    for case in record.cases:
        print(("PASS" if case["passed"] else "FAIL") + f"  {case['command']}: {case['case']}"
              + (" (+ guest-check)" if case.get("guest_check") and case["passed"] else "")
              + ("" if case["passed"] else f"\n      expected: {case['expected']}\n      got:      {case['got']}"
                 + (f"\n      why:      {case['problem']}" if case.get("problem") else "")))
    if run_dir is not None:
        print(f"record: {run_dir.verification_path}")
    return 0 if record.passed else 1


def add_commands(commands: Any) -> None:
    verify = commands.add_parser(
        "verify", help="check the new commands on a guest through `virsh qemu-agent-command`",
        description="guest-info must list every recipe's command as enabled; then every verify case runs through "
        "virsh. Not connected, not found (old binary), disabled (configuration) and command errors each get "
        "their own message and next step.")
    verify.add_argument("recipes", nargs="*", metavar="RECIPE", help="recipe files (default: the run's recipes)")
    add_guest_arguments(verify)
    verify.add_argument("--run", metavar="DIR", help="run directory: writes verification.json there, and expects "
                        "the version its install stage installed")
    verify.set_defaults(handler=_verify)

    install = commands.add_parser(
        "install", help="install the patched RPM on a guest over SSH; roll back if its agent does not answer",
        description="Check everything first (host key, root or sudo -n, the domain's agent, the installed "
        "package and an RPM of it to roll back to, the agent's block/allow lists, SELinux), then install the RPM "
        "on the guest in a transaction that survives a lost connection, restart qemu-guest-agent, and wait "
        "until libvirt sees it answer guest-ping. Any failure puts the previous package back. Without --guest "
        "and --domain, the local testbed.")
    source = install.add_mutually_exclusive_group()
    source.add_argument("--rpm", metavar="RPM", help="the binary qemu-guest-agent RPM to install")
    source.add_argument("--run", metavar="DIR", help="run directory whose build stage made the RPM")
    source.add_argument("--resume", metavar="RUN_DIR|PENDING.json",
                        help="finish that run's install (or a rollout host's, from its hosts/<host>.pending.json) "
                        "whose outcome was unknown (a lost connection, an outlived "
                        "wait): read its status on the guest, check the agent through libvirt, roll back if it "
                        "does not answer")
    install.add_argument("--recipe", action="append", metavar="RECIPE",
                         help="with --rpm: recipes whose commands to check against the agent's configuration")
    add_guest_arguments(install)
    add_stock_argument(install, "the guest as it is")
    add_installer_arguments(install)
    install.add_argument("--previous-rpm", metavar="RPM",
                         help="RPM of the package installed now, for the rollback (default: the copy qganb kept "
                         "when it installed that package, else downloaded on the guest with dnf/yum)")
    install.add_argument("--check", action="store_true",
                         help="run every pre-check (connection, host key, root or sudo, the agent through libvirt, "
                         "configuration, an RPM to roll back to, downgrade) and change nothing")
    install.add_argument("--reinstall", action="store_true",
                         help="install even when the guest already runs this very build (default: unchanged)")
    install.add_argument("--record", metavar="FILE",
                         help="also write the install's record (NEVRAs before and after, phase times) to FILE as JSON")
    install.set_defaults(handler=_install)
