"""`qganb package`, `qganb spec add-patch` and `qganb run`: the packaging stages, a spec edit on its
own, and the whole pipeline as notebooks."""

from __future__ import annotations

import argparse
from typing import Any

from qganb.cli.common import (
    add_guest_arguments,
    add_stock_argument,
    add_installer_arguments,
    say,
    stderr_line,
)
from qganb.errors import UsageError


def _parse_parameter(text: str) -> tuple[str, object]:
    import json

    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise UsageError(f"-p {text!r} is not NAME=VALUE", "write e.g. -p changelog='Add watchdog command'")
    try:
        return name, json.loads(value)  # lists, booleans and numbers as JSON; anything else is a string
    except ValueError:
        return name, value


# The rollout's own parameters (notebook 09-rollout): they mean something only with an inventory.
ROLLOUT_ONLY = ("serial", "max_fail_percentage", "forks", "check", "limit", "reinstall", "rpms")


def run_values(args: argparse.Namespace) -> dict[str, object]:
    """The notebook parameters of `qganb run`: its options, then any -p NAME=VALUE."""
    from qganb.fleet.rollout import RolloutOptions

    values: dict[str, object] = dict(_parse_parameter(p) for p in args.parameter or [])
    inventory = args.inventory or values.get("inventory") or ""
    if not inventory:
        alone = [f"--{n.replace('_', '-')}" for n in ROLLOUT_ONLY if getattr(args, n, None) is not None]
        alone += [f"-p {n}" for n in ROLLOUT_ONLY if n in values]
        if alone:
            raise UsageError(f"{alone[0]} needs --inventory: without one, the run installs on one guest",
                             "add --inventory INVENTORY for a fleet rollout, or drop " + alone[0])
    rollout = RolloutOptions()

    def rollout_value(name: str, default: object) -> object:  # the option when given, else -p, else the default
        given = getattr(args, name, None)
        return given if given is not None else values.get(name, default)

    values.update({
        "srpm": args.srpm or "", "sha256": args.sha256 or "", "insecure": args.insecure,
        "changelog": values.get("changelog", ""),
        "recipes": list(args.recipe) if args.recipe else None,
        "guest": args.guest or "", "domain": args.domain or "", "connect": args.connect,
        "identity": args.identity or "", "known_hosts": args.known_hosts or "",
        "installer": args.installer, "flags": args.flag or [], "unblock": args.unblock,
        "allow_downgrade": args.allow_downgrade, "stock": args.stock or "",
        "inventory": inventory, "serial": rollout_value("serial", rollout.serial),
        "max_fail_percentage": rollout_value("max_fail_percentage", rollout.max_fail_percentage),
        "forks": rollout_value("forks", rollout.forks), "check": rollout_value("check", rollout.check),
        "limit": rollout_value("limit", rollout.limit or ""),
        "reinstall": rollout_value("reinstall", rollout.install.reinstall),
        "rpms": values.get("rpms", []),
    })
    return values


def _run(args: argparse.Namespace) -> int:
    from qganb.notebook.runner import RunRequest, start_run

    given = {_parse_parameter(p)[0] for p in args.parameter or []}
    request = RunRequest(run_values(args), given, args.run or "", args.from_stage, args.until_stage or "",
                         install_builddeps=args.install_builddeps)
    result = start_run(request, say=say, on_line=(lambda line: say("      " + line)) if not args.quiet else None)
    print("summary: " + ", ".join(f"{s} {t:.0f} s" for s, t in result.timings.items()))
    if result.verification is not None:
        cases = result.verification.cases
        print(f"verification: {'passed' if result.verification.passed else 'FAILED'} "
              f"({sum(bool(c['passed']) for c in cases)}/{len(cases)} cases)")
    if result.rollout is not None:
        print(f"rollout: {result.rollout.summary} (hosts: {result.rollout.report})")
    print(f"report: {result.report}")
    return 0


def _package(args: argparse.Namespace) -> int:
    from qganb.stages.pipeline import run_packaging
    from qganb.stages.run_dir import RunDir

    run_dir = RunDir(args.run) if args.run else RunDir.create()
    print(f"run directory: {run_dir.path}", flush=True)
    packages = run_packaging(args.srpm, args.recipe, run_dir, sha256=args.sha256, insecure=args.insecure,
                             nodeps=True if args.nodeps else None,
                             install_builddeps=args.install_builddeps,
                             on_line=stderr_line if args.verbose else None,
                             say=say)
    return 0 if packages else 1


def _spec_add_patch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qganb.rpm.spec_edit import add_patch_to_spec

    result = add_patch_to_spec(Path(args.spec), Path(args.patch).name, args.command or [Path(args.patch).stem],
                               args.changelog)
    if not result.changed:
        print(f"{args.spec} already carries {Path(args.patch).name} as Patch{result.patch_number}; nothing changed")
    else:
        print(result.diff, end="")
    return 0


def add_builddeps_argument(parser: Any) -> None:
    parser.add_argument("--install-builddeps", action="store_true",
                        help="install the spec's missing BuildRequires before prep and build: the mapped Debian "
                        "packages with apt-get on Debian, dnf builddep (yum-builddep) on EL/Fedora; needs root or "
                        "passwordless sudo. Without it they are only listed, with the command to run")


