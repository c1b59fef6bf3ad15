"""The install stage on the real testbed guest: OpenSSH with the pinned host key, rpm on the guest,
systemd restarting the agent, libvirt answering for it. Every test ends with the agent answering
guest-ping through `virsh qemu-agent-command`, whatever went wrong on the way."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from qganb.agent.transport import DEFAULT_URI
from qganb.agent.virsh import VirshAgent
from qganb.errors import (AgentNotConfigured, AuthenticationFailed, CommandDisabled, CommandNotFound, ConnectionLost,
                          HostKeyRejected, HostUnreachable, InstallRolledBack, SudoUnavailable, UnknownDomain)
from qganb.guest.ssh import SshClient, SshTarget
from qganb.rpm.kept_packages import keep_rpm
from qganb.rpm.query import HEADER_DIGEST_QUERY, header_digest_of
from qganb.stages import install
from qganb.stages.install import InstallOptions, install_rpm
from qganb.stages.records import BuildRecord, EditRecord, InstallRecord
from qganb.stages.verify import check_commands, verify_on_guest
from qganb.testbed import guest, libvirt_host
from tests.guest_faults import TcpProxy, build_broken_agent_rpm, domain_without_agent_channel, fresh_key, \
    installed_agent, known_hosts_for_port, on_testbed, put_stock_agent_back, repackaged_agent_rpm, wait_until

pytestmark = [pytest.mark.testbed, pytest.mark.fixture_build]
SYSCONFIG = "/etc/sysconfig/qemu-ga"


@pytest.fixture()
def stock_guest(testbed_guest):
    """The testbed with its stock agent; afterwards, the agent must answer guest-ping through virsh."""
    put_stock_agent_back()
    keep_rpm(guest.stock_agent_rpm())
    stock = installed_agent()
    yield stock
    assert wait_until(lambda: libvirt_host.agent_ping(guest.DOMAIN), 120), "the guest was left without an agent"
    assert VirshAgent(guest.DOMAIN).execute("guest-ping") == {}


def options(**kwargs) -> InstallOptions:  # type: ignore[no-untyped-def]
    # No --previous-rpm: the rollback RPM is the copy qganb keeps of what it installed (the stock one
    # is remembered by the fixture, as the CLI does for the testbed).
    return InstallOptions(extra_flags=["--nodeps"], **kwargs)


def nothing_left_on_the_guest() -> bool:
    return on_testbed(["find", "/var/tmp", "-maxdepth", "1", "-name", "qganb-install.*"]).stdout.strip() == ""


def test_the_pipelines_rpm_replaces_the_stock_agent_and_answers_through_virsh(stock_guest, patched_run) -> None:
    recipes_dir = Path(__file__).resolve().parents[2] / "recipes"
    from qganb.recipes.model import load_recipe

    watchdog = load_recipe(recipes_dir / "guest-set-watchdog-timeout.yaml")
    with pytest.raises(CommandNotFound):
        check_commands(VirshAgent(guest.DOMAIN), [watchdog])
    # --check: every pre-check, nothing changed.
    pid = on_testbed(["systemctl", "show", "-p", "MainPID", "qemu-guest-agent"]).stdout
    checked = subprocess.run([sys.executable, "-m", "qganb", "install", "--check", "--run", str(patched_run.path)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"check passed on root@127.0.0.1:{guest.ssh_port()}: upgrade " in checked.stdout
    assert "rollback to " in checked.stdout and "nothing was changed" in checked.stdout
    assert installed_agent() == stock_guest and nothing_left_on_the_guest()
    assert on_testbed(["systemctl", "show", "-p", "MainPID", "qemu-guest-agent"]).stdout == pid

    said: list[str] = []
    with SshClient(guest.ssh_target()) as ssh:
        report = install.run(patched_run, ssh, domain=guest.DOMAIN, options=options(), say=said.append)
        assert report.previous == stock_guest and report.installed.endswith(".qganb1.x86_64")
        assert installed_agent() == report.installed
        assert "SELinux: absent on the guest; no booleans apply" in said
        assert nothing_left_on_the_guest()
        # The same build again: the guest is left as it is.
        pid = on_testbed(["systemctl", "show", "-p", "MainPID", "qemu-guest-agent"]).stdout
        again = install.run(patched_run, ssh, domain=guest.DOMAIN, options=options(), say=said.append)
        assert again.outcome == "unchanged" and again.installed == report.installed
        assert on_testbed(["systemctl", "show", "-p", "MainPID", "qemu-guest-agent"]).stdout == pid
    report = patched_run.load(InstallRecord)  # the run records the unchanged install; the rest reads it

    # The new command, through libvirt exactly as an operator would call it.
    done = subprocess.run(["virsh", "-c", "qemu:///system", "qemu-agent-command", guest.DOMAIN,
                           '{"execute":"guest-set-watchdog-timeout","arguments":{"timeout":75}}'],
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["return"] == {"path": "/etc/modprobe.d/watchdog.conf", "heartbeat": 75}
    assert on_testbed(["cat", "/etc/modprobe.d/watchdog.conf"]).stdout == "options i6300esb heartbeat=75\n"

    verify = subprocess.run([sys.executable, "-m", "qganb", "verify", "--run", str(patched_run.path)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "PASS  guest-set-watchdog-timeout: sets a 60 s heartbeat (+ guest-check)" in verify.stdout
    record = json.loads((patched_run.path / "verification.json").read_text())
    assert record["passed"] and record["agent_version"] == report.version
    assert patched_run.load(InstallRecord).installed == report.installed


def test_a_rebuild_with_the_same_nevra_replaces_the_running_build(stock_guest, patched_run, tmp_path: Path) -> None:
    with SshClient(guest.ssh_target()) as ssh:
        first = install.run(patched_run, ssh, domain=guest.DOMAIN, options=options(), say=lambda _: None)
        built = patched_run.load(BuildRecord).packages[0].path
        rebuild = repackaged_agent_rpm(built, tmp_path, marker="rebuilt\n")
        assert rebuild.name == built.name  # same NEVRA, same file name, other content
        second = install_rpm(ssh, rebuild, domain=guest.DOMAIN, options=options(), say=lambda _: None)
    assert second.previous == second.installed == first.installed
    assert on_testbed(["cat", "/usr/share/doc/qganb-marker"]).stdout == "rebuilt\n"
    assert on_testbed(["rpm", "-q", "--qf", HEADER_DIGEST_QUERY, "qemu-guest-agent"]).stdout == \
        header_digest_of(rebuild) + "\n"


def test_an_agent_that_exits_at_start_is_rolled_back(stock_guest, tmp_path: Path) -> None:
    broken = build_broken_agent_rpm(guest.stock_agent_rpm(), tmp_path)
    with SshClient(guest.ssh_target()) as ssh, pytest.raises(InstallRolledBack) as failure:
        install_rpm(ssh, broken, domain=guest.DOMAIN, options=options(), say=lambda _: None)
    assert "the new agent did not stay active after the restart" in str(failure.value)
    assert f"the previous package {stock_guest} is back; its agent answers guest-ping" in str(failure.value)
    assert "Start request repeated too quickly" in failure.value.details() or "FAILURE" in failure.value.details()
    assert installed_agent() == stock_guest


# The real agent answers, but the unit's main process exits 0.7 s after it started: inside the
# one-second window that `confirm` checks after libvirt saw an answer.
SHORT_LIVED_QGA = ("#!/bin/sh\n# qganb fault test: the agent answers for a moment, then its unit's main process exits\n"
                   "/usr/libexec/qemu-ga-real \"$@\" &\nsleep 0.7\nexit 1\n")


def test_an_agent_that_answers_then_dies_within_the_window_is_rolled_back(stock_guest, tmp_path: Path) -> None:
    short_lived = repackaged_agent_rpm(guest.stock_agent_rpm(), tmp_path, release_suffix=".shortlived1",
                                       qemu_ga=SHORT_LIVED_QGA, keep_real_agent=True)
    with SshClient(guest.ssh_target()) as ssh, pytest.raises(InstallRolledBack) as failure:
        install_rpm(ssh, short_lived, domain=guest.DOMAIN, options=options(agent_timeout=30), say=lambda _: None)
    assert f"the previous package {stock_guest} is back; its agent answers guest-ping" in str(failure.value)
    assert installed_agent() == stock_guest
    assert nothing_left_on_the_guest()


def test_a_blocking_line_is_shown_and_changed_only_when_asked(stock_guest, patched_run) -> None:
    original = on_testbed(["cat", SYSCONFIG]).stdout
    blocking = next(line for line in original.splitlines() if line.startswith("BLACKLIST_RPC="))
    with SshClient(guest.ssh_target()) as ssh:
        ssh.run(["sed", "-i", f"s/^BLACKLIST_RPC=.*/{blocking},guest-get-cpu-usage-rate/", SYSCONFIG])
        try:
            said: list[str] = []
            install.run(patched_run, ssh, domain=guest.DOMAIN, options=options(), say=said.append)
            advice = next(line for line in said if line.startswith("configuration: "))
            assert f"{SYSCONFIG}:7: {blocking},guest-get-cpu-usage-rate" in advice
            assert f"change it to: {blocking}\n" in advice
            assert on_testbed(["cat", SYSCONFIG]).stdout != original  # not changed without --unblock
            with pytest.raises(CommandDisabled, match="guest-get-cpu-usage-rate is disabled"):
                verify_on_guest(VirshAgent(guest.DOMAIN), _recipes(patched_run), domain=guest.DOMAIN, uri=DEFAULT_URI)

            install.run(patched_run, ssh, domain=guest.DOMAIN, options=options(unblock=True), say=lambda _: None)
            assert on_testbed(["cat", SYSCONFIG]).stdout == original
            assert verify_on_guest(VirshAgent(guest.DOMAIN), _recipes(patched_run), domain=guest.DOMAIN,
                                   uri=DEFAULT_URI, ssh=ssh).passed
        finally:
            ssh.run(["cp", "/dev/stdin", SYSCONFIG], input_text=original)


def _recipes(run_dir):  # type: ignore[no-untyped-def]
    from qganb.recipes.model import load_recipes

    return load_recipes(run_dir.load(EditRecord).recipes)


def _through(proxy: TcpProxy, user: str, tmp_path: Path) -> SshTarget:
    """The testbed's SSH as `user`, through `proxy`, with the guest's pinned key for the proxy's port."""
    return SshTarget("127.0.0.1", user, proxy.port, guest.current_image().client_key,
                     known_hosts_for_port(tmp_path / "known_hosts", proxy.port))


