"""What is true on a guest before an install, read over SSH and changing nothing: the installed
package, the installer, the agent's unit and configuration, SELinux, another install running.
`gather_facts` reads them all in one session (facts-probe.sh) and parses each read apart; the
single reads (`installed_package`, `installer`) serve the other callers."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from qganb.errors import InstallError
from qganb.guest.agent_config import AgentConfig, parse_unit
from qganb.guest.shell import GuestShell, learn_root, remove_tree
from qganb.rpm.query import (
    HEADER_DIGEST_QUERY,
    NEVRA_QUERY,
    Nevra,
    installed_query_argv,
)

INSTALL_LOCK = "/run/qganb-install.lock"  # kept in step with install-transaction.sh
PROBE = Path(__file__).with_name("facts-probe.sh")
# The booleans that decide what a confined qemu-ga (virt_qemu_ga_t) may do beyond its defaults.
AGENT_BOOLEANS = ("virt_qemu_ga_read_nonsecurity_files", "virt_qemu_ga_run_unconfined", "virt_qemu_ga_manage_ssh")


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
class GuestFacts:
    installed: Nevra | None  # the package as the guest's rpm database has it, or None
    installer: str  # dnf, yum or rpm
    config: AgentConfig
    selinux: SelinuxReport
    installed_digest: str | None = None  # its header digest: tells it from another build with the same NEVRA
    install_running: str | None = None  # the state directory of an install holding the guest's lock
    state: str | None = None  # the install's state directory, when the probe was asked to make it


def _rpm_answer(ssh: GuestShell, returncode: int, stdout: str) -> str | None:
    if returncode == 127:
        raise InstallError(f"{ssh.target} has no `rpm` command", "install RPMs only on RPM-based guests")
    if returncode != 0 or not stdout.strip():
        return None
    return stdout.strip().splitlines()[-1]


def _rpm_query(ssh: GuestShell, name: str, query_format: str) -> str | None:
    # As root: the rpm database is not readable by other users everywhere (Debian keeps it per user).
    done = ssh.run(installed_query_argv(name, query_format), as_root=True, check=False)
    return _rpm_answer(ssh, done.returncode, done.stdout)


def installed_package(ssh: GuestShell, name: str) -> Nevra | None:
    line = _rpm_query(ssh, name, NEVRA_QUERY)
    return Nevra.parse_query(line, origin=f"guest {ssh.target}") if line is not None else None


def installed_header_digest(ssh: GuestShell, name: str) -> str | None:
    """Tells the build the guest runs apart from another with the same NEVRA."""
    return _rpm_query(ssh, name, HEADER_DIGEST_QUERY)


def installer(ssh: GuestShell, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    for tool in ("dnf", "yum"):
        if ssh.run([tool, "--version"], check=False).returncode == 0:
            return tool
    return "rpm"


def _agent_config(ssh: GuestShell, unit: Answer, answers: dict[str, Answer]) -> AgentConfig:
    if unit.returncode != 0:
        return AgentConfig(None)
    exec_start, files = parse_unit(unit.stdout)
    config = AgentConfig(exec_start)
    for path in files:
        read = answers.get(f"env:{path}")
        if read is not None:  # the probe read it (base64: every byte kept)
            if read.returncode == 0:
                config.environment_files[path] = base64.b64decode(read.stdout).decode("utf-8", "replace")
            continue
        # A file the probe's simple reading of the unit missed (a continued or indented line).
        done = ssh.run(["cat", path], as_root=True, check=False)
        if done.returncode == 0:
            config.environment_files[path] = done.stdout
    return config


def _selinux(answers: dict[str, Answer], booleans: list[str], needed: list[str]) -> SelinuxReport:
    mode = answers.get("getenforce", Answer(127, ""))
    if mode.returncode != 0:
        return SelinuxReport("absent")
    report = SelinuxReport(mode.stdout.strip() or "unknown", needed=sorted(set(needed)))
    if report.mode in ("Enforcing", "Permissive"):
        for name in booleans:
            answer = answers.get(f"getsebool:{name}", Answer(1, ""))
            report.booleans[name] = answer.stdout.strip().rsplit(" ", 1)[-1] if answer.returncode == 0 else "unknown"
    return report


@dataclass(frozen=True)
class Answer:
    """One read of the probe: its exit code and what it printed."""

    returncode: int
    stdout: str


FACT_MARK = "@@qganb-fact "
STATE_ARG = 6  # where the state template is in the probe's argv


def parse_probe(text: str) -> dict[str, Answer]:
    """The sections of facts-probe.sh's output, by name."""
    answers: dict[str, Answer] = {}
    name = ""
    for line in text.splitlines(keepends=True):
        if line.startswith(FACT_MARK):
            name, _, code = line[len(FACT_MARK):].strip().rpartition(" ")
            answers[name] = Answer(int(code), "")
        elif name:
            answers[name] = Answer(answers[name].returncode, answers[name].stdout + line)
    return answers


