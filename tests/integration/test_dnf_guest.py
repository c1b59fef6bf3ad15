"""The install stage with `--installer dnf` on the dnf testbed guest (its own libvirt domain, booted
and stopped here): Debian's dnf installs the patched build against the guest's rpm database, the
new commands answer through `virsh qemu-agent-command`, and a rollback takes the previous RPM from
`dnf download` out of the guest's own repository. Every test ends with an agent answering guest-ping."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qganb.agent.transport import wait_for_agent
from qganb.agent.virsh import VirshAgent
from qganb.errors import InstallRolledBack, PreviousPackageUnavailable
from qganb.guest.facts import installer
from qganb.guest.ssh import RemoteResult, SshClient, SshTarget
from qganb.rpm.query import NEVRA_QUERY, Nevra, nevra_of
from qganb.stages import install
from qganb.stages.install import InstallOptions, install_rpm
from qganb.stages.records import BuildRecord
from qganb.testbed import guest, libvirt_host, local_repo
from tests.conftest import wait_for_the_dnf_image
from tests.guest_faults import BROKEN_QGA, build_broken_agent_rpm, repackaged_agent_rpm

pytestmark = [pytest.mark.testbed, pytest.mark.dnf_guest, pytest.mark.fixture_build]
VARIANT = "dnf"
DOMAIN = guest.domain_name(VARIANT)
SEED_COMMANDS = ("guest-set-watchdog-timeout", "guest-get-cpu-usage-rate")


TARGET: list[SshTarget] = []  # the booted guest's, read before a test moves qganb's cache away


@pytest.fixture(scope="module")
def dnf_guest():
    """The dnf guest, booted for this module and always stopped after it."""
    wait_for_the_dnf_image()
    try:
        # TCG on two cores that other jobs share: its boot can take minutes beside them.
        timings = guest.up(variant=VARIANT, timeout=900)
        TARGET[:] = [guest.ssh_target(variant=VARIANT)]
        yield guest.current_image(VARIANT), timings
    finally:
        TARGET.clear()
        guest.down(VARIANT)


def dnf_ssh() -> SshClient:
    return SshClient(TARGET[0])


def on_dnf_guest(command: list[str], check: bool = True) -> RemoteResult:
    """`command` as root on the dnf guest, each word quoted for the guest's shell."""
    with dnf_ssh() as ssh:
        return ssh.run(command, check=check, timeout=300)


def installed_agent() -> str:
    done = on_dnf_guest(["rpm", "-q", "--qf", NEVRA_QUERY, "qemu-guest-agent"], check=False)
    return str(Nevra.parse_query(done.stdout)) if done.returncode == 0 else ""


def guest_info() -> dict:  # type: ignore[type-arg]
    done = libvirt_host.virsh("qemu-agent-command", DOMAIN, '{"execute":"guest-info"}')
    return json.loads(done.output)["return"]


def nothing_left_on_the_guest() -> bool:
    left = on_dnf_guest(["sh", "-c", "ls -d /var/tmp/qganb-install.* /run/qganb-install.lock 2>/dev/null"],
                        check=False)
    return left.stdout.strip() == ""


