"""The install stage: put the patched qemu-guest-agent RPM on a guest over SSH and make sure its
agent answers through libvirt afterwards, or put the previous package back.

Three steps, each apart: gather the guest's facts (qganb.guest.facts) while libvirt checks that
the current agent answers; make a plan (the install and restore commands, an RPM to roll back to,
a configuration change) that fails before anything on the guest changes; run the plan as the
guest-side transaction (qganb.guest.transaction), detached from SSH, which ends with the new
package and an active service or with the previous package restored. Last, libvirt must see the
new agent answer guest-ping, else it is rolled back.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn

from qganb.agent.transport import DEFAULT_URI, wait_for_agent
from qganb.agent.virsh import VirshAgent
from qganb.errors import (
    AgentError,
    AgentNotConnected,
    ConnectionLost,
    DowngradeRefused,
    InstallError,
    InstallLocked,
    InstallOutcomeUnknown,
    InstallRolledBack,
    NothingToResume,
    PreviousPackageUnavailable,
    RollbackFailed,
)
from qganb.guest.agent_config import Blocked
from qganb.guest.facts import (
    GuestFacts,
    gather_facts,
)
from qganb.guest.shell import GuestShell, remove_tree
from qganb.guest.transaction import SCRIPT, GuestTransaction, write_argv
from qganb.process import LineSink
from qganb.rpm.kept_packages import keep_rpm, kept_rpm
from qganb.rpm.query import (
    HEADER_DIGEST_QUERY,
    NEVRA_QUERY,
    Nevra,
    file_query_argv,
    header_digest_of,
    installed_query_argv,
    nevra_of,
    query_file,
)
from qganb.rpm.rpmbuild import BuiltPackage
from qganb.stages.records import BuildRecord, EditRecord, InstallRecord
from qganb.stages.run_dir import RunDir

AGENT_PACKAGE = "qemu-guest-agent"
INSTALLERS = ("auto", "rpm", "dnf", "yum")


@dataclass
class InstallOptions:
    installer: str = "auto"  # rpm, dnf, yum, or auto: dnf, else yum, else rpm
    extra_flags: list[str] = field(default_factory=list)  # e.g. ["--nodeps"]
    # The installed package's RPM for the rollback. Else: one of `known_rpms`, else one qganb
    # installed before (kept in its cache by NEVRA), else downloaded on the guest by dnf/yum.
    previous_rpm: Path | None = None
    known_rpms: list[Path] = field(default_factory=list)  # RPMs the guest may run (the testbed's stock one)
    # More of them, asked for only when neither `known_rpms` nor qganb's kept copy is the running build
    # (finding the testbed's stock RPM resolves its source: a cost most installs need not pay).
    more_known_rpms: Callable[[], list[Path]] | None = None
    unblock: bool = False  # rewrite the agent's configuration line that blocks a new command
    allow_downgrade: bool = False  # install over a newer package (rpm --oldpackage, dnf/yum downgrade)
    service: str = "qemu-guest-agent"
    reinstall: bool = False  # run the transaction even when the guest already runs this very build
    agent_timeout: float = 120.0  # restart to guest-ping through libvirt; its reconnect can take ~60 s
    transaction_timeout: float = 600.0
    reconnect_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.installer not in INSTALLERS:
            raise InstallError(f"installer {self.installer!r} is not one of {', '.join(INSTALLERS)}",
                               "pick rpm, dnf, yum or auto")
        for flag in self.extra_flags:
            if not flag.startswith("-") or "\n" in flag:
                raise InstallError(f"installer flag {flag!r} is not an option",
                                   "pass options such as --nodeps, one per --flag")


@dataclass
class PendingInstall:
    """A transaction whose outcome is still open: what `qganb install --resume` needs to finish it."""

    target: str
    domain: str
    uri: str
    state: str  # its directory on the guest
    package: str  # the NEVRA being installed
    name: str
    version: str
    header_digest: str  # of that very build
    previous: str | None
    installer: list[str]
    service: str

    def save(self, path: Path) -> None:
        scratch = path.with_name(f".{path.name}.partial")
        scratch.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(scratch, path)

    @classmethod
    def load(cls, path: Path) -> PendingInstall:
        if not path.is_file():
            raise NothingToResume(f"{path.parent} has no unfinished install (no {path.name})",
                                  "there is nothing to resume: every install there either finished or rolled back")
        return cls(**json.loads(path.read_text()))


@dataclass
class InstallPlan:
    """Everything the guest-side transaction needs, decided before anything on the guest changes."""

    rpm: Path
    package: Nevra
    previous: Nevra | None
    state: str  # the transaction's directory on the guest
    install_argv: list[str]
    restore_argv: list[str]
    blocked: list[Blocked]
    new_config: dict[str, str]  # the one EnvironmentFile rewritten to unblock the commands, if asked
    uploads: list[Path] = field(default_factory=list)


def _check_agent_answers(agent: VirshAgent) -> None:
    try:
        agent.execute("guest-ping", timeout=10)
    except AgentNotConnected as exc:
        raise AgentNotConnected(
            f"the agent of {agent.domain} does not answer guest-ping before the install, so qganb could not tell "
            "whether the new one works", "bring the current agent up first (`systemctl start qemu-guest-agent` "
            "on the guest), then install") from exc


def _installer_argv(installer: str, flags: list[str], same: bool, older: bool, path: str) -> list[str]:
    if installer == "rpm":
        return ["rpm", "-Uvh", *flags, *(["--replacepkgs"] if same else []), *(["--oldpackage"] if older else []),
                path]
    verb = "reinstall" if same else "downgrade" if older else "install"
    return [installer, "-y", *flags, verb, path]


def is_downgrade(installed: Nevra, new: Nevra) -> bool:
    """rpm's own version comparison: is the installed package newer than the one to install?"""
    import rpm  # the system's rpm bindings, as specfile uses them

    def label(n: Nevra) -> tuple[str, str, str]:
        return (n.epoch or "0", n.version, n.release)

    return int(rpm.labelCompare(label(installed), label(new))) > 0