def gather_facts(ssh: GuestShell, *, package: str, wanted_installer: str, service: str,
                 selinux_booleans: list[str], learn_user: bool = False,
                 state_template: str | None = None) -> GuestFacts:
    """Every fact, read by facts-probe.sh in one session as root, then the agent's EnvironmentFiles
    that its unit names.

    `learn_user`: the connection's first session; the probe also learns whether it is root, which
    saves `check_root`'s round trip. When it is not, `sudo -n` is checked as `check_root` does and
    the probe runs again through it. `state_template`: the probe also makes the install's state
    directory (mktemp -d), returned as `state`."""
    booleans = list(dict.fromkeys([*AGENT_BOOLEANS, *selinux_booleans]))
    query = installed_query_argv(package, NEVRA_QUERY.removesuffix("\n") + "\t" + HEADER_DIGEST_QUERY)
    argv = ["sh", "-s", "--", INSTALL_LOCK, service, wanted_installer, state_template or "-", str(len(booleans)),
            *booleans, *query]
    assert argv[STATE_ARG] == (state_template or "-")
    probe = PROBE.read_text(encoding="utf-8")
    done = ssh.run(argv, as_root=not learn_user, check=False, input_text=probe)
    answers = parse_probe(done.stdout)
    made = answers.get("state")
    if learn_user and "uid" in answers:
        if answers["uid"].stdout.strip() == "0":
            ssh.sudo = False
        else:
            try:
                learn_root(ssh)  # sudo -n, or SudoUnavailable
            except BaseException:
                if made is not None and made.returncode == 0 and made.stdout.strip().startswith("/"):
                    remove_tree(ssh, made.stdout.strip(), as_root=False)
                raise
            argv[STATE_ARG] = "-"  # made already, by the connecting user
            done = ssh.run(argv, as_root=True, check=False, input_text=probe)
            answers = parse_probe(done.stdout)
            if made is not None:
                answers["state"] = made
    if done.returncode != 0 or "rpm" not in answers:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise InstallError(f"reading the facts of {ssh.target} failed (exit {done.returncode}): "
                           f"{lines[-1] if lines else 'no message'}",
                           "check that the guest has a POSIX `sh` and that the connection stays up")
    line = _rpm_answer(ssh, answers["rpm"].returncode, answers["rpm"].stdout)
    nevra, digest = None, None
    if line is not None:
        text, _, found = line.rpartition("\t")
        nevra, digest = Nevra.parse_query(text, origin=f"guest {ssh.target}"), found.strip() or None
    holder = answers.get("lock", Answer(1, "")).stdout.strip()
    # A lock whose state directory is gone is stale: the next install takes it.
    running = holder if holder and answers.get("lock-alive", Answer(1, "")).returncode == 0 else None
    chosen = answers.get("installer", Answer(0, "rpm")).stdout.strip() or "rpm"
    state = None
    if state_template is not None:
        made = answers.get("state", Answer(1, ""))
        if made.returncode != 0 or not made.stdout.strip().startswith("/"):
            raise InstallError(f"making a directory from {state_template} on {ssh.target} failed",
                               f"check free space and permissions in {state_template.rsplit('/', 1)[0]} on the guest")
        state = made.stdout.strip()
    try:
        config = _agent_config(ssh, answers.get("unit", Answer(1, "")), answers)
    except BaseException:
        if state is not None:
            remove_tree(ssh, state)
        raise
    return GuestFacts(nevra, chosen, config, _selinux(answers, booleans, selinux_booleans), installed_digest=digest,
                      install_running=running, state=state)
