"""The fleet's Ansible inventory and known_hosts, written from guests without booting any, and the
fleet's refusals that need no guest (a count, a port base, a guest number out of range)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from qganb import errors
from qganb.testbed import fleet


def _guests(tmp_path: Path, count: int) -> list[fleet.FleetGuest]:
    return [fleet.FleetGuest(i, 22240 + i, tmp_path / "image-x", f"ssh-ed25519 AAAAkey{i}") for i in range(count, 0, -1)]


def test_the_inventory_names_what_the_rollout_reads(tmp_path: Path) -> None:
    path = fleet.write_inventory(_guests(tmp_path, 2), tmp_path / "keys" / "id_ed25519", tmp_path / "known_hosts",
                                 tmp_path / "inventory.yml")
    document = yaml.safe_load(path.read_text())
    group = document["all"]["children"]["qganb_testbed_fleet"]
    assert group["vars"] == {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(tmp_path / "keys" / "id_ed25519"),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={tmp_path / 'known_hosts'} -o StrictHostKeyChecking=yes",
        "qganb_libvirt_uri": "qemu:///system",
        "qganb_install_flags": ["--nodeps"],
    }
    assert group["hosts"] == {
        "qganb-fleet-1": {"ansible_host": "127.0.0.1", "ansible_port": 22241, "qganb_domain": "qganb-fleet-1"},
        "qganb-fleet-2": {"ansible_host": "127.0.0.1", "ansible_port": 22242, "qganb_domain": "qganb-fleet-2"},
    }
    assert list(group["hosts"]) == ["qganb-fleet-1", "qganb-fleet-2"], "hosts in guest order"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no scratch file left behind"


def test_a_rewrite_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    fleet.write_inventory(_guests(tmp_path, 3), tmp_path / "k", tmp_path / "kh", path)
    fleet.write_inventory(_guests(tmp_path, 1), tmp_path / "k", tmp_path / "kh", path)
    assert list(yaml.safe_load(path.read_text())["all"]["children"]["qganb_testbed_fleet"]["hosts"]) == ["qganb-fleet-1"]


def test_the_known_hosts_pins_one_line_per_guest(tmp_path: Path) -> None:
    path = fleet.write_known_hosts(_guests(tmp_path, 2), tmp_path / "known_hosts")
    assert path.read_text() == ("[127.0.0.1]:22241 ssh-ed25519 AAAAkey1\n"
                                "[127.0.0.1]:22242 ssh-ed25519 AAAAkey2\n")


@pytest.mark.parametrize("directory", ["plain", 'a  b %h %% "q"'])
def test_the_common_args_keep_the_known_hosts_path_one_file_for_ssh(tmp_path: Path, directory: str) -> None:
    # Ansible splits the args with shlex; ssh splits the option's value at spaces and expands %-tokens.
    known = tmp_path / directory / "known hosts" if directory != "plain" else tmp_path / "known_hosts"
    argv = ["ssh", "-G", *shlex.split(fleet.ssh_common_args(known)), "-p", "22241", "127.0.0.1"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30, stdin=subprocess.DEVNULL)
    options = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert options["userknownhostsfile"] == str(known)
    assert options["stricthostkeychecking"] == "true"


@pytest.mark.parametrize("count", [0, 9, -1])
def test_a_fleet_size_out_of_range_says_the_range(count: int) -> None:
    with pytest.raises(errors.TestbedError, match=r"out of range: a fleet has 1 to 8; give a number of guests from 1 to 8"):
        fleet.check_guest_count(count)


@pytest.mark.parametrize("base", ["twenty", "80", "65530"])
def test_a_bad_port_base_names_the_variable(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    monkeypatch.setenv(fleet.PORT_VARIABLE, base)
    with pytest.raises(errors.TestbedError, match=r"QGANB_TESTBED_FLEET_SSH_PORT=.* is not a usable base port; set "
                                           r"QGANB_TESTBED_FLEET_SSH_PORT to a number"):
        fleet.port_base()


def test_a_guest_number_the_fleet_lacks_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QGANB_CACHE_DIR", str(tmp_path))
    with pytest.raises(errors.TestbedError, match=r"fleet guest 9 is out of range: guests are numbered 1 to 8 \(no fleet is up\)"):
        fleet.booted_guest(9)
    with pytest.raises(errors.TestbedError, match=r"fleet guest 2 is not up \(no fleet is up\)"):
        fleet.booted_guest(2)


def test_stocks_for_guests_outside_the_fleet_are_refused_before_anything_boots() -> None:
    with pytest.raises(errors.TestbedError, match=r"a stock agent for guest 3, but the fleet has guests 1 to 2"):
        fleet.up_fleet(2, stocks={3: Path("/nonexistent.src.rpm")})