def test_a_lost_connection_mid_install_leaves_a_working_agent(stock_guest, patched_run, tmp_path: Path) -> None:
    proxy = TcpProxy(guest.ssh_port())
    target = _through(proxy, "root", tmp_path)

    def cut_when_installing(line: str) -> None:
        if line == "  guest: install":
            proxy.cut()

    try:
        with SshClient(target) as ssh, pytest.raises(ConnectionLost) as lost:
            install.run(patched_run, ssh, domain=guest.DOMAIN,
                          options=options(reconnect_timeout=8), say=cut_when_installing)
    finally:
        proxy.close()
    assert "the transaction goes on by itself on the guest" in str(lost.value)
    # The guest finished on its own: the new package, its agent answering.
    status = lambda: on_testbed(["sh", "-c", "cat /var/tmp/qganb-install.*/status"], check=False).stdout  # noqa: E731
    assert wait_until(lambda: status().strip() == "installed", 120), status()
    assert installed_agent().endswith(".qganb1.x86_64")
    assert wait_until(lambda: libvirt_host.agent_ping(guest.DOMAIN), 120)
    on_testbed(["sh", "-c", "rm -rf /var/tmp/qganb-install.* /run/qganb-install.lock"])


def test_a_short_outage_is_ridden_out_by_a_sudo_user(stock_guest, patched_run, tmp_path: Path) -> None:
    _add_user("qganbop", sudo=True)
    proxy = TcpProxy(guest.ssh_port())
    target = _through(proxy, "qganbop", tmp_path)

    def outage_when_installing(line: str) -> None:
        if line == "  guest: install":
            proxy.cut()
            threading.Timer(6, proxy.reopen).start()

    try:
        with SshClient(target) as ssh:
            report = install.run(patched_run, ssh, domain=guest.DOMAIN, options=options(reconnect_timeout=60),
                                   say=outage_when_installing)
            assert ssh.sudo
    finally:
        proxy.close()
    assert installed_agent() == report.installed
    assert nothing_left_on_the_guest()