def plan_install(ssh: GuestShell, rpm: Path, facts: GuestFacts, options: InstallOptions, blocked: list[Blocked],
                 state: str, scratch: Path) -> InstallPlan:
    """The commands, files and rollback RPM of this install; PreviousPackageUnavailable, a refused
    downgrade or an InstallError when the guest could not be put back, before anything changed."""
    package = nevra_of(rpm)
    previous = facts.installed
    older = previous is not None and is_downgrade(previous, package)
    if older and not options.allow_downgrade:
        raise DowngradeRefused(
            f"{ssh.target} runs {previous}, which is newer than {package}; installing it would be a downgrade",
            "rebuild from the guest's own src.rpm, or pass --allow-downgrade to install it anyway "
            "(rpm --oldpackage, dnf/yum downgrade)")
    new_config = facts.config.unblocked_files(blocked) if options.unblock else {}
    if len(new_config) > 1:
        raise InstallError(f"the blocking lines are in {len(new_config)} files: {', '.join(new_config)}",
                           "edit them by hand, following the advice above")
    rpm_flags = options.extra_flags if facts.installer == "rpm" else []
    install_argv = _installer_argv(facts.installer, options.extra_flags, str(previous) == str(package), older,
                                   f"{state}/{rpm.name}")
    plan = InstallPlan(rpm, package, previous, state, install_argv, [], blocked, new_config, [SCRIPT, rpm])
    if previous is None:
        plan.restore_argv = ["rpm", "-e", *rpm_flags, package.name]
        (scratch / "no-previous").write_text("")  # the restore only removes the new package
        plan.uploads.append(scratch / "no-previous")
    else:
        previous_path, uploaded = _previous_rpm(ssh, facts.installer, facts.installed_digest, str(previous), options, state,
                                      scratch, plan.uploads)
        plan.restore_argv = ["rpm", "-Uvh", "--oldpackage", "--replacepkgs", *rpm_flags, previous_path]
        if uploaded is not None:
            # `start` checks on the guest, with its own rpm, that the upload reads as the installed
            # package (by NEVRA, as the operator's file was checked here).
            query = NEVRA_QUERY.rstrip("\n")
            write_argv(scratch / "previous.argv", file_query_argv(previous_path, query))
            (scratch / "previous.expect").write_text(query_file(uploaded, query).rstrip("\n") + "\n")
            plan.uploads += [scratch / "previous.argv", scratch / "previous.expect"]
    write_argv(scratch / "install.argv", plan.install_argv)
    write_argv(scratch / "restore.argv", plan.restore_argv)
    write_argv(scratch / "digest.argv", installed_query_argv(package.name, HEADER_DIGEST_QUERY.rstrip("\n")))
    (scratch / "service").write_text(options.service + "\n")
    plan.uploads += [scratch / "install.argv", scratch / "restore.argv", scratch / "digest.argv", scratch / "service"]
    if new_config:
        ((path, content),) = new_config.items()
        (scratch / "config.path").write_text(path + "\n")
        (scratch / "config.new").write_text(content)
        plan.uploads += [scratch / "config.path", scratch / "config.new"]
    return plan


