"""The local testbed: a real libvirt TCG domain with systemd, sshd, rpm and the stock agent."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qganb.testbed import guest, libvirt_host

# These tests describe the guest as `up` makes it: the stock agent (an earlier test may have installed another).
pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("stock_testbed")]


def test_stock_agent_answers_through_virsh(testbed_guest) -> None:
    image, timings = testbed_guest
    assert timings["boot"] >= 0
    done = libvirt_host.virsh("qemu-agent-command", guest.DOMAIN, '{"execute":"guest-info"}')
    info = json.loads(done.output)["return"]
    assert info["version"] == "7.2.0"
    names = {c["name"]: c["enabled"] for c in info["supported_commands"]}
    assert names["guest-ping"] is True
    assert names["guest-file-open"] is False, "the sysconfig blocklist of the stock package is in force"


def test_guest_runs_the_rpm_installed_agent_under_systemd(testbed_guest) -> None:
    image, _ = testbed_guest

    def on_guest(*command: str) -> str:
        return subprocess.run(guest.ssh_argv(image, list(command)), capture_output=True, text=True,
                              check=True).stdout.strip()

    assert on_guest("rpm", "-q", "qemu-guest-agent") == "qemu-guest-agent-7.2.0-3.el7.x86_64"
    assert on_guest("systemctl", "is-active", "qemu-guest-agent") == "active"
    assert "org.qemu.guest_agent.0" in on_guest("systemctl", "show", "-p", "BindsTo", "qemu-guest-agent")
    assert on_guest("readlink", "-f", "/dev/virtio-ports/org.qemu.guest_agent.0").startswith("/dev/vport")


def test_a_wrong_host_key_is_refused(testbed_guest, tmp_path: Path) -> None:
    image, _ = testbed_guest
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{guest.ssh_port()} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n")
    argv = [a if not a.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={known}"
            for a in guest.ssh_argv(image, ["true"])]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 255
    assert "Host key verification failed" in done.stderr


def test_cli_status_reports_the_running_guest(testbed_guest) -> None:
    done = subprocess.run([sys.executable, "-m", "qganb", "testbed", "status"], capture_output=True, text=True)
    assert done.returncode == 0 and "running; agent answers guest-ping" in done.stdout


def _held_by_another_process(lock: Path) -> bool:
    with open(lock, "a") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


def test_down_leaves_nothing_running_and_two_ups_share_one_boot(testbed_guest) -> None:
    guest.down()
    assert libvirt_host.domain_state(guest.DOMAIN) is None
    # The comma ends the name: the dnf guest (qganb-testbed-dnf) may be running in the other worker.
    running = subprocess.run(["pgrep", "-f", f"guest={guest.DOMAIN},"], capture_output=True, text=True)
    assert running.stdout == ""
    assert not (guest.testbed_dir() / "run").exists()
    # The session's other tests need the guest again: boot it as `make demo` does, `qganb testbed up` in
    # the background and a second `up` (the install stage's) beside it, which must wait and reuse it.
    cli = subprocess.Popen([sys.executable, "-m", "qganb", "testbed", "up"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        lock = guest.testbed_dir() / "up.lock"
        deadline = time.monotonic() + 60
        # Held, and its holder's pid written (file_lock writes it just after taking the lock).
        while not (lock.exists() and _held_by_another_process(lock) and lock.read_text().strip() == str(cli.pid)):
            assert cli.poll() is None and time.monotonic() < deadline, "the CLI's up never took the lock"
            time.sleep(0.05)
        said: list[str] = []
        timings = guest.up(on_line=said.append)
        output, _ = cli.communicate(timeout=300)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, output
    assert said[:1] == [f"waiting for another `qganb testbed up` of the default guest (pid {cli.pid}) to finish"]
    assert timings["boot"] == 0.0, "the second up booted the guest again instead of reusing the first one's boot"
    assert libvirt_host.agent_ping(guest.DOMAIN)


def test_the_disks_holding_the_guests_host_key_are_owner_only(testbed_guest) -> None:
    import stat

    image, _ = testbed_guest
    for disk in (image.disk, guest.testbed_dir() / "run" / "overlay.qcow2"):
        assert stat.S_IMODE(disk.stat().st_mode) == 0o600, f"{disk} is readable by others"