def _add_user(name: str, *, sudo: bool) -> None:
    if on_testbed(["id", name], check=False).returncode != 0:
        on_testbed(["useradd", "-m", "-s", "/bin/sh", name])
    home = f"/home/{name}"
    on_testbed(["install", "-d", "-m", "700", "-o", name, "-g", name, f"{home}/.ssh"])
    on_testbed(["install", "-m", "600", "-o", name, "-g", name, "/root/.ssh/authorized_keys",
                 f"{home}/.ssh/authorized_keys"])
    if sudo:
        with SshClient(guest.ssh_target()) as ssh:
            ssh.run(["tee", f"/etc/sudoers.d/{name}"], input_text=f"{name} ALL=(ALL) NOPASSWD: ALL\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _install_fails_without_change(target: SshTarget, stock: str, error: type[Exception], match: str,
                                  domain: str = guest.DOMAIN) -> None:
    with SshClient(target) as ssh, pytest.raises(error, match=match):
        install_rpm(ssh, guest.stock_agent_rpm(), domain=domain, options=options(), say=lambda _: None)
    assert installed_agent() == stock
    assert nothing_left_on_the_guest()


def test_an_unreachable_host(stock_guest) -> None:
    target = SshTarget("127.0.0.1", "root", _free_port(), guest.current_image().client_key, guest.known_hosts_path())
    _install_fails_without_change(target, stock_guest, HostUnreachable, "cannot reach root@127.0.0.1:.*Connection refused")


