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


def _testbed_tree(args: argparse.Namespace) -> int:
    from qganb.testbed.source_tree import unpacked_tree

    print(unpacked_tree(args.qemu, refresh=args.refresh))
    return 0


def _testbed_up(args: argparse.Namespace) -> int:
    from qganb.testbed import guest

    timings = guest.up(on_line=_stderr_line if args.verbose else None)
    image = guest.current_image()
    if timings["boot"] == 0.0:
        print(f"{guest.DOMAIN} is already running and its agent answers guest-ping")
    else:
        how = "reused" if timings["image"] < 5 else f"built in {timings['image']:.0f} s"
        print(f"{guest.DOMAIN}: agent answers guest-ping {timings['boot']:.1f} s after start "
              f"(sshd {timings['ssh']:.1f} s); image {image.directory.name} ({how})")
    print(f"ssh: qganb testbed ssh   (port {guest.ssh_port()} on 127.0.0.1, host key pinned in {guest.known_hosts_path()})")
    return 0


def _testbed_status(args: argparse.Namespace) -> int:
    from qganb.testbed import guest, libvirt_host

    libvirt_host.ensure_daemons()
    state = libvirt_host.domain_state(guest.DOMAIN) or "not defined"
    answering = state == "running" and libvirt_host.agent_ping(guest.DOMAIN)
    print(f"{guest.DOMAIN}: {state}; agent {'answers guest-ping' if answering else 'not answering'}")
    return 0 if answering else 1


def _testbed_ssh(args: argparse.Namespace) -> int:
    import os

    from qganb.testbed import guest

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    argv = guest.ssh_argv(guest.current_image(), command or None)
    os.execvp(argv[0], argv)


def _testbed_down(args: argparse.Namespace) -> int:
    from qganb.testbed import guest

    guest.down()
    print(f"{guest.DOMAIN} stopped; nothing of it is running")
    return 0


def _guest(args: argparse.Namespace):  # -> GuestChoice
    from qganb.guest_target import choose_guest

    return choose_guest(args.guest or "", args.domain or "", uri=args.connect, identity=args.identity or "",
                        known_hosts=args.known_hosts or "")


