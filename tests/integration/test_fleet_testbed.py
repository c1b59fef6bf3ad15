"""The testbed fleet: two guests booted together from the default image, each with its own host key
(pinned, never learnt by scanning) and hostname, each agent answering through libvirt, guest 2 on
CentOS 7's 2.12 agent, reachable by Ansible with host key checking on; and down leaves none of them.

One boot serves every test here (module scope): a TCG boot is the slow part."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from qganb import errors
from qganb.testbed import fleet, guest, libvirt_host
from qganb.testbed.fixture_srpm import build_fixture_srpm

pytestmark = pytest.mark.testbed
ANSIBLE = Path(sys.executable).with_name("ansible")


@pytest.fixture(scope="module")
def booted(testbed_fleet):
    """The session's three fleet guests (their boot is testbed_fleet's), guest 2 switched to the 2.12 agent."""
    old_agent = build_fixture_srpm("2.12", "el7").path
    try:
        yield fleet.up_fleet(3, stocks={2: old_agent})
    finally:
        fleet.down_fleet()


def _on(member: fleet.FleetGuest, *command: str) -> str:
    return subprocess.run(member.ssh_argv(list(command)), capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def _ansible(inventory: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A control master of an earlier run would skip the host key check: each run has its own.
    control = Path(tempfile.mkdtemp(prefix="qganb-fleet-cp-"))
    try:
        env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
               "ANSIBLE_LOCAL_TEMP": str(tmp_path), "ANSIBLE_NOCOLOR": "1"}
        return subprocess.run([str(ANSIBLE), "-i", str(inventory), "all", *args], capture_output=True, text=True,
                              env=env, timeout=180)
    finally:
        shutil.rmtree(control, ignore_errors=True)


def test_each_guest_has_its_own_pinned_host_key_and_hostname(booted: fleet.FleetUp, testbed_fleet) -> None:
    image = guest.GuestImage(booted.image)
    assert [g.domain for g in booted.guests] == ["qganb-fleet-1", "qganb-fleet-2", "qganb-fleet-3"]
    assert booted.reused == [1, 2, 3], "a second up keeps the guests running from the same image"
    keys = {g.host_key for g in booted.guests}
    assert len(keys) == 3 and image.host_public_key not in keys, "each guest has a key of its own, not the image's"
    assert fleet.known_hosts_path().read_text().splitlines() == [g.known_hosts_line for g in booted.guests]
    for member in booted.guests:
        # ssh_argv checks against the pinned line only (StrictHostKeyChecking=yes): logging in proves it.
        public, hostname, kernel_hostname = _on(member, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", "/etc/hostname",
                                                "/proc/sys/kernel/hostname").splitlines()
        assert " ".join(public.split()[:2]) == member.host_key
        assert hostname == kernel_hostname == member.domain
        assert testbed_fleet.guest_timings[member.index]["boot"] > 0


def test_each_agent_answers_through_virsh_and_guest_2_runs_the_old_agent(booted: fleet.FleetUp) -> None:
    versions = {}
    for member in booted.guests:
        ping = libvirt_host.virsh("qemu-agent-command", member.domain, '{"execute":"guest-ping"}')
        assert json.loads(ping.output) == {"return": {}}
        info = libvirt_host.virsh("qemu-agent-command", member.domain, '{"execute":"guest-info"}')
        versions[member.index] = json.loads(info.output)["return"]["version"]
    assert versions == {1: "7.2.0", 2: "2.12.0", 3: "7.2.0"}
    # (Which guests up_fleet had to switch depends on what the rollout tests left on them.)


def test_ansible_reaches_every_guest_with_host_key_checking_on(booted: fleet.FleetUp, tmp_path: Path) -> None:
    assert booted.inventory == fleet.inventory_path()
    done = _ansible(booted.inventory, tmp_path, "-m", "raw", "-a", "cat /etc/hostname")
    assert done.returncode == 0, done.stdout + done.stderr
    answers = dict(re.findall(r"^(\S+) \| CHANGED \| rc=0 >>\n(\S+)$", done.stdout, re.MULTILINE))
    assert answers == {g.domain: g.domain for g in booted.guests}, done.stdout

    # The same inventory with a known_hosts that pins the image's shared key: every guest is refused.
    wrong = tmp_path / "wrong_known_hosts"
    image_key = guest.GuestImage(booted.image).host_public_key
    wrong.write_text("".join(f"[127.0.0.1]:{g.port} {image_key}\n" for g in booted.guests))
    document = yaml.safe_load(booted.inventory.read_text())
    document["all"]["children"][fleet.GROUP]["vars"]["ansible_ssh_common_args"] = fleet.ssh_common_args(wrong)
    (tmp_path / "wrong.yml").write_text(yaml.safe_dump(document))
    refused = _ansible(tmp_path / "wrong.yml", tmp_path, "-m", "raw", "-a", "cat /etc/hostname")
    assert refused.returncode != 0
    assert sorted(re.findall(r"^(\S+) \| UNREACHABLE!", refused.stdout, re.MULTILINE)) == [g.domain for g in booted.guests]
    assert "Host key verification failed" in refused.stdout


def test_the_cli_lists_reaches_and_refuses(booted: fleet.FleetUp, monkeypatch: pytest.MonkeyPatch) -> None:
    def qganb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "qganb", "testbed", *args], capture_output=True, text=True,
                              timeout=120)

    status = qganb("status", "--guests")
    assert status.returncode == 0
    assert status.stdout.splitlines() == [f"{g.domain}: running; agent answers guest-ping; ssh 127.0.0.1:{g.port}"
                                          for g in booted.guests]
    assert qganb("ssh", "--guest", "2", "--", "cat", "/etc/hostname").stdout.strip() == "qganb-fleet-2"
    missing = qganb("ssh", "--guest", "5")
    assert missing.returncode == 1 and "fleet guest 5 is not up (the fleet has guests 1, 2, 3)" in missing.stderr
    too_many = qganb("up", "--guests", "9")
    assert too_many.returncode == 1 and "a fleet has 1 to 8" in too_many.stderr

    # A busy port is refused by name before anything changes: the running fleet stays as it is.
    with socket.create_server(("127.0.0.1", 0)) as taken:
        base = taken.getsockname()[1] - 1
        monkeypatch.setenv(fleet.PORT_VARIABLE, str(base))
        with pytest.raises(errors.TestbedError, match=rf"127.0.0.1:{base + 1} \(guest 1: QGANB_TESTBED_FLEET_SSH_PORT "
                           rf"base {base} \+ 1\) is already in use; set QGANB_TESTBED_FLEET_SSH_PORT"):
            fleet.up_fleet(2)
    assert [s.agent_answers for s in fleet.fleet_status()] == [True, True, True]


def test_down_leaves_no_fleet_guest(booted: fleet.FleetUp) -> None:
    assert fleet.down_fleet() == ["qganb-fleet-1", "qganb-fleet-2", "qganb-fleet-3"]
    assert [n for n in libvirt_host.domain_names() if n.startswith(fleet.DOMAIN_PREFIX)] == []
    running = subprocess.run(["pgrep", "-f", f"guest={fleet.DOMAIN_PREFIX}"], capture_output=True, text=True)
    assert running.stdout == ""
    assert list(fleet.fleet_dir().glob("guest-*")) == [] and not fleet.inventory_path().exists()
    assert fleet.down_fleet() == [], "a second down finds nothing to stop"