@dataclass(frozen=True)
class InstallCheck:
    """What an install would do on one guest, found by every pre-check with nothing changed."""

    target: str
    domain: str
    before: str | None  # the package installed now
    package: str  # the build to install
    action: str  # install, upgrade, reinstall, downgrade or unchanged
    installer: list[str]  # the command the transaction would run
    rollback: str  # where the previous package would come from
    blocked: list[str]
    selinux: list[str]


STATE_TEMPLATE = "/var/tmp/qganb-install.XXXXXX"


def _prepare(ssh: GuestShell, agent: VirshAgent, package: Nevra, options: InstallOptions, commands: list[str],
             selinux_booleans: list[str], say: LineSink, state_template: str | None = None
             ) -> tuple[GuestFacts, list[Blocked]]:
    """The pre-checks before anything changes: connection and host key, root or sudo, no other
    install running, the current agent answering through libvirt, the guest's facts. With
    `state_template`, the install's state directory is made in the same session (facts.state); a
    failed check removes it again."""
    say(f"connecting to {ssh.target} (host key verified)")
    facts = _facts_after_agent_check(ssh, agent, package.name, options, selinux_booleans, state_template)
    say(f"guest: {'root' if not ssh.sudo else ssh.target.user + ' with sudo -n'}; installed: "
        f"{facts.installed or 'no ' + package.name}; installer: {facts.installer}")
    blocked = facts.config.blocked(commands)
    for item in blocked:
        say("configuration: " + item.advice())
    for line in facts.selinux.lines():
        say(line)
    return facts, blocked


def _runs_this_build(ssh: GuestShell, rpm: Path, package: Nevra, facts: GuestFacts, blocked: list[Blocked],
                     options: InstallOptions) -> bool:
    """The guest already runs this very build (same NEVRA and header digest) and nothing asked of
    its configuration is left to do: an install would change nothing."""
    if options.reinstall or facts.installed is None or str(facts.installed) != str(package):
        return False
    if options.unblock and blocked:
        return False
    return facts.installed_digest == header_digest_of(rpm)


def _action(previous: Nevra | None, package: Nevra) -> str:
    if previous is None:
        return "install"
    if str(previous) == str(package):
        return "reinstall"
    return "downgrade" if is_downgrade(previous, package) else "upgrade"


