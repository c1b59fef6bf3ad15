"""The install stage: put the patched qemu-guest-agent RPM on a guest over SSH and make sure its
agent answers through libvirt afterwards, or put the previous package back.

Nothing on the guest changes until every check has passed: the SSH connection (host key verified),
root or `sudo -n`, the libvirt domain and its agent answering, the installed package and an RPM
of it to roll back to, the agent's configuration and SELinux. The transaction itself then runs on
the guest, detached from SSH (guest_scripts/install-transaction.sh), so a lost connection cannot
stop it half-way; it ends with the new package and an active service, or with the previous
package restored. Last, libvirt must see the new agent answer guest-ping, else it is rolled back.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qganb import paths
from qganb.agent_config import AgentConfig, Blocked, parse_unit
from qganb.digests import sha256_of
from qganb.errors import QganbError
from qganb.process import output_of
from qganb.run_dir import RunDir
from qganb.ssh import ConnectionLost, SshClient, SshError
from qganb.verify import DEFAULT_URI, AgentNotConnected, agent_command, wait_for_agent

AGENT_PACKAGE = "qemu-guest-agent"
SCRIPT = Path(__file__).resolve().parent / "guest_scripts" / "install-transaction.sh"
POLL_SECONDS = 5  # how long one poll waits on the guest for the transaction's status
NEVRA_FORMAT = "%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\n"
HEADER_DIGEST = "%{SHA1HEADER}\n"  # tells two builds with one NEVRA apart; rpm 4.11 (EL7) has it too
# The booleans that decide what a confined qemu-ga (virt_qemu_ga_t) may do beyond its defaults.
AGENT_BOOLEANS = ("virt_qemu_ga_read_nonsecurity_files", "virt_qemu_ga_run_unconfined", "virt_qemu_ga_manage_ssh")
INSTALLERS = ("auto", "rpm", "dnf", "yum")

Say = Callable[[str], None]


class InstallError(QganbError):
    pass


class PreviousPackageUnavailable(InstallError):
    pass


class InstallRolledBack(InstallError):
    """The new package failed; the previous one is back and its agent answers."""

    def __init__(self, problem: str, fix: str, log_tail: list[str]) -> None:
        self.tail = log_tail
        super().__init__(problem, fix)

    def details(self) -> str:
        return "\n".join([f"last {len(self.tail)} lines of the guest's install log:", *(f"  {t}" for t in self.tail)])


class RollbackFailed(InstallRolledBack):
    """Even the previous package could not be brought back: the operator must act."""


@dataclass
class InstallOptions:
    installer: str = "auto"  # rpm, dnf, yum, or auto: dnf, else yum, else rpm
    extra_flags: list[str] = field(default_factory=list)  # e.g. ["--nodeps"]
    # The installed package's RPM for the rollback. Else: one qganb installed before (kept in its
    # cache by NEVRA), else downloaded on the guest by dnf/yum.
    previous_rpm: Path | None = None
    unblock: bool = False  # rewrite the agent's configuration line that blocks a new command
    service: str = "qemu-guest-agent"
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
class SelinuxReport:
    mode: str  # Enforcing, Permissive, Disabled, or absent
    booleans: dict[str, str] = field(default_factory=dict)  # name -> on/off/unknown
    needed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.mode in ("absent", "Disabled"):
            return [f"SELinux: {self.mode.lower()} on the guest; no booleans apply"]
        lines = [f"SELinux: {self.mode}; " + ", ".join(f"{k}={v}" for k, v in self.booleans.items())]
        for name in self.needed:
            if self.booleans.get(name) != "on":
                lines.append(f"  a recipe needs {name}, which is {self.booleans.get(name, 'unknown')}: "
                             f"run `setsebool -P {name} on` on the guest"
                             + (" (it is logged, not denied, while Permissive)" if self.mode == "Permissive" else ""))
        return lines


@dataclass
class InstallReport:
    target: str
    domain: str
    uri: str
    previous: str | None
    installed: str
    version: str
    installer: list[str]
    blocked: list[str]
    unblocked: list[str]
    selinux: list[str]
    seconds: dict[str, float]
    log: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_rpm_field(rpm: Path, query: str) -> str:
    return output_of(["rpm", "-qp", "--nosignature", "--qf", query, rpm]).strip()


def _installed(ssh: SshClient, name: str, query: str = NEVRA_FORMAT) -> str | None:
    # As root: the rpm database is not readable by other users everywhere (Debian keeps it per user).
    done = ssh.run(["rpm", "-q", "--qf", query, name], as_root=True, check=False)
    if done.returncode == 127:
        raise InstallError(f"{ssh.target} has no `rpm` command", "install RPMs only on RPM-based guests")
    if done.returncode != 0:
        return None
    return done.stdout.strip().splitlines()[-1]


def _pick_installer(ssh: SshClient, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    for tool in ("dnf", "yum"):
        if ssh.run([tool, "--version"], check=False).returncode == 0:
            return tool
    return "rpm"


def read_agent_config(ssh: SshClient, service: str) -> AgentConfig:
    unit = ssh.run(["systemctl", "cat", service], check=False)
    if unit.returncode != 0:
        return AgentConfig(None)
    exec_start, files = parse_unit(unit.stdout)
    config = AgentConfig(exec_start)
    for path in files:
        done = ssh.run(["cat", path], as_root=True, check=False)
        if done.returncode == 0:
            config.environment_files[path] = done.stdout
    return config


def selinux_report(ssh: SshClient, needed: list[str]) -> SelinuxReport:
    done = ssh.run(["getenforce"], check=False)
    if done.returncode != 0:
        return SelinuxReport("absent")
    report = SelinuxReport(done.stdout.strip() or "unknown", needed=sorted(set(needed)))
    if report.mode in ("Enforcing", "Permissive"):
        for name in dict.fromkeys([*AGENT_BOOLEANS, *needed]):
            answer = ssh.run(["getsebool", name], check=False)
            report.booleans[name] = answer.stdout.strip().rsplit(" ", 1)[-1] if answer.succeeded else "unknown"
    return report


def _precheck_agent(domain: str, uri: str) -> None:
    try:
        agent_command(domain, "guest-ping", uri=uri, timeout=10)
    except AgentNotConnected as exc:
        raise AgentNotConnected(
            f"the agent of {domain} does not answer guest-ping before the install, so qganb could not tell "
            "whether the new one works", "bring the current agent up first (`systemctl start qemu-guest-agent` "
            "on the guest), then install") from exc


def _write_argv(path: Path, argv: list[str]) -> None:
    path.write_text("".join(word + "\n" for word in argv))


class _Transaction:
    """The guest side of one install: its state directory and the detached script in it."""

    def __init__(self, ssh: SshClient, state: str, say: Say, log_path: Path | None) -> None:
        self.ssh = ssh
        self.state = state
        self.say = say
        self.log_path = log_path
        self.offset = 0
        self.phase = ""  # the last phase seen in the log: a poll returns as soon as another starts
        self.tail: list[str] = []
        self.started = False
        self.finished = False

    def start(self, mode: str) -> None:
        self.started = True
        self.finished = False
        self.ssh.run(["sh", f"{self.state}/install-transaction.sh", mode, self.state], as_root=True)

    def _take_log(self, text: str) -> None:
        """Consume the complete lines of the log text that starts at `self.offset`."""
        complete, _, _ = text.rpartition("\n")
        if not complete:
            return
        self.offset += len((complete + "\n").encode())
        for line in complete.splitlines():
            self.tail = (self.tail + [line])[-20:]
            if self.log_path is not None:
                with self.log_path.open("a") as log:
                    log.write(line + "\n")
            if line.startswith("qganb: phase "):
                self.phase = line.removeprefix("qganb: phase ")
                self.say(f"  guest: {self.phase}")

    def wait(self, timeout: float, reconnect_timeout: float) -> str:
        """Poll until the script writes its status; ride out short connection losses.

        Each poll is one SSH round trip that waits on the guest itself (up to POLL_SECONDS), so the
        status is seen within a quarter second of being written."""
        deadline = time.monotonic() + timeout
        lost_since: float | None = None
        gone = 0
        while time.monotonic() < deadline:
            try:
                done = self.ssh.run(["sh", f"{self.state}/install-transaction.sh", "wait", self.state,
                                     str(self.offset), str(POLL_SECONDS), self.phase],
                                    as_root=True, check=False, timeout=POLL_SECONDS + 60)
                lost_since = None
                state, _, log = done.stdout.partition("\n")
                self._take_log(log)
                if state.startswith("status "):
                    self.finished = True
                    return state.removeprefix("status ").strip()
                if state == "gone" or not done.succeeded:
                    gone += 1
                    if gone >= 2:
                        raise InstallError(
                            f"the install script on {self.ssh.target} ended without a result",
                            f"see {self.state}/log on the guest, and check `rpm -q qemu-guest-agent` there")
                    time.sleep(1)
            except SshError as exc:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > reconnect_timeout:
                    raise ConnectionLost(
                        f"lost the SSH connection to {self.ssh.target} during the install ({exc.problem}); "
                        f"the transaction goes on by itself on the guest and ends with either the new package or "
                        f"the previous one, with an active agent",
                        f"when the guest is reachable again, see {self.state}/status and {self.state}/log there, "
                        "and check with `virsh qemu-agent-command DOMAIN '{\"execute\":\"guest-ping\"}'`") from exc
                time.sleep(2)
        raise InstallError(f"the install on {self.ssh.target} did not finish within {timeout:g} s",
                           f"see {self.state}/log on the guest")

    def remove(self) -> None:
        try:
            self.ssh.run(["rm", "-rf", "--", self.state], as_root=True, check=False)
        except SshError:
            pass


def install_rpm(ssh: SshClient, rpm: Path, *, domain: str, uri: str = DEFAULT_URI,
                commands: list[str] | None = None, selinux_booleans: list[str] | None = None,
                options: InstallOptions | None = None, say: Say = print,
                log_path: Path | None = None) -> InstallReport:
    """Install `rpm` on the guest behind `ssh`, whose libvirt domain is `domain` on `uri`."""
    options = options or InstallOptions()
    commands = commands or []
    seconds: dict[str, float] = {}
    started = time.monotonic()
    new_nevra = local_rpm_field(rpm, NEVRA_FORMAT)
    name = local_rpm_field(rpm, "%{NAME}")
    version = local_rpm_field(rpm, "%{VERSION}")

    say(f"connecting to {ssh.target} (host key verified)")
    ssh.check_root()
    # The checks are independent reads: they share the one multiplexed connection concurrently, as
    # each costs a round trip to the guest. Results are taken in a fixed order, so the first
    # failing check is always the same one.
    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="qganb-check") as pool:
        agent_check = pool.submit(_precheck_agent, domain, uri)
        previous_check = pool.submit(_installed, ssh, name)
        installer_check = pool.submit(_pick_installer, ssh, options.installer)
        config_check = pool.submit(read_agent_config, ssh, options.service)
        selinux_check = pool.submit(selinux_report, ssh, selinux_booleans or [])
        agent_check.result()
        previous = previous_check.result()
        installer = installer_check.result()
        config = config_check.result()
        selinux = selinux_check.result()
    say(f"guest: {'root' if not ssh.sudo else ssh.target.user + ' with sudo -n'}; installed: "
        f"{previous or 'no ' + name}; installer: {installer}")

    blocked: list[Blocked] = config.blocked(commands)
    for item in blocked:
        say("configuration: " + item.advice())
    new_config: dict[str, str] = config.unblocked_files(blocked) if options.unblock else {}
    if len(new_config) > 1:
        raise InstallError(f"the blocking lines are in {len(new_config)} files: {', '.join(new_config)}",
                           "edit them by hand, following the advice above")
    for line in selinux.lines():
        say(line)
    seconds["checks"] = time.monotonic() - started

    state = ssh.run(["mktemp", "-d", "/var/tmp/qganb-install.XXXXXX"]).stdout.strip()
    transaction = _Transaction(ssh, state, say, log_path)
    try:
        with tempfile.TemporaryDirectory(prefix="qganb-install-") as scratch:
            local = Path(scratch)
            uploads = [SCRIPT, rpm]
            same = previous == new_nevra
            rpm_flags = options.extra_flags if installer == "rpm" else []
            if installer == "rpm":
                install_argv = ["rpm", "-Uvh", *options.extra_flags, *(["--replacepkgs"] if same else []),
                                f"{state}/{rpm.name}"]
            else:
                install_argv = [installer, "-y", *options.extra_flags, "reinstall" if same else "install",
                                f"{state}/{rpm.name}"]
            if previous is None:
                restore_argv = ["rpm", "-e", *rpm_flags, name]
            else:
                previous_path = _previous_rpm(ssh, installer, name, previous, options, state, local, uploads)
                restore_argv = ["rpm", "-Uvh", "--oldpackage", "--replacepkgs", *rpm_flags, previous_path]
            _write_argv(local / "install.argv", install_argv)
            _write_argv(local / "restore.argv", restore_argv)
            (local / "service").write_text(options.service + "\n")
            uploads += [local / "install.argv", local / "restore.argv", local / "service"]
            if new_config:
                ((path, content),) = new_config.items()
                (local / "config.path").write_text(path + "\n")
                (local / "config.new").write_text(content)
                uploads += [local / "config.path", local / "config.new"]
            say(f"uploading {rpm.name} to {ssh.target}:{state}")
            upload_start = time.monotonic()
            ssh.upload(uploads, state)
            if previous is not None:
                _check_previous_on_guest(ssh, restore_argv[-1], previous)
            seconds["upload"] = time.monotonic() - upload_start

        say(f"installing: {shlex.join(install_argv)}")
        transaction_start = time.monotonic()
        transaction.start("start")
        status = transaction.wait(options.transaction_timeout, options.reconnect_timeout)
        seconds["transaction"] = time.monotonic() - transaction_start
        if status != "installed":
            _raise_for(status, transaction, previous, domain, uri, options)

        say(f"waiting for {domain}'s agent to answer guest-ping through libvirt")
        agent_start = time.monotonic()
        try:
            wait_for_agent(domain, uri=uri, timeout=options.agent_timeout)
        except AgentNotConnected:
            say("the new agent does not answer; putting the previous package back")
            transaction.start("start-restore")
            status = transaction.wait(options.transaction_timeout, options.reconnect_timeout)
            _raise_for(status, transaction, previous, domain, uri, options)
        seconds["agent"] = time.monotonic() - agent_start
        now = _installed(ssh, name, HEADER_DIGEST)
        if now != local_rpm_field(rpm, HEADER_DIGEST):
            # rpm said yes, but the database holds another build: never leave that unnoticed.
            say("the guest's rpm database does not hold the build just installed; putting the previous package back")
            transaction.start("start-restore")
            status = transaction.wait(options.transaction_timeout, options.reconnect_timeout)
            _raise_for(status.replace("agent-check", "digest-check"), transaction, previous, domain, uri, options)
        transaction.remove()
        remember_rpm(rpm)
    except (ConnectionLost, RollbackFailed):
        raise  # the transaction still runs, or the operator needs its files: leave them on the guest
    except BaseException:
        if not transaction.started or transaction.finished:
            transaction.remove()
        raise
    seconds["total"] = time.monotonic() - started
    say(f"installed {new_nevra} on {ssh.target}; {domain}'s agent answers guest-ping")
    return InstallReport(
        target=str(ssh.target), domain=domain, uri=uri, previous=previous, installed=new_nevra, version=version,
        installer=install_argv, blocked=[str(b.line) for b in blocked],
        unblocked=[str(b.line) for b in blocked if new_config],
        selinux=selinux.lines(), seconds={k: round(v, 1) for k, v in seconds.items()},
        log=str(log_path) if log_path else "")


def _previous_rpm(ssh: SshClient, installer: str, name: str, previous: str, options: InstallOptions, state: str,
                  scratch: Path, uploads: list[Path]) -> str:
    """Path on the guest of the installed package's RPM, for the rollback; fails before any change.
    It is kept apart from the new RPM: a rebuild can have the very same file name."""

    def upload_as_previous(local: Path) -> str:
        staged = scratch / f"previous-{local.name}"
        shutil.copyfile(local, staged)
        uploads.append(staged)
        return f"{state}/{staged.name}"

    if options.previous_rpm is not None:
        given = local_rpm_field(options.previous_rpm, NEVRA_FORMAT)
        if given != previous:
            raise PreviousPackageUnavailable(
                f"--previous-rpm {options.previous_rpm} is {given}, but the guest has {previous} installed",
                f"pass the RPM of {previous}")
        return upload_as_previous(options.previous_rpm)
    kept = remembered_rpm(previous)
    # Only the very build the guest runs: rebuilds can share a NEVRA.
    if kept is not None and local_rpm_field(kept, HEADER_DIGEST) == _installed(ssh, name, HEADER_DIGEST):
        return upload_as_previous(kept)
    download = {"dnf": ["dnf", "download", f"--destdir={state}/previous"],
                "yum": ["yumdownloader", f"--destdir={state}/previous"]}.get(installer)
    if download is not None:
        ssh.run(["mkdir", "-p", f"{state}/previous"])
        done = ssh.run([*download, previous], as_root=True, check=False, timeout=300)
        listed = ssh.run(["find", f"{state}/previous", "-maxdepth", "1", "-name", "*.rpm"], check=False).stdout.split()
        if done.succeeded and listed:
            return listed[0]
    raise PreviousPackageUnavailable(
        f"no RPM of the installed {previous} to roll back to"
        + (" (the guest's repositories do not offer it)" if download else " (the guest has neither dnf nor yum)"),
        "pass it with --previous-rpm PATH; the install changes nothing until it has one")


def _remembered_dir() -> Path:
    path = paths.cache_dir() / "installed-rpms"
    path.mkdir(parents=True, exist_ok=True)
    return path


def remember_rpm(rpm: Path) -> Path:
    """Keep a copy of an RPM qganb installed (or that a guest runs), named by NEVRA, so that a later
    install can roll back to it without the operator finding it again."""
    nevra = local_rpm_field(rpm, NEVRA_FORMAT)
    kept = _remembered_dir() / nevra / rpm.name
    # Rebuilds can share a NEVRA (each fresh run makes .qganb1): keep the one installed last.
    if not kept.is_file() or sha256_of(kept) != sha256_of(rpm):
        kept.parent.mkdir(parents=True, exist_ok=True)
        scratch = kept.with_name(f".{rpm.name}.partial")
        shutil.copyfile(rpm, scratch)
        os.replace(scratch, kept)
    return kept


def remembered_rpm(nevra: str) -> Path | None:
    found = sorted((_remembered_dir() / nevra).glob("*.rpm"))
    return found[0] if found else None


def _check_previous_on_guest(ssh: SshClient, path: str, previous: str) -> None:
    done = ssh.run(["rpm", "-qp", "--nosignature", "--qf", NEVRA_FORMAT, path], check=False)
    if done.stdout.strip() != previous:
        raise PreviousPackageUnavailable(f"the uploaded {path} reads as {done.stdout.strip() or 'no package'}, "
                                         f"not {previous}", "check the file passed with --previous-rpm")


def _raise_for(status: str, transaction: _Transaction, previous: str | None, domain: str, uri: str,
               options: InstallOptions) -> None:
    outcome, _, step = status.partition(" ")
    what = {"install": "installing the package failed", "configure": "changing the agent's configuration failed",
            "restart": "the new agent did not stay active after the restart",
            "agent-check": f"the new agent did not answer guest-ping through libvirt within {options.agent_timeout:g} s",
            "digest-check": "rpm reported success, but the guest's database holds another build with the same NEVRA"
            }.get(step, f"step {step} failed")
    tail = transaction.tail
    if outcome == "restored":
        answers = True
        try:
            wait_for_agent(domain, uri=uri, timeout=options.agent_timeout)
        except AgentNotConnected:
            answers = False
        back = f"the previous package {previous} is back" if previous else "the new package was removed"
        raise InstallRolledBack(
            f"{what}; {back}" + ("; its agent answers guest-ping" if answers else
                                 "; but its agent does not answer guest-ping yet"),
            "read the guest's install log below" + (f" (all of it: {transaction.log_path})" if transaction.log_path else ""),
            tail)
    raise RollbackFailed(
        f"{what}, and putting {previous or 'nothing'} back failed too ({status})",
        f"on the guest, read {transaction.state}/log, then reinstall the previous package by hand "
        f"(`rpm -Uvh --oldpackage --replacepkgs ...`) and `systemctl restart {options.service}`", tail)


def agent_rpm_of(packages: list[dict[str, str]], name: str = AGENT_PACKAGE) -> Path:
    """The binary RPM named `name` among what the build stage recorded."""
    for package in packages:
        path = Path(package["path"])
        if not path.name.endswith(".src.rpm") and local_rpm_field(path, "%{NAME}") == name:
            return path
    raise InstallError(f"the build stage made no {name} binary RPM (it made: "
                       f"{', '.join(Path(p['path']).name for p in packages) or 'nothing'})",
                       "check the spec's package names, then run the build stage again")


def install_stage(run_dir: RunDir, ssh: SshClient, *, domain: str, uri: str = DEFAULT_URI,
                  options: InstallOptions | None = None, say: Say = print) -> InstallReport:
    """Install the build stage's agent RPM with the edit stage's recipes; record it in the manifest."""
    from qganb.recipe import load_recipes

    rpm = agent_rpm_of(run_dir.stage("build")["packages"])
    recipes = load_recipes([Path(p) for p in run_dir.stage("edit")["recipes"]])
    log = run_dir.log("install")
    log.write_text("")
    report = install_rpm(ssh, rpm, domain=domain, uri=uri, commands=[r.command for r in recipes],
                         selinux_booleans=[b for r in recipes for b in r.model.selinux_booleans],
                         options=options, say=say, log_path=log)
    run_dir.record("install", report.as_dict())
    return report