@contextmanager
def no_rpm_kept_on_this_host(tmp_path: Path) -> Iterator[None]:
    """qganb's cache (with the RPMs it keeps for rollbacks) moved to an empty directory, as on a
    host that never installed anything: a rollback RPM can only come from the guest's repositories."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QGANB_CACHE_DIR", str(tmp_path / "empty-cache"))
        yield


@pytest.fixture()
def stock_dnf_guest(dnf_guest):
    """The dnf guest with its stock agent (from its repository) and no install leftovers."""
    on_dnf_guest(["sh", "-c", "rm -rf /var/tmp/qganb-install.* /run/qganb-install.lock"])
    stock = guest.stock_agent_rpm()
    if installed_agent() != str(nevra_of(stock)):
        on_dnf_guest(["rpm", "-Uvh", "--oldpackage", "--replacepkgs", f"{local_repo.REPO_DIR}/{stock.name}"])
        on_dnf_guest(["systemctl", "restart", "qemu-guest-agent"])
    wait_for_agent(VirshAgent(DOMAIN), timeout=120)
    yield str(nevra_of(stock))
    assert wait_for_agent(VirshAgent(DOMAIN), timeout=120) < 120, "the guest was left without an agent"
    assert nothing_left_on_the_guest()


def dnf_options(**kwargs) -> InstallOptions:  # type: ignore[no-untyped-def]
    return InstallOptions(installer="dnf", **kwargs)  # no --nodeps: dnf resolves every requirement


def test_dnf_installed_the_stock_agent_from_the_guests_repository(stock_dnf_guest) -> None:
    info = guest_info()
    assert info["version"] == "7.2.0"
    assert not {c["name"] for c in info["supported_commands"]} & set(SEED_COMMANDS)
    # dnf itself put it there: its history has the transaction, its database resolves every requirement.
    history = re.sub(r"\s+", " ", on_dnf_guest(["dnf", "-q", "history", "info", "qemu-guest-agent"]).stdout)
    assert f"Install {stock_dnf_guest} @{local_repo.REPO_ID}" in history, history
    assert on_dnf_guest(["dnf", "-q", "check"]).stdout.strip() == ""
    providers = on_dnf_guest(["dnf", "-q", "repoquery", "--installed", "--whatprovides", "libglib-2.0.so.0()(64bit)",
                              "--qf", "%{name}"]).stdout.split()
    assert providers == ["qganb-debian-provides"]
    with dnf_ssh() as ssh:
        assert stock_dnf_guest in local_repo.published(ssh)
        assert installer(ssh, "auto") == "dnf"


def test_dnf_installs_the_patched_build_and_virsh_lists_its_commands(stock_dnf_guest, patched_run,
                                                                      tmp_path: Path) -> None:
    said: list[str] = []
    with dnf_ssh() as ssh, no_rpm_kept_on_this_host(tmp_path):
        record = install.run(patched_run, ssh, domain=DOMAIN, options=dnf_options(), say=said.append)
    assert record.previous == stock_dnf_guest and record.installed.endswith(".qganb1.x86_64")
    assert record.installer[:3] == ["dnf", "-y", "install"]
    assert f"guest: root; installed: {stock_dnf_guest}; installer: dnf" in said
    assert installed_agent() == record.installed
    history = re.sub(r"\s+", " ", on_dnf_guest(["dnf", "-q", "history", "info", "last"]).stdout)
    assert f"Upgrade {record.installed} @@commandline" in history, history
    assert on_dnf_guest(["dnf", "-q", "check"]).stdout.strip() == ""
    names = {c["name"]: c["enabled"] for c in guest_info()["supported_commands"]}
    assert all(names.get(command) is True for command in SEED_COMMANDS), names
    assert VirshAgent(DOMAIN).execute("guest-ping") == {}


def test_a_rollback_takes_the_previous_rpm_from_dnf_download(stock_dnf_guest, tmp_path: Path) -> None:
    stock = guest.stock_agent_rpm()
    broken = build_broken_agent_rpm(stock, tmp_path)
    log_path = tmp_path / "install.log"
    with dnf_ssh() as ssh, no_rpm_kept_on_this_host(tmp_path), pytest.raises(InstallRolledBack) as failure:
        install_rpm(ssh, broken, domain=DOMAIN, options=dnf_options(), say=lambda _: None, log_path=log_path)
    message = str(failure.value)
    assert "the new agent did not stay active after the restart" in message
    assert f"the previous package {stock_dnf_guest} is back; its agent answers guest-ping" in message
    log = log_path.read_text()
    # dnf put the new build in; the restore put back the RPM `dnf download` fetched into previous/.
    assert re.search(r"running: dnf -y install /var/tmp/qganb-install\.\w+/" + re.escape(broken.name), log), log
    assert re.search(r"running: rpm -Uvh --oldpackage --replacepkgs /var/tmp/qganb-install\.\w+/previous/"
                     + re.escape(stock.name), log), log
    assert installed_agent() == stock_dnf_guest
    assert VirshAgent(DOMAIN).execute("guest-ping") == {}


def test_nothing_changes_until_a_guest_repository_offers_the_very_build_running(stock_dnf_guest, patched_run,
                                                                               tmp_path: Path) -> None:
    patched = next(p.path for p in patched_run.load(BuildRecord).packages if not p.path.name.endswith(".src.rpm"))
    for workdir in ("broken", "rebuild"):
        (tmp_path / workdir).mkdir()
    broken = repackaged_agent_rpm(patched, tmp_path / "broken", release_suffix=".broken1", qemu_ga=BROKEN_QGA)
    rebuild = repackaged_agent_rpm(patched, tmp_path / "rebuild", marker="rebuilt\n")
    assert rebuild.name == patched.name  # same NEVRA, other content

    def install_broken_is_refused(why: str) -> PreviousPackageUnavailable:
        with dnf_ssh() as ssh, no_rpm_kept_on_this_host(tmp_path / why), \
                pytest.raises(PreviousPackageUnavailable) as refused:
            install_rpm(ssh, broken, domain=DOMAIN, options=dnf_options(), say=lambda _: None)
        assert installed_agent() == running and nothing_left_on_the_guest()
        return refused.value

    with dnf_ssh() as ssh, no_rpm_kept_on_this_host(tmp_path / "first"):
        running = install_rpm(ssh, patched, domain=DOMAIN, options=dnf_options(), say=lambda _: None).installed
    # The guest runs a build no repository offers, and this host kept no copy.
    refused = install_broken_is_refused("not-offered")
    assert (f"no RPM of the installed {running} to roll back to (`dnf download {running}` on the guest: "
            f"Error: No package {running} available.)") in str(refused)
    # dnf without its download plugin (dnf-plugins-core) says so, and the fix names the package.
    plugin = "/usr/lib/python3/dist-packages/dnf-plugins/download.py"
    on_dnf_guest(["mv", plugin, f"{plugin}.aside"])
    try:
        refused = install_broken_is_refused("no-plugin")
    finally:
        on_dnf_guest(["mv", f"{plugin}.aside", plugin])
    assert "on the guest: No such command: download" in str(refused) and "install dnf-plugins-core" in str(refused)
    # A repository holding another build with the same NEVRA is no way back to this one.
    with dnf_ssh() as ssh:
        local_repo.publish(ssh, [rebuild])
    refused = install_broken_is_refused("other-build")
    assert f"the guest's repositories offer {running}, but another build of it than the one installed" in str(refused)
    # Published to the guest's repository, the running build is what `dnf download` brings back.
    log_path = tmp_path / "install.log"
    with dnf_ssh() as ssh, no_rpm_kept_on_this_host(tmp_path / "published"):
        local_repo.publish(ssh, [patched])
        assert running in local_repo.published(ssh)
        with pytest.raises(InstallRolledBack) as failure:
            install_rpm(ssh, broken, domain=DOMAIN, options=dnf_options(), say=lambda _: None, log_path=log_path)
    assert f"the previous package {running} is back" in str(failure.value)
    assert re.search(r"running: rpm -Uvh --oldpackage --replacepkgs /var/tmp/qganb-install\.\w+/previous/"
                     + re.escape(patched.name), log_path.read_text())
    assert installed_agent() == running
    assert on_dnf_guest(["test", "-e", "/usr/share/doc/qganb-marker"], check=False).returncode == 1
    names = {c["name"] for c in guest_info()["supported_commands"]}
    assert set(SEED_COMMANDS) <= names