def check_install(ssh: GuestShell, rpm: Path, *, domain: str, uri: str = DEFAULT_URI,
                  commands: list[str] | None = None, selinux_booleans: list[str] | None = None,
                  options: InstallOptions | None = None, say: LineSink = print) -> InstallCheck:
    """Every pre-check of `install_rpm`, changing nothing: a refused downgrade, a missing RPM to
    roll back to, a silent agent or a second install raise as they would there. A `dnf download`
    of the previous package goes to a scratch directory on the guest that is removed again."""
    options = options or InstallOptions()
    commands = commands or []
    agent = VirshAgent(domain, uri=uri)
    package = nevra_of(rpm)
    facts, blocked = _prepare(ssh, agent, package, options, commands, selinux_booleans or [], say)

    def checked(action: str, installer: list[str], rollback: str) -> InstallCheck:
        return InstallCheck(str(ssh.target), domain, str(facts.installed) if facts.installed else None, str(package),
                            action, installer, rollback, [str(b.line) for b in blocked], facts.selinux.lines())

    if _runs_this_build(ssh, rpm, package, facts, blocked, options):
        say(f"unchanged: {ssh.target} already runs this very build of {package}")
        return checked("unchanged", [], "")
    state = ssh.run(["mktemp", "-d", "/var/tmp/qganb-check.XXXXXX"]).stdout.strip()
    try:
        with tempfile.TemporaryDirectory(prefix="qganb-check-") as scratch:
            plan = plan_install(ssh, rpm, facts, options, blocked, state, Path(scratch))
    finally:
        remove_tree(ssh, state)
    if plan.previous is None:
        rollback = f"rpm -e {package.name} (nothing was installed before)"
    elif plan.restore_argv[-1].startswith(f"{state}/previous/"):
        rollback = f"{plan.previous}, downloaded on the guest by {facts.installer}"
    else:
        rollback = f"{plan.previous}, uploaded from this host"
    action = _action(plan.previous, package)
    say(f"would {action}: {shlex.join(plan.install_argv).replace(state, '<state>')}; rollback to: {rollback}")
    return checked(action, [w.replace(state, "<state>") for w in plan.install_argv], rollback)


def install_rpm(ssh: GuestShell, rpm: Path, *, domain: str, uri: str = DEFAULT_URI,
                commands: list[str] | None = None, selinux_booleans: list[str] | None = None,
                options: InstallOptions | None = None, say: LineSink = print,
                log_path: Path | None = None, pending_path: Path | None = None) -> InstallRecord:
    """Install `rpm` on the guest behind `ssh`, whose libvirt domain is `domain` on `uri`. A guest
    that already runs this very build, its agent answering, is left untouched (outcome "unchanged").

    `pending_path`: where to note the transaction while its outcome is open, for `--resume`."""
    options = options or InstallOptions()
    commands = commands or []
    seconds: dict[str, float] = {}
    started = time.monotonic()
    agent = VirshAgent(domain, uri=uri)
    package = nevra_of(rpm)
    # The probe makes the transaction's state directory: one round trip less. Until the
    # transaction starts, the `finally` below removes it again, whatever happens.
    facts, blocked = _prepare(ssh, agent, package, options, commands, selinux_booleans or [], say,
                              state_template=STATE_TEMPLATE)
    assert facts.state is not None
    state = facts.state
    transaction = GuestTransaction(ssh, state, say, log_path)
    try:
        if _runs_this_build(ssh, rpm, package, facts, blocked, options):
            say(f"unchanged: {ssh.target} already runs this very build of {package}, and {domain}'s agent answers "
                "guest-ping")
            return InstallRecord(
                target=str(ssh.target), domain=domain, uri=uri, previous=str(package), installed=str(package),
                version=package.version, installer=[], blocked=[str(b.line) for b in blocked], unblocked=[],
                selinux=facts.selinux.lines(), seconds={"total": round(time.monotonic() - started, 1)},
                log=str(log_path) if log_path else "", outcome="unchanged")
        with tempfile.TemporaryDirectory(prefix="qganb-install-") as scratch:
            plan = plan_install(ssh, rpm, facts, options, blocked, state, Path(scratch))
            seconds["checks"] = time.monotonic() - started
            say(f"uploading {rpm.name} to {ssh.target}:{state}")
            upload_start = time.monotonic()
            ssh.upload(plan.uploads, state)
            transaction.uploaded = True
            seconds["upload"] = time.monotonic() - upload_start
        pending = PendingInstall(str(ssh.target), domain, uri, state, str(package), package.name, package.version,
                                 header_digest_of(rpm), str(plan.previous) if plan.previous else None,
                                 plan.install_argv, options.service)
        with _sigterm_as_interrupt():
            _run_transaction(plan, transaction, agent, ssh, options, say, seconds, pending, pending_path)
    finally:
        if transaction.settled:
            transaction.remove()
            if pending_path is not None:
                pending_path.unlink(missing_ok=True)
    keep_rpm(rpm)
    seconds["total"] = time.monotonic() - started
    say(f"installed {package} on {ssh.target}; {domain}'s agent answers guest-ping")
    return InstallRecord(
        target=str(ssh.target), domain=domain, uri=uri, previous=str(facts.installed) if facts.installed else None,
        installed=str(package), version=package.version, installer=plan.install_argv,
        blocked=[str(b.line) for b in plan.blocked], unblocked=[str(b.line) for b in plan.blocked if plan.new_config],
        selinux=facts.selinux.lines(), seconds={k: round(v, 1) for k, v in seconds.items()},
        log=str(log_path) if log_path else "")


