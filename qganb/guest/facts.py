"""What is true on a guest before an install, read over SSH and changing nothing: the installed
package, the installer, the agent's unit and configuration, SELinux. Each fact is one small
function (as testinfra's modules are); `gather_facts` asks them all at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from qganb.errors import InstallError
from qganb.guest.agent_config import AgentConfig, parse_unit
from qganb.guest.shell import GuestShell
from qganb.rpm.query import (
    HEADER_DIGEST_QUERY,
    NEVRA_QUERY,
    Nevra,
    installed_query_argv,
)

INSTALL_LOCK = "/run/qganb-install.lock"  # kept in step with install-transaction.sh
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


def _rpm_query(ssh: GuestShell, name: str, query_format: str) -> str | None:
    # As root: the rpm database is not readable by other users everywhere (Debian keeps it per user).
    done = ssh.run(installed_query_argv(name, query_format), as_root=True, check=False)
    if done.returncode == 127:
        raise InstallError(f"{ssh.target} has no `rpm` command", "install RPMs only on RPM-based guests")
    if done.returncode != 0:
        return None
    return done.stdout.strip().splitlines()[-1]


def installed_package(ssh: GuestShell, name: str) -> Nevra | None:
    line = _rpm_query(ssh, name, NEVRA_QUERY)
    return Nevra.parse_query(line, origin=f"guest {ssh.target}") if line is not None else None


def installed_build(ssh: GuestShell, name: str) -> tuple[Nevra | None, str | None]:
    """The installed package and its header digest, in one query (each rpm start costs ~0.4 s on a
    small emulated guest)."""
    line = _rpm_query(ssh, name, NEVRA_QUERY.removesuffix("\n") + "\t" + HEADER_DIGEST_QUERY)
    if line is None:
        return None, None
    nevra, _, digest = line.rpartition("\t")
    return Nevra.parse_query(nevra, origin=f"guest {ssh.target}"), digest.strip() or None


def installed_header_digest(ssh: GuestShell, name: str) -> str | None:
    """Tells the build the guest runs apart from another with the same NEVRA."""
    return _rpm_query(ssh, name, HEADER_DIGEST_QUERY)


def running_install(ssh: GuestShell) -> str | None:
    """The state directory of an install transaction that holds the guest's lock, if one does."""
    done = ssh.run(["readlink", INSTALL_LOCK], as_root=True, check=False)
    holder = done.stdout.strip()
    if done.returncode != 0 or not holder:
        return None
    alive = ssh.run(["test", "-d", holder], as_root=True, check=False).returncode == 0
    return holder if alive else None  # a lock whose state is gone is stale: the next install takes it


def installer(ssh: GuestShell, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    for tool in ("dnf", "yum"):
        if ssh.run([tool, "--version"], check=False).returncode == 0:
            return tool
    return "rpm"


def agent_config(ssh: GuestShell, service: str) -> AgentConfig:
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


def selinux(ssh: GuestShell, needed: list[str]) -> SelinuxReport:
    done = ssh.run(["getenforce"], check=False)
    if done.returncode != 0:
        return SelinuxReport("absent")
    report = SelinuxReport(done.stdout.strip() or "unknown", needed=sorted(set(needed)))
    if report.mode in ("Enforcing", "Permissive"):
        for name in dict.fromkeys([*AGENT_BOOLEANS, *needed]):
            answer = ssh.run(["getsebool", name], check=False)
            report.booleans[name] = answer.stdout.strip().rsplit(" ", 1)[-1] if answer.succeeded else "unknown"
    return report


def gather_facts(ssh: GuestShell, *, package: str, wanted_installer: str, service: str,
                 selinux_booleans: list[str]) -> GuestFacts:
    """Every fact at once. They are independent reads sharing the one multiplexed connection, each
    a round trip to the guest; results are taken in a fixed order, so the first failing read is
    always the same one."""
    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="qganb-facts") as pool:
        running = pool.submit(running_install, ssh)
        installed = pool.submit(installed_build, ssh, package)
        chosen = pool.submit(installer, ssh, wanted_installer)
        config = pool.submit(agent_config, ssh, service)
        context = pool.submit(selinux, ssh, selinux_booleans)
        nevra, digest = installed.result()
        return GuestFacts(nevra, chosen.result(), config.result(), context.result(), installed_digest=digest,
                          install_running=running.result())