def test_a_wrong_or_unknown_host_key_is_refused(stock_guest, tmp_path: Path) -> None:
    other = fresh_key(tmp_path)
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{guest.ssh_port()} {' '.join(Path(f'{other}.pub').read_text().split()[:2])}\n")
    key = guest.current_image().client_key
    _install_fails_without_change(SshTarget("127.0.0.1", "root", guest.ssh_port(), key, wrong), stock_guest,
                                  HostKeyRejected, "differs from the one pinned")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    _install_fails_without_change(SshTarget("127.0.0.1", "root", guest.ssh_port(), key, empty), stock_guest,
                                  HostKeyRejected, "is not in .*empty_known_hosts; refused")


def test_a_bad_key_or_no_sudo(stock_guest, tmp_path: Path) -> None:
    known = guest.known_hosts_path()
    _install_fails_without_change(SshTarget("127.0.0.1", "root", guest.ssh_port(), fresh_key(tmp_path), known),
                                  stock_guest, AuthenticationFailed, "refused our key for root")
    _add_user("nosudo", sudo=False)
    _install_fails_without_change(
        SshTarget("127.0.0.1", "nosudo", guest.ssh_port(), guest.current_image().client_key, known),
        stock_guest, SudoUnavailable, "cannot run commands as root with `sudo -n`: sudo: a password is required")


def test_an_unknown_domain_or_one_without_agent_channel(stock_guest, tmp_path: Path) -> None:
    target = guest.ssh_target()
    _install_fails_without_change(target, stock_guest, UnknownDomain, "no domain 'no-such-domain'", "no-such-domain")
    with domain_without_agent_channel(tmp_path) as name:
        _install_fails_without_change(target, stock_guest, AgentNotConfigured, f"{name} has no guest agent channel",
                                      name)