def _facts_after_agent_check(ssh: GuestShell, agent: VirshAgent, package: str, options: InstallOptions,
                             selinux_booleans: list[str], state_template: str | None = None) -> GuestFacts:
    """The guest's facts, read while libvirt checks that the current agent answers. Another install
    holding the guest's lock is reported first (its restart may be why the agent is silent, and what
    was read in its middle means nothing); then a silent agent, the first thing an operator must fix."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qganb-agent-check") as pool:
        agent_check = pool.submit(_check_agent_answers, agent)
        try:
            facts = gather_facts(ssh, package=package, wanted_installer=options.installer, service=options.service,
                                 selinux_booleans=selinux_booleans, learn_user=True, state_template=state_template)
        except BaseException:
            agent_check.result()
            raise
        try:
            _refuse_while_installing(ssh, facts)
            agent_check.result()
        except BaseException:
            if facts.state is not None:
                remove_tree(ssh, facts.state)
            raise
    return facts


def _refuse_while_installing(ssh: GuestShell, facts: GuestFacts) -> None:
    if facts.install_running is not None:
        holder = facts.install_running
        # The guest-side script takes the lock atomically when a transaction starts: this is the
        # early, readable refusal.
        raise InstallLocked(
            f"another qganb install is running on {ssh.target} (its state: {holder})",
            "wait until it ends; if its qganb was interrupted, finish it with `qganb install --resume RUN_DIR`, "
            f"or read {holder}/log on the guest and remove {holder} there")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`) ends the wait like Ctrl-C: an exception the transaction
    handles by putting the previous package back, instead of an exit that leaves it unchecked."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_transaction(plan: InstallPlan, transaction: GuestTransaction, agent: VirshAgent, ssh: GuestShell,
                     options: InstallOptions, say: LineSink, seconds: dict[str, float], pending: PendingInstall,
                     pending_path: Path | None) -> None:
    """Install on the guest, then require libvirt's guest-ping and the very build in the rpm
    database; from "installed" on, any failure (an interrupt included) starts the restore."""
    say(f"installing: {shlex.join(plan.install_argv)}")
    transaction_start = time.monotonic()
    if pending_path is not None:
        pending.save(pending_path)
    transaction.start(str(plan.previous) if plan.previous else None)
    try:
        status = transaction.wait(options.transaction_timeout, options.reconnect_timeout)
    except KeyboardInterrupt as interrupt:
        # The guest side goes on by itself: wait for its end, then undo it if it installed.
        say("interrupted: waiting for the guest's transaction to end, then putting the previous package back")
        status = transaction.wait(options.transaction_timeout, options.reconnect_timeout)
        if status == "installed":
            _restore(transaction, agent, options, pending, say, "host-interrupted", interrupt)
        _raise_for(status, transaction, pending.previous, agent, options)
    seconds["transaction"] = time.monotonic() - transaction_start
    if status != "installed":
        _raise_for(status, transaction, pending.previous, agent, options)
    agent_start = time.monotonic()
    check_new_agent(transaction, agent, ssh, options, pending, say)
    seconds["agent"] = time.monotonic() - agent_start


class _DigestMismatch(Exception):
    pass


class _Unstable(Exception):
    """The agent libvirt saw answer was not the process the restart started a second before."""


def check_new_agent(transaction: GuestTransaction, agent: VirshAgent, ssh: GuestShell, options: InstallOptions,
                    pending: PendingInstall, say: LineSink) -> None:
    """The new agent must answer guest-ping through libvirt and the guest's rpm database must hold
    the very build installed; any failure, of any kind, puts the previous package back. Without a
    connection to the guest nothing can be put back: the transaction stays pending for `--resume`."""
    try:
        say(f"waiting for {agent.domain}'s agent to answer guest-ping through libvirt")
        wait_for_agent(agent, timeout=options.agent_timeout)
        # A script from before `confirm` checked the digest logged it; the script now checks it in
        # `confirm`, within the stability window it waits for anyway.
        if transaction.installed_digest is not None and transaction.installed_digest != pending.header_digest:
            raise _DigestMismatch()
        problem = transaction.confirm(pending.header_digest)
        if problem is not None:
            kind, seen = problem
            raise _DigestMismatch() if kind == "digest" else _Unstable(seen)
    except (ConnectionLost, InstallOutcomeUnknown):
        raise
    except BaseException as exc:  # noqa: BLE001  every failure here must roll back, Ctrl-C included
        step = ("digest-check" if isinstance(exc, _DigestMismatch) else
                "restart" if isinstance(exc, _Unstable) else
                "agent-check" if isinstance(exc, AgentNotConnected) else
                "host-interrupted" if isinstance(exc, KeyboardInterrupt) else "check-error")
        _restore(transaction, agent, options, pending, say, step, exc)
    transaction.settled = True


def _restore(transaction: GuestTransaction, agent: VirshAgent, options: InstallOptions, pending: PendingInstall,
             say: LineSink, step: str, cause: BaseException) -> None:
    why = {"digest-check": "the guest's rpm database does not hold the build just installed",
           "agent-check": "the new agent does not answer",
           "restart": f"the new agent did not stay the process the restart started ({cause})",
           "host-interrupted": "qganb was interrupted before libvirt had checked the new agent"}.get(
               step, f"checking the new agent failed ({type(cause).__name__}: {cause})")
    say(f"{why}; putting the previous package back")
    transaction.start_restore(step)
    status = transaction.wait(options.transaction_timeout, options.reconnect_timeout)
    _raise_for(status, transaction, pending.previous, agent, options, cause)


def _previous_rpm(ssh: GuestShell, installer: str, running: str | None, previous: str, options: InstallOptions, state: str,
                  scratch: Path, uploads: list[Path]) -> tuple[str, Path | None]:
    """Path on the guest of the installed package's RPM, for the rollback, and the local file
    uploaded there when the guest must check that its rpm reads it as the installed package (None:
    no need); fails before any change. It is kept apart from the new RPM: a rebuild can have the
    very same file name."""

    def upload_as_previous(local: Path, check_on_guest: bool) -> tuple[str, Path | None]:
        staged = scratch / f"previous-{local.name}"
        shutil.copyfile(local, staged)
        uploads.append(staged)
        return f"{state}/{staged.name}", staged if check_on_guest else None

    if options.previous_rpm is not None:
        given = str(nevra_of(options.previous_rpm))
        if given != previous:
            raise PreviousPackageUnavailable(
                f"--previous-rpm {options.previous_rpm} is {given}, but the guest has {previous} installed",
                f"pass the RPM of {previous}")
        # The operator's file: the guest's own rpm must read it as the installed package.
        return upload_as_previous(options.previous_rpm, True)
    # Only the very build the guest runs: rebuilds can share a NEVRA.
    def candidates() -> Iterator[Path]:
        yield from (p for p in options.known_rpms if str(nevra_of(p)) == previous)
        if (kept := kept_rpm(previous)) is not None:
            yield kept
        if options.more_known_rpms is not None:
            yield from (p for p in options.more_known_rpms() if str(nevra_of(p)) == previous)

    for candidate in candidates():
        if header_digest_of(candidate) == running:
            # The very header the guest's rpm database holds, so its rpm reads the file: no check there.
            return upload_as_previous(keep_rpm(candidate), False)
    download = {"dnf": ["dnf", "download", f"--destdir={state}/previous"],
                "yum": ["yumdownloader", f"--destdir={state}/previous"]}.get(installer)
    fix = ("pass it with --previous-rpm PATH (`qganb rollout`: --known-rpm PATH); the install changes nothing "
           "until it has one")
    if download is None:
        raise PreviousPackageUnavailable(f"no RPM of the installed {previous} to roll back to "
                                         "(the guest has neither dnf nor yum)", fix)
    ssh.run(["mkdir", "-p", f"{state}/previous"])
    done = ssh.run([*download, previous], as_root=True, check=False, timeout=300)
    listed = ssh.run(["find", f"{state}/previous", "-maxdepth", "1", "-name", "*.rpm"], check=False).stdout.split()
    if not done.succeeded or not listed:
        said = _download_error(done.stderr + "\n" + done.stdout)
        if "No such command" in said or done.returncode == 127:
            fix += " (or install dnf-plugins-core, yum-utils on EL7, on the guest)"
        raise PreviousPackageUnavailable(
            f"no RPM of the installed {previous} to roll back to (`{' '.join(download[:-1])} {previous}` on the "
            f"guest: {said})", fix)
    # A repository can hold another build with the same NEVRA: only the very build the guest runs will do.
    digest = ssh.run(file_query_argv(listed[0], HEADER_DIGEST_QUERY), check=False).stdout.strip()
    if digest != running:
        raise PreviousPackageUnavailable(
            f"the guest's repositories offer {previous}, but another build of it than the one installed "
            f"(header digest {digest or 'unreadable'}, installed {running})",
            "pass the very RPM installed with --previous-rpm PATH, or publish it to the guest's repository")
    return listed[0], None


def _download_error(text: str) -> str:
    """The line of dnf/yumdownloader's output that says why nothing was downloaded."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("Error:", "No such command", "No Match")) or "command not found" in line:
            return line
    return lines[-1] if lines else "no message"