def add_packaging_commands(commands: Any) -> None:
    package = commands.add_parser(
        "package", help="fetch, prep, edit, diff, spec and build: a patched qemu-guest-agent RPM from a src.rpm",
        description="Run the packaging stages on one run directory (runs/<id>/ by default): fetch the src.rpm, "
        "rpm -i + rpmbuild -bp, commit a git baseline, apply the recipes, write the patch, add it to the spec, "
        "rpmbuild -bb and -bs.")
    package.add_argument("--srpm", required=True, metavar="URL|PATH", help="http(s) URL, file: URL or path")
    package.add_argument("--recipe", required=True, action="append", metavar="RECIPE", help="recipe YAML (repeatable)")
    package.add_argument("--sha256", help="expected sha256 of the src.rpm")
    package.add_argument("--insecure", action="store_true",
                         help="take a downloaded src.rpm with neither --sha256 nor a signature from a key rpm knows "
                         "(its %%prep runs on this host); local paths never need it")
    package.add_argument("--run", metavar="DIR", help="run directory (re-running a stage there is idempotent)")
    package.add_argument("--nodeps", action="store_true",
                         help="skip the BuildRequires check (the default on Debian, whose rpm database is empty)")
    add_builddeps_argument(package)
    package.add_argument("-v", "--verbose", action="store_true", help="stream rpmbuild's output to stderr")
    package.set_defaults(handler=_package)

    spec = commands.add_parser("spec", help="edit an RPM spec")
    spec_commands = spec.add_subparsers(dest="spec_command", metavar="SPEC_COMMAND", required=True)
    add_patch = spec_commands.add_parser(
        "add-patch", help="add a patch numbered above every other and applied last; bump Release; changelog",
        description="Add PATCH to SPEC: a Patch tag numbered above every existing one, a %%patch -P N -p1 line "
        "after the last %%patch line (nothing for %%autosetup/%%autopatch specs), Release bumped with a "
        ".qganbN suffix, and a %%changelog entry. Every other byte stays as it was.")
    add_patch.add_argument("spec", metavar="SPEC")
    add_patch.add_argument("patch", metavar="PATCH", help="the patch file (its name goes into the spec)")
    add_patch.add_argument("--changelog", metavar="TEXT", help="changelog text (default names the commands)")
    add_patch.add_argument("--command", action="append", metavar="NAME", help="command the patch adds (repeatable)")
    add_patch.set_defaults(handler=_spec_add_patch)


def add_run_command(commands: Any) -> None:
    from qganb.cli.fleet_commands import add_rollout_arguments
    from qganb.stages.table import STAGE_NAMES

    run = commands.add_parser(
        "run", help="run the stage notebooks headless with papermill: src.rpm to a verified guest, or a fleet",
        description="Execute notebooks/01-fetch ... 08-verify with papermill into one run directory "
        "(runs/<id>/), streaming each stage's output. With --inventory, 09-rollout (the build to every host of "
        "an Ansible inventory, canary first) runs after 06-build instead of 07-install and 08-verify. Stops at "
        "the first failing cell; --from resumes there. Writes report.html. Without --srpm, --guest and --domain: "
        "the local testbed.")
    run.add_argument("--recipe", action="append", metavar="RECIPE", help="recipe YAML (repeatable)")
    run.add_argument("--srpm", metavar="URL|PATH", help="the src.rpm (default: the testbed fixture)")
    run.add_argument("--sha256", help="expected sha256 of the src.rpm")
    run.add_argument("--insecure", action="store_true",
                     help="take a downloaded src.rpm with neither --sha256 nor a signature from a key rpm knows "
                     "(its %%prep runs on this host); local paths never need it")
    add_guest_arguments(run)
    add_stock_argument(run, "the run's own src.rpm, so the install is an upgrade from its stock build, as in production")
    add_installer_arguments(run)
    add_builddeps_argument(run)
    run.add_argument("--run", metavar="DIR", help="run directory (default: a new runs/<id>/)")
    run.add_argument("--from", dest="from_stage", default=STAGE_NAMES[0], metavar="STAGE",
                     help=f"first stage ({', '.join(STAGE_NAMES)}); resumes a run in --run DIR")
    run.add_argument("--until", dest="until_stage", metavar="STAGE",
                     help="last stage (default: verify, or rollout with --inventory)")
    run.add_argument("--inventory", metavar="INVENTORY",
                     help="Ansible inventory (INI or YAML): after the build, roll out to its hosts instead of "
                     "installing on one guest; the options below need it")
    add_rollout_arguments(run)
    run.add_argument("--check", action="store_true",
                     help="with --inventory: run every pre-check on every host and change nothing (Ansible's check "
                     "mode)")
    run.add_argument("--reinstall", action="store_true",
                     help="with --inventory: install even on hosts that already run this very build (default: "
                     "unchanged)")
    # None when not given: a rollout option without --inventory is refused, not ignored.
    run.set_defaults(serial=None, max_fail_percentage=None, forks=None, limit=None, check=None, reinstall=None)
    run.add_argument("-p", "--parameter", action="append", metavar="NAME=VALUE",
                     help="another notebook parameter, e.g. -p changelog=TEXT (JSON values allowed)")
    run.add_argument("-q", "--quiet", action="store_true", help="do not stream the stages' output")
    run.set_defaults(handler=_run)
