"""The install transaction on the real testbed guest when things go wrong after the guest said
"installed" (libvirt gone, virsh talking nonsense, the new agent refusing guest-ping, qganb killed),
with no previous package, with two installs at once, with an outcome qganb could not see, and a
downgrade. Every test ends with the stock agent answering through libvirt."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qganb.agent.transport import wait_for_agent
from qganb.agent.virsh import VirshAgent
from qganb.errors import ConnectionLost, DowngradeRefused, InstallLocked, InstallOutcomeUnknown, InstallRolledBack
from qganb.guest.ssh import SshClient, SshTarget
from qganb.rpm.kept_packages import keep_rpm
from qganb.stages import install
from qganb.stages.install import InstallOptions, install_rpm
from qganb.stages.records import BuildRecord, InstallRecord
from qganb.testbed import guest, libvirt_host
from tests.guest_faults import (TcpProxy, build_broken_agent_rpm, installed_agent, known_hosts_for_port, on_testbed,
                                put_stock_agent_back, repackaged_agent_rpm, wait_until)

pytestmark = [pytest.mark.testbed, pytest.mark.fixture_build]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def stock_guest(testbed_guest):
    """The testbed with its stock agent and no install leftovers (a failed test must not fail the
    next); afterwards, the stock agent must answer through virsh and nothing may be left."""
    on_testbed(["sh", "-c", "rm -rf /var/tmp/qganb-install.* /run/qganb-install.lock"])
    put_stock_agent_back()
    keep_rpm(guest.stock_agent_rpm())
    stock = installed_agent()
    yield stock
    put_stock_agent_back()  # waits until the agent answers through libvirt, or fails
    assert nothing_left_on_the_guest()


def options(**kwargs) -> InstallOptions:  # type: ignore[no-untyped-def]
    return InstallOptions(extra_flags=["--nodeps"], **kwargs)


def nothing_left_on_the_guest() -> bool:
    left = on_testbed(["sh", "-c", "ls -d /var/tmp/qganb-install.* /run/qganb-install.lock 2>/dev/null"], check=False)
    return left.stdout.strip() == ""


def built_rpm(run_dir) -> Path:  # type: ignore[no-untyped-def]
    return next(p.path for p in run_dir.load(BuildRecord).packages if not p.path.name.endswith(".src.rpm"))


def install_failing_after_installed(rpm: Path, on_waiting, on_restore=lambda: None,  # type: ignore[no-untyped-def]
                                    **kwargs) -> InstallRolledBack:
    """Install `rpm`; `on_waiting` runs when qganb starts waiting for libvirt (the guest said
    "installed"), `on_restore` when it starts putting the previous package back."""
    def say(line: str) -> None:
        if line.startswith("waiting for") and line.endswith("through libvirt"):
            on_waiting()
        if line.endswith("putting the previous package back"):
            on_restore()

    with SshClient(guest.ssh_target()) as ssh, pytest.raises(InstallRolledBack) as failure:
        install_rpm(ssh, rpm, domain=guest.DOMAIN, options=options(**kwargs), say=say)
    return failure.value


@pytest.mark.stops_libvirtd  # the other workers' guests wait meanwhile (tests/xdist_groups.py)
def test_libvirt_gone_after_installed_rolls_back(stock_guest, patched_run) -> None:
    def stop_libvirtd() -> None:
        subprocess.run(["pkill", "-x", "libvirtd"], check=False)
        wait_until(lambda: subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True).returncode != 0, 30)

    try:
        failure = install_failing_after_installed(built_rpm(patched_run), stop_libvirtd, libvirt_host.ensure_daemons)
    finally:
        libvirt_host.ensure_daemons()
    assert "checking the new agent failed (HypervisorUnreachable" in str(failure)
    assert "failed to connect" in str(failure)
    assert f"the previous package {stock_guest} is back" in str(failure)
    assert installed_agent() == stock_guest
    assert nothing_left_on_the_guest(), "the state directory goes only once the guest is back"


def test_virsh_talking_nonsense_after_installed_rolls_back(stock_guest, patched_run, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # A fault in front of the real virsh: once armed, agent commands get an answer that is not JSON.
    armed = tmp_path / "armed"
    shim = tmp_path / "bin" / "virsh"
    shim.parent.mkdir()
    shim.write_text(f"""#!/bin/sh