def _raise_for(status: str, transaction: GuestTransaction, previous: str | None, agent: VirshAgent,
               options: InstallOptions, cause: BaseException | None = None) -> NoReturn:
    outcome, _, step = status.partition(" ")
    what = {"install": "installing the package failed", "configure": "changing the agent's configuration failed",
            "restart": "the new agent did not stay active after the restart",
            "agent-check": f"the new agent did not answer guest-ping through libvirt within {options.agent_timeout:g} s",
            "digest-check": "rpm reported success, but the guest's database holds another build with the same NEVRA",
            "host-interrupted": "qganb was interrupted before libvirt had checked the new agent",
            "check-error": f"checking the new agent failed ({type(cause).__name__}: {cause})",
            }.get(step, f"step {step} failed")
    tail = transaction.tail
    fix = "read the guest's install log below" + (f" (all of it: {transaction.log_path})" if transaction.log_path else "")
    if outcome == "removed":
        answers = _answers(agent, options)
        error = InstallRolledBack(
            f"{what}; the new package was removed, so the guest has no {options.service} package, as before the "
            "install, and no agent unit is left to run; "
            + ("an agent not from an RPM answers guest-ping" if answers else "no agent answers guest-ping"), fix, tail)
    elif outcome == "restored":
        answers = _answers(agent, options)
        back = (f"the previous package {previous} is back" if previous else
                "the new package was removed and the agent from before (not from an RPM) was restarted")
        error = InstallRolledBack(
            f"{what}; {back}" + ("; its agent answers guest-ping" if answers else
                                 "; but its agent does not answer guest-ping yet"), fix, tail)
    else:
        error = RollbackFailed(
            f"{what}, and putting {previous or 'nothing'} back failed too ({status})",
            f"on the guest, read {transaction.state}/log, then reinstall the previous package by hand "
            f"(`rpm -Uvh --oldpackage --replacepkgs ...`) and `systemctl restart {options.service}`", tail)
    raise error from cause