def _install(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qganb.install import InstallOptions, install_rpm, install_stage
    from qganb.run_dir import RunDir

    choice = _guest(args)
    ssh, domain = choice.ssh, choice.domain
    if ssh is None:
        raise QganbError("install needs --guest [user@]host[:port] to reach the guest over SSH", "add --guest")
    options = InstallOptions(installer=args.installer, extra_flags=choice.install_flags + (args.flag or []),
                             previous_rpm=Path(args.previous_rpm) if args.previous_rpm else None,
                             unblock=args.unblock)
    say = lambda line: print(line, flush=True)  # noqa: E731
    with ssh:
        if args.rpm:
            from qganb.recipe import load_recipes

            recipes = load_recipes(args.recipe or [])
            report = install_rpm(ssh, Path(args.rpm), domain=domain, uri=args.connect,
                                 commands=[r.command for r in recipes],
                                 selinux_booleans=[b for r in recipes for b in r.model.selinux_booleans],
                                 options=options, say=say)
        else:
            if not args.run:
                raise QganbError("install needs an RPM: --rpm PATH, or --run DIR of a run whose build stage ran",
                                 "add --rpm or --run")
            report = install_stage(RunDir(args.run), ssh, domain=domain, uri=args.connect, options=options, say=say)
    print(f"{report.installed} runs on {report.target} (was {report.previous or 'not installed'}); "
          f"{report.seconds.get('total', 0):.0f} s")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qganb.recipe import load_recipes
    from qganb.run_dir import RunDir
    from qganb.verify import verify_on_guest

    record_path = None
    expect_version = None
    recipe_paths = list(args.recipes)
    if args.run:
        run_dir = RunDir(args.run)
        record_path = run_dir.path / "verification.json"
        if run_dir.has_stage("install"):
            expect_version = run_dir.stage("install")["version"]
        if not recipe_paths and run_dir.has_stage("edit"):
            recipe_paths = run_dir.stage("edit")["recipes"]
    if not recipe_paths:
        raise QganbError("no recipes to verify", "name recipe files, or --run DIR of a run whose edit stage ran")
    choice = _guest(args)
    ssh, domain = choice.ssh, choice.domain
    try:
        record = verify_on_guest(domain, load_recipes(recipe_paths), uri=args.connect, record_path=record_path,
                                 ssh=ssh, expect_version=expect_version)
    finally:
        if ssh is not None:
            ssh.close()
    args.domain = domain
    print(f"{args.domain}: qemu-ga {record.agent_version}; "
          + ", ".join(f"{c} {'enabled' if e else 'disabled'}" for c, e in record.commands.items()))
    for case in record.cases:
        print(("PASS" if case["passed"] else "FAIL") + f"  {case['command']}: {case['case']}"
              + (" (+ guest-check)" if case.get("guest_check") and case["passed"] else "")
              + ("" if case["passed"] else f"\n      expected: {case['expected']}\n      got:      {case['got']}"
                 + (f"\n      why:      {case['problem']}" if case.get("problem") else "")))
    if record_path is not None:
        print(f"record: {Path(record_path)}")
    return 0 if record.passed else 1


def _parse_parameter(text: str) -> tuple[str, object]:
    import json

    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise QganbError(f"-p {text!r} is not NAME=VALUE", "write e.g. -p changelog='Add watchdog command'")
    try:
        return name, json.loads(value)  # lists, booleans and numbers as JSON; anything else is a string
    except ValueError:
        return name, value


def _absolute_if_local(value: str | None) -> str:
    """Paths given on the command line, made absolute: the notebooks run with notebooks/ as cwd."""
    from pathlib import Path

    if value and Path(value).exists():
        return str(Path(value).resolve())
    return value or ""


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qganb.run_dir import STAGES, RunDir
    from qganb.runner import plan_run, run_stages

    values: dict[str, object] = dict(_parse_parameter(p) for p in args.parameter or [])
    given = set(values)
    values.update({
        "srpm": _absolute_if_local(args.srpm), "sha256": args.sha256 or "", "changelog": values.get("changelog", ""),
        "recipes": [str(Path(r).resolve()) for r in args.recipe] if args.recipe else None,
        "guest": args.guest or "", "domain": args.domain or "", "connect": args.connect,
        "identity": _absolute_if_local(args.identity), "known_hosts": _absolute_if_local(args.known_hosts),
        "installer": args.installer, "flags": args.flag or [], "unblock": args.unblock,
    })
    existing = RunDir(args.run) if args.run and Path(args.run).is_dir() else None
    if values["recipes"] is None:
        if args.from_stage != STAGES[0] and existing is not None and existing.has_stage("edit"):
            values["recipes"] = existing.stage("edit")["recipes"]
        else:
            raise QganbError("qganb run needs at least one --recipe", "add --recipe recipes/NAME.yaml")
    values["run_dir"] = ""
    plan_run(values, given=given, from_stage=args.from_stage, until_stage=args.until_stage)  # checks first
    # Only a run whose parameters are right gets a directory.
    run_dir = existing or (RunDir(args.run) if args.run else RunDir.create())
    values["run_dir"] = str(run_dir.path)
    plan = plan_run(values, given=given, from_stage=args.from_stage, until_stage=args.until_stage)
    print(f"run directory: {run_dir.path}", flush=True)
    result = run_stages(plan, run_dir, say=lambda line: print(line, flush=True),
                        on_line=(lambda line: print("      " + line, flush=True)) if not args.quiet else None)
    print("summary: " + ", ".join(f"{s} {t:.0f} s" for s, t in result.timings.items()))
    if (run_dir.path / "verification.json").is_file() and "verify" in plan.stages:
        import json

        record = json.loads((run_dir.path / "verification.json").read_text())
        print(f"verification: {'passed' if record['passed'] else 'FAILED'} "
              f"({sum(c['passed'] for c in record['cases'])}/{len(record['cases'])} cases)")
    print(f"report: {result.report}")
    return 0


def _recipe_apply(args: argparse.Namespace) -> int:
    from qganb.edit import apply_recipes
    from qganb.recipe import load_recipes

    plan = apply_recipes(args.source, load_recipes(args.recipes))
    changed = plan.changed
    if not changed:
        print(f"{plan.tree.root}: already applied, nothing changed")
    for rel in changed:
        print(f"updated {rel}")
    for applied in plan.applied:
        print(f"{applied.recipe.command}: {applied.prototype.declaration}")
    return 0


def _recipe_validate(args: argparse.Namespace) -> int:
    from qganb.tree_mirror import TreeListing

    # Listing the tree's ~19 000 files runs while the recipe models are imported and parsed.
    listing = TreeListing(args.source)
    from qganb.recipe import load_recipes
    from qganb.validate import validate_recipes

    recipes = load_recipes(args.recipes)
    report = validate_recipes(args.source, recipes, on_line=_stderr_line if args.verbose else None,
                              listing=listing)
    print(report.summary())
    return 0 if report.passed else 1


def _recipe_verify_rpm(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qganb.recipe import load_recipes
    from qganb.validate import verify_rpm

    results = verify_rpm(Path(args.rpm), load_recipes(args.recipes))
    for result in results:
        print(result.line())
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _recipe_preview(args: argparse.Namespace) -> int:
    from qganb.preview import preview_recipes
    from qganb.recipe import load_recipes

    print(preview_recipes(args.source, load_recipes(args.recipes)).as_text())
    return 0


def _package(args: argparse.Namespace) -> int:
    from qganb.pipeline import run_packaging
    from qganb.run_dir import RunDir

    run_dir = RunDir(args.run) if args.run else RunDir.create()
    print(f"run directory: {run_dir.path}", flush=True)
    packages = run_packaging(args.srpm, args.recipe, run_dir, sha256=args.sha256,
                             nodeps=True if args.nodeps else None,
                             on_line=_stderr_line if args.verbose else None,
                             say=lambda line: print(line, flush=True))
    return 0 if packages else 1


def _spec_add_patch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qganb.spec import add_patch_to_spec

    result = add_patch_to_spec(Path(args.spec), Path(args.patch).name, args.command or [Path(args.patch).stem],
                               args.changelog)
    if not result.changed:
        print(f"{args.spec} already carries {Path(args.patch).name} as Patch{result.patch_number}; nothing changed")
    else:
        print(result.diff, end="")
    return 0


def _guest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--guest", metavar="[USER@]HOST[:PORT]", help="the guest over SSH (default: the testbed)")
    parser.add_argument("--domain", help="its libvirt domain (default: the testbed's)")
    parser.add_argument("--connect", default="qemu:///system", metavar="URI",
                        help="libvirt URI, e.g. qemu+ssh://root@hypervisor/system (default qemu:///system)")
    parser.add_argument("--identity", metavar="KEY", help="SSH private key (default: ssh's own choice)")
    parser.add_argument("--known-hosts", metavar="FILE",
                        help="known_hosts to verify the guest's host key with (default ~/.ssh/known_hosts)")


def _installer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--installer", default="auto", choices=["auto", "rpm", "dnf", "yum"],
                        help="auto: dnf, else yum, else rpm -Uvh (default auto)")
    parser.add_argument("--flag", action="append", metavar="OPTION",
                        help="extra installer option, e.g. --flag=--nodeps (repeatable)")
    parser.add_argument("--unblock", action="store_true",
                        help="rewrite the configuration line that disables a new command (shown otherwise)")


def build_parser() -> argparse.ArgumentParser:
    from qganb.testbed.catalog import STYLES, supported_series

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
    tree = testbed_commands.add_parser(
        "tree", help="unpack (or reuse) a pristine QEMU tree from the fixture sources and print its path",
        description="Unpack the QEMU source the fixtures are built from, once, into qganb's cache: a tree "
        "to preview and validate recipes on. Treat it as read-only; `recipe apply` wants a copy.")
    tree.add_argument("--qemu", required=True, metavar="VERSION", help=f"QEMU series: {', '.join(supported_series())}")
    tree.add_argument("--refresh", action="store_true", help="re-read Debian's source indexes first")
    tree.set_defaults(handler=_testbed_tree)
    up = testbed_commands.add_parser(
        "up", help="boot the test guest (a libvirt TCG domain with the stock agent), building its image once",
        description="Boot the local test guest on qemu:///system, starting virtlogd/libvirtd if needed. The image "
        "(Debian with systemd, udev, OpenSSH, rpm and the stock fixture qemu-guest-agent RPM) is built once and "
        "cached. Prints the time from start to 'agent answers guest-ping'.")
    up.add_argument("-v", "--verbose", action="store_true", help="stream debootstrap/rpmbuild output")
    up.set_defaults(handler=_testbed_up)
    status = testbed_commands.add_parser("status", help="is the test guest running, and does its agent answer?")
    status.set_defaults(handler=_testbed_status)
    ssh = testbed_commands.add_parser("ssh", help="ssh into the test guest (pinned host key, testbed key)")
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="command to run instead of a shell")
    ssh.set_defaults(handler=_testbed_ssh)
    down = testbed_commands.add_parser("down", help="stop the test guest; leaves nothing running")
    down.set_defaults(handler=_testbed_down)

    package = commands.add_parser(
        "package", help="fetch, prep, edit, diff, spec and build: a patched qemu-guest-agent RPM from a src.rpm",
        description="Run the packaging stages on one run directory (runs/<id>/ by default): fetch the src.rpm, "
        "rpm -i + rpmbuild -bp, commit a git baseline, apply the recipes, write the patch, add it to the spec, "
        "rpmbuild -bb and -bs.")
    package.add_argument("--srpm", required=True, metavar="URL|PATH", help="http(s) URL, file: URL or path")
    package.add_argument("--recipe", required=True, action="append", metavar="RECIPE", help="recipe YAML (repeatable)")
    package.add_argument("--sha256", help="expected sha256 of the src.rpm")
    package.add_argument("--run", metavar="DIR", help="run directory (re-running a stage there is idempotent)")
    package.add_argument("--nodeps", action="store_true",
                         help="skip the BuildRequires check (the default on Debian, whose rpm database is empty)")
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

    verify = commands.add_parser(
        "verify", help="check the new commands on a guest through `virsh qemu-agent-command`",
        description="guest-info must list every recipe's command as enabled; then every verify case runs through "
        "virsh. Not connected, not found (old binary), disabled (configuration) and command errors each get "
        "their own message and next step.")
    verify.add_argument("recipes", nargs="*", metavar="RECIPE", help="recipe files (default: the run's recipes)")
    _guest_arguments(verify)
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
    install.add_argument("--recipe", action="append", metavar="RECIPE",
                         help="with --rpm: recipes whose commands to check against the agent's configuration")
    _guest_arguments(install)
    _installer_arguments(install)
    install.add_argument("--previous-rpm", metavar="RPM",
                         help="RPM of the package installed now, for the rollback (default: the copy qganb kept "
                         "when it installed that package, else downloaded on the guest with dnf/yum)")
    install.set_defaults(handler=_install)

    from qganb.run_dir import STAGES

    run = commands.add_parser(
        "run", help="run the stage notebooks headless with papermill: src.rpm to a verified guest",
        description="Execute notebooks/01-fetch ... 08-verify with papermill into one run directory "
        "(runs/<id>/), streaming each stage's output. Stops at the first failing cell; --from resumes there. "
        "Writes report.html. Without --srpm, --guest and --domain: the local testbed.")
    run.add_argument("--recipe", action="append", metavar="RECIPE", help="recipe YAML (repeatable)")
    run.add_argument("--srpm", metavar="URL|PATH", help="the src.rpm (default: the testbed fixture)")
    run.add_argument("--sha256", help="expected sha256 of the src.rpm")
    _guest_arguments(run)
    _installer_arguments(run)
    run.add_argument("--run", metavar="DIR", help="run directory (default: a new runs/<id>/)")
    run.add_argument("--from", dest="from_stage", default=STAGES[0], metavar="STAGE",
                     help=f"first stage ({', '.join(STAGES)}); resumes a run in --run DIR")
    run.add_argument("--until", dest="until_stage", default=STAGES[-1], metavar="STAGE", help="last stage")
    run.add_argument("-p", "--parameter", action="append", metavar="NAME=VALUE",
                     help="another notebook parameter, e.g. -p changelog=TEXT (JSON values allowed)")
    run.add_argument("-q", "--quiet", action="store_true", help="do not stream the stages' output")
    run.set_defaults(handler=_run)

    recipe = commands.add_parser("recipe", help="apply, validate and preview recipes on a QEMU source tree",
                                 description="Recipes (recipes/*.yaml) declare new QGA commands once; these "
                                 "commands write them into a prepped QEMU tree the way its version needs.")
    recipe_commands = recipe.add_subparsers(dest="recipe_command", metavar="RECIPE_COMMAND", required=True)
    for name, handler, text in (
        ("apply", _recipe_apply, "edit the tree in place (applying again changes nothing)"),
        ("validate", _recipe_validate, "apply in a scratch copy, run the tree's QAPI generator, build qemu-ga "
         "and run every verify case against it over a unix socket"),
        ("preview", _recipe_preview, "show the schema entry, the C prototype and the diff, without writing"),
    ):
        sub = recipe_commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        sub.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe YAML file(s)")
        sub.add_argument("--source", required=True, metavar="DIR", help="the prepped QEMU source tree")
        if name == "validate":
            sub.add_argument("-v", "--verbose", action="store_true", help="stream configure/build output")
        sub.set_defaults(handler=handler)
    verify_rpm = recipe_commands.add_parser(
        "verify-rpm", help="run the recipes' verify cases against the qemu-ga inside a built binary RPM",
        description="Unpack a built qemu-guest-agent RPM with rpm2cpio, start its qemu-ga on a unix socket and "
        "run every verify case of the recipes against it: a check before the RPM goes to any guest.")
    verify_rpm.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe YAML file(s)")
    verify_rpm.add_argument("--rpm", required=True, metavar="RPM", help="the binary RPM")
    verify_rpm.set_defaults(handler=_recipe_verify_rpm)
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
        details = getattr(exc, "details", None)
        if callable(details):
            print(details(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qganb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