if [ -e {armed} ] && [ "$3" = qemu-agent-command ]; then echo '{{"return": '; exit 0; fi
exec /usr/bin/virsh "$@"
""")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    try:
        failure = install_failing_after_installed(built_rpm(patched_run), armed.touch,
                                                  lambda: armed.unlink(missing_ok=True))
    finally:
        armed.unlink(missing_ok=True)
    assert "not JSON" in str(failure) and f"the previous package {stock_guest} is back" in str(failure)
    assert installed_agent() == stock_guest


def test_an_agent_refusing_guest_ping_rolls_back(stock_guest, tmp_path: Path) -> None:
    # The stock build, one release up, whose qemu-ga blocks guest-ping: libvirt says "disabled".
    blocked = repackaged_agent_rpm(guest.stock_agent_rpm(), tmp_path, release_suffix=".noping1",
                                   qemu_ga="#!/bin/sh\nexec /usr/libexec/qemu-ga-real -b guest-ping \"$@\"\n",
                                   keep_real_agent=True)
    with SshClient(guest.ssh_target()) as ssh, pytest.raises(InstallRolledBack) as failure:
        install_rpm(ssh, blocked, domain=guest.DOMAIN, options=options(), say=lambda _: None)
    assert "CommandDisabled" in str(failure.value) and f"{stock_guest} is back" in str(failure.value)
    assert installed_agent() == stock_guest


def test_sigterm_after_installed_rolls_back(stock_guest, patched_run) -> None:
    command = [sys.executable, "-m", "qganb", "install", "--rpm", str(built_rpm(patched_run))]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("waiting for") and "guest-ping through libvirt" in line:
            process.send_signal(signal.SIGTERM)
            break
    out, err = process.communicate(timeout=600)
    assert process.returncode == 1, "".join(seen) + out + err
    assert "qganb was interrupted before libvirt had checked the new agent" in err
    assert f"the previous package {stock_guest} is back" in err
    assert installed_agent() == stock_guest


def test_without_a_previous_package_the_rollback_says_what_is_left(stock_guest, tmp_path: Path) -> None:
    # An agent from elsewhere: the stock binary run under a unit of another name, no package.
    on_testbed(["cp", "/usr/bin/qemu-ga", "/usr/local/bin/qemu-ga-elsewhere"])
    on_testbed(["systemctl", "stop", "qemu-guest-agent"])
    on_testbed(["rpm", "-e", "--nodeps", "qemu-guest-agent"])
    on_testbed(["systemctl", "daemon-reload"])
    on_testbed(["systemd-run", "--unit=qga-elsewhere", "/usr/local/bin/qemu-ga-elsewhere", "-m", "virtio-serial",
                "-p", "/dev/virtio-ports/org.qemu.guest_agent.0"])
    try:
        assert wait_until(lambda: libvirt_host.agent_ping(guest.DOMAIN), 120)
        broken = build_broken_agent_rpm(guest.stock_agent_rpm(), tmp_path)
        with SshClient(guest.ssh_target()) as ssh, pytest.raises(InstallRolledBack) as failure:
            install_rpm(ssh, broken, domain=guest.DOMAIN, options=options(), say=lambda _: None)
        message = str(failure.value)
        assert "the new package was removed, so the guest has no qemu-guest-agent package" in message
        assert "an agent not from an RPM answers guest-ping" in message
        assert installed_agent() == ""
    finally:
        on_testbed(["systemctl", "stop", "qga-elsewhere"], check=False)
        on_testbed(["rm", "-f", "/usr/local/bin/qemu-ga-elsewhere"])


def test_a_second_install_is_refused_while_one_runs(stock_guest, patched_run) -> None:
    rpm = built_rpm(patched_run)
    refused: list[BaseException] = []
    state: list[str] = []

    def second_install(line: str) -> None:
        if line.startswith("uploading "):
            state.append(line.rsplit(":", 1)[1])
        if line == "  guest: install" and not refused:
            # The running transaction is a transient systemd unit, not part of any SSH session.
            unit = f"qganb-install-{state[0].rsplit('.', 1)[1]}-apply"
            assert on_testbed(["systemctl", "show", "-p", "Description", unit]).stdout.strip() == \
                "Description=qganb install transaction"
            with SshClient(guest.ssh_target()) as other, pytest.raises(InstallLocked) as locked:
                install_rpm(other, rpm, domain=guest.DOMAIN, options=options(), say=lambda _: None)
            refused.append(locked.value)

    with SshClient(guest.ssh_target()) as ssh:
        record = install_rpm(ssh, rpm, domain=guest.DOMAIN, options=options(), say=second_install)
    assert refused and f"another qganb install is running on {guest.ssh_target()}" in str(refused[0])
    assert state[0] in str(refused[0])
    assert installed_agent() == record.installed
    assert nothing_left_on_the_guest(), "the lock goes with the finished transaction"


def test_an_outcome_lost_with_the_connection_is_finished_by_resume(stock_guest, patched_run, tmp_path: Path) -> None:
    proxy = TcpProxy(guest.ssh_port())
    target = SshTarget("127.0.0.1", "root", proxy.port, guest.current_image().client_key,
                       known_hosts_for_port(tmp_path / "known_hosts", proxy.port))

    def cut_when_installing(line: str) -> None:
        if line == "  guest: install":
            proxy.cut()

    try:
        with SshClient(target) as ssh, pytest.raises(ConnectionLost) as lost:
            install.run(patched_run, ssh, domain=guest.DOMAIN, options=options(reconnect_timeout=8),
                        say=cut_when_installing)
    finally:
        proxy.close()
    assert "qganb install --resume RUN_DIR" in str(lost.value)
    assert (patched_run.path / "install-pending.json").is_file()
    # The guest finished by itself; libvirt has not looked at the new agent yet. Resume does.
    said: list[str] = []
    with SshClient(guest.ssh_target()) as ssh:
        record = install.run(patched_run, ssh, domain=guest.DOMAIN, options=options(), say=said.append, resume=True)
    assert any("guest-ping through libvirt" in line for line in said)
    assert record.installed == installed_agent() and record.installed.endswith(".qganb1.x86_64")
    assert patched_run.load(InstallRecord) == record
    assert not (patched_run.path / "install-pending.json").exists()
    assert nothing_left_on_the_guest()


def test_resume_rolls_back_an_agent_that_does_not_answer(stock_guest, tmp_path: Path) -> None:
    # An install that outlived its wait; meanwhile its broken agent... is what resume finds.
    broken = repackaged_agent_rpm(guest.stock_agent_rpm(), tmp_path, release_suffix=".silent1",
                                  qemu_ga="#!/bin/sh\nexec sleep 86400\n")
    pending = tmp_path / "install-pending.json"
    with SshClient(guest.ssh_target()) as ssh, pytest.raises(InstallOutcomeUnknown):
        install_rpm(ssh, broken, domain=guest.DOMAIN, options=options(transaction_timeout=1), say=lambda _: None,
                    pending_path=pending)
    with SshClient(guest.ssh_target()) as ssh, pytest.raises(InstallRolledBack) as failure:
        install.resume_install(ssh, install.PendingInstall.load(pending), options=options(agent_timeout=20),
                               say=lambda _: None, pending_path=pending)
    assert f"{stock_guest} is back" in str(failure.value)
    assert installed_agent() == stock_guest and not pending.exists()


def test_a_downgrade_is_explained_before_anything_changes(stock_guest, tmp_path: Path) -> None:
    stock = guest.stock_agent_rpm()
    release = re.sub(r"^(\d+)", lambda m: str(int(m.group(1)) - 1), stock_guest.rsplit("-", 1)[1].rsplit(".", 1)[0])
    older = repackaged_agent_rpm(stock, tmp_path, release=release)
    with SshClient(guest.ssh_target()) as ssh, pytest.raises(DowngradeRefused) as refused:
        install_rpm(ssh, older, domain=guest.DOMAIN, options=options(), say=lambda _: None)
    assert f"runs {stock_guest}, which is newer" in str(refused.value) and "--allow-downgrade" in str(refused.value)
    assert installed_agent() == stock_guest and nothing_left_on_the_guest()
    with SshClient(guest.ssh_target()) as ssh:
        record = install_rpm(ssh, older, domain=guest.DOMAIN, options=options(allow_downgrade=True),
                             say=lambda _: None)
    assert "--oldpackage" in record.installer and installed_agent() == record.installed
    assert wait_for_agent(VirshAgent(guest.DOMAIN), timeout=60) < 60