def resume_install(ssh: GuestShell, pending: PendingInstall, *, options: InstallOptions | None = None,
                   say: LineSink = print, log_path: Path | None = None, pending_path: Path | None = None
                   ) -> InstallRecord:
    """Finish a transaction whose outcome was unknown (a lost connection, an outlived wait): read
    its guest-side status, waiting while it runs; then libvirt must see the agent answer, else the
    previous package goes back, exactly as in `install_rpm`."""
    options = options or InstallOptions(service=pending.service)
    started = time.monotonic()
    agent = VirshAgent(pending.domain, uri=pending.uri)
    ssh.check_root()
    if ssh.run(["test", "-d", pending.state], as_root=True, check=False).returncode != 0:
        raise NothingToResume(f"{pending.state} is not on {ssh.target}: another guest, or the transaction was "
                              f"removed by hand (it ran on {pending.target})",
                              "connect to the guest it ran on; check its agent with `qganb verify`")
    transaction = GuestTransaction(ssh, pending.state, say, log_path)
    transaction.started, transaction.settled, transaction.uploaded = True, False, True
    say(f"resuming the install on {ssh.target} ({pending.state})")
    try:
        with _sigterm_as_interrupt():
            status = transaction.wait(options.transaction_timeout, options.reconnect_timeout)
            if status != "installed":
                _raise_for(status, transaction, pending.previous, agent, options)
            check_new_agent(transaction, agent, ssh, options, pending, say)
    finally:
        if transaction.settled:
            transaction.remove()
            if pending_path is not None:
                pending_path.unlink(missing_ok=True)
    say(f"installed {pending.package} on {ssh.target}; {pending.domain}'s agent answers guest-ping")
    return InstallRecord(
        target=str(ssh.target), domain=pending.domain, uri=pending.uri, previous=pending.previous,
        installed=pending.package, version=pending.version, installer=pending.installer,
        blocked=[], unblocked=[], selinux=[], seconds={"total": round(time.monotonic() - started, 1)},
        log=str(log_path) if log_path else "")


def _answers(agent: VirshAgent, options: InstallOptions) -> bool:
    """Whether the guest's agent answers guest-ping through libvirt now (after a restore)."""
    try:
        wait_for_agent(agent, timeout=options.agent_timeout)
        return True
    except AgentError:
        return False


def agent_rpm_of(packages: list[BuiltPackage], name: str = AGENT_PACKAGE) -> Path:
    """The binary RPM named `name` among what the build stage recorded."""
    for package in packages:
        if not package.path.name.endswith(".src.rpm") and nevra_of(package.path).name == name:
            return package.path
    raise InstallError(f"the build stage made no {name} binary RPM (it made: "
                       f"{', '.join(p.path.name for p in packages) or 'nothing'})",
                       "check the spec's package names, then run the build stage again")


def run(run_dir: RunDir, ssh: GuestShell, *, domain: str, uri: str = DEFAULT_URI,
        options: InstallOptions | None = None, say: LineSink = print, resume: bool = False) -> InstallRecord:
    """The install stage: the build stage's agent RPM, checked against the edit stage's recipes. With
    `resume`, it finishes the run's unfinished install instead (see resume_install)."""
    from qganb.recipes.model import load_recipes

    pending_path = run_dir.path / "install-pending.json"
    log = run_dir.log("install")
    if resume:
        pending = PendingInstall.load(pending_path)
        if pending.domain != domain:
            raise InstallError(f"the unfinished install was checked through domain {pending.domain}, not {domain}",
                               f"resume with --domain {pending.domain}")
        record = resume_install(ssh, pending, options=options, say=say, log_path=log, pending_path=pending_path)
    else:
        rpm = agent_rpm_of(run_dir.load(BuildRecord).packages)
        recipes = load_recipes([Path(p) for p in run_dir.load(EditRecord).recipes])
        log.write_text("")
        record = install_rpm(ssh, rpm, domain=domain, uri=uri, commands=[r.command for r in recipes],
                             selinux_booleans=[b for r in recipes for b in r.model.selinux_booleans],
                             options=options, say=say, log_path=log, pending_path=pending_path)
    run_dir.record(record)
    return record
