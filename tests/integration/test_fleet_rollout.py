"""The fleet rollout on real guests: three TCG guests of the testbed fleet, Ansible through
ansible-runner, qganb's install transaction on each, verify through virsh. No mocks: a failing
canary is a build whose agent really exits at start, an unreachable host is a port nobody serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qganb.agent.virsh import VirshAgent
from qganb.fleet.rollout import RolloutOptions, rollout
from qganb.fleet.report import RolloutReport
from qganb.rpm.query import nevra_of
from qganb.stages.install import agent_rpm_of
from qganb.stages.records import BuildRecord, EditRecord
from qganb.testbed import fleet, guest
from qganb.testbed.fixture_srpm import build_fixture_srpm
from tests.guest_faults import build_broken_agent_rpm, repackaged_agent_rpm

pytestmark = [pytest.mark.testbed, pytest.mark.fixture_build]
ROOT = Path(__file__).resolve().parents[2]


def _on(fg: fleet.FleetGuest, command: list[str]) -> str:
    return subprocess.run(fg.ssh_argv(command), capture_output=True, text=True, check=True, timeout=60).stdout


def state_of(fg: fleet.FleetGuest) -> dict[str, str]:
    """What an install would change on a guest: its packages (with install times), the agent's
    process, qganb's state directories and lock, and Ansible's remote temp directory."""
    return {"rpm": _on(fg, ["rpm", "-qa", "--qf", "%{NEVRA} %{INSTALLTIME}\\n"]),
            "agent": _on(fg, ["systemctl", "show", "-p", "MainPID", "-p", "ActiveState", "qemu-guest-agent"]),
            "state": _on(fg, ["sh", "-c", "ls -d /var/tmp/qganb-* /run/qganb* ~/.ansible 2>/dev/null; true"])}


def agent_answers(fg: fleet.FleetGuest) -> bool:
    return VirshAgent(fg.domain).execute("guest-ping", timeout=10) == {}


@pytest.fixture()
def stock_fleet(testbed_fleet):
    """Every guest back on the stock agent (up_fleet puts back what an earlier test changed)."""
    return fleet.up_fleet(3)


@pytest.fixture(scope="module")
def patched_rpm(patched_run) -> tuple[Path, list[Path]]:
    return (agent_rpm_of(patched_run.load(BuildRecord).packages),
            [Path(p) for p in patched_run.load(EditRecord).recipes])


def test_canary_then_a_batch_of_two_installs_and_verifies_all_and_a_second_run_changes_nothing(
        stock_fleet, patched_rpm, tmp_path: Path) -> None:
    rpm, recipes = patched_rpm
    lines: list[str] = []
    report = rollout(stock_fleet.inventory, [rpm], recipes, tmp_path / "first", RolloutOptions(serial="1,2"),
                     say=lines.append)
    assert report.ok, report.table()
    assert [(h.host, h.batch, h.status, h.verify) for h in report.hosts] == [
        ("qganb-fleet-1", 1, "installed", "passed"), ("qganb-fleet-2", 2, "installed", "passed"),
        ("qganb-fleet-3", 2, "installed", "passed")]
    assert {h.after for h in report.hosts} == {str(nevra_of(rpm))}
    assert {h.before for h in report.hosts} == {str(nevra_of(guest.stock_agent_rpm()))}
    # The canary ended before the batch began; the batch's two hosts ran side by side.
    canary, second, third = report.hosts
    assert canary.ended <= second.started and second.started < third.ended and third.started < second.ended
    assert any("qganb-fleet-2: " in line and "guest: install" in line for line in lines)  # live, per host
    saved = RolloutReport.load(tmp_path / "first" / "rollout.json")
    assert saved.hosts == report.hosts and saved.ok

    before = {fg.index: state_of(fg) for fg in stock_fleet.guests}
    again = rollout(stock_fleet.inventory, [rpm], recipes, tmp_path / "second", RolloutOptions(serial="1,2"))
    assert again.ok and [h.status for h in again.hosts] == ["unchanged"] * 3
    assert all(h.verify == "passed" for h in again.hosts)
    assert {fg.index: state_of(fg) for fg in stock_fleet.guests} == before


def test_a_failing_canary_is_rolled_back_and_no_other_guest_is_touched(stock_fleet, tmp_path: Path) -> None:
    broken = build_broken_agent_rpm(guest.stock_agent_rpm(), tmp_path / "broken")
    canary, *others = stock_fleet.guests
    untouched = {fg.index: state_of(fg) for fg in others}
    done = subprocess.run([sys.executable, "-m", "qganb", "rollout", "-i", str(stock_fleet.inventory),
                           "--rpm", str(broken), "--serial", "1,2", "--max-fail-percentage", "100",
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1, done.stdout + done.stderr
    report = RolloutReport.load(tmp_path / "out" / "rollout.json")
    assert [(h.host, h.status) for h in report.hosts] == [
        ("qganb-fleet-1", "rolled back"), ("qganb-fleet-2", "not reached"), ("qganb-fleet-3", "not reached")]
    assert report.hosts[0].after == str(nevra_of(guest.stock_agent_rpm()))
    assert "does not answer" in report.hosts[0].message or "did not stay active" in report.hosts[0].message
    assert "rolled back" in done.stdout and "not reached" in done.stdout and "stopped" in done.stdout
    assert agent_answers(canary)
    assert {fg.index: state_of(fg) for fg in others} == untouched


def test_an_unreachable_host_beyond_the_threshold_stops_the_rollout_after_its_batch(
        stock_fleet, patched_rpm, tmp_path: Path) -> None:
    rpm, recipes = patched_rpm
    with socket.socket() as s:  # a port nobody serves
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    document = yaml.safe_load(stock_fleet.inventory.read_text())
    group = document["all"]["children"]["qganb_testbed_fleet"]
    hosts = group["hosts"]
    # Batches with serial 1,2: [fleet-1] [gone, fleet-2] [fleet-3].
    group["hosts"] = {"qganb-fleet-1": hosts["qganb-fleet-1"],
                      "gone": {"ansible_host": "127.0.0.1", "ansible_port": closed, "qganb_domain": "gone"},
                      "qganb-fleet-2": hosts["qganb-fleet-2"], "qganb-fleet-3": hosts["qganb-fleet-3"]}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))  # the hosts in this order
    third = stock_fleet.guests[2]
    untouched = state_of(third)
    report = rollout(inventory, [rpm], recipes, tmp_path / "out",
                     RolloutOptions(serial="1,2", max_fail_percentage=40))
    assert [(h.host, h.batch, h.status) for h in report.hosts] == [
        ("qganb-fleet-1", 1, "installed"), ("gone", 2, "unreachable"), ("qganb-fleet-2", 2, "installed"),
        ("qganb-fleet-3", None, "not reached")]
    assert not report.ok and report.stopped
    assert "cannot reach root@127.0.0.1:" in report.hosts[1].message
    assert state_of(third) == untouched
    # Nothing half-done: each guest runs a whole package with its agent answering, and no install
    # state or lock is left behind.
    for fg in stock_fleet.guests:
        assert agent_answers(fg)
        assert state_of(fg)["state"].strip() == ""


def test_check_mode_runs_every_pre_check_and_changes_nothing(stock_fleet, patched_rpm, tmp_path: Path) -> None:
    rpm, recipes = patched_rpm
    before = {fg.index: state_of(fg) for fg in stock_fleet.guests}
    report = rollout(stock_fleet.inventory, [rpm], recipes, tmp_path / "out",
                     RolloutOptions(serial="1,2", check=True))
    assert report.ok, report.table()
    assert [h.status for h in report.hosts] == ["checked"] * 3
    for host in report.hosts:
        assert host.message == f"would upgrade {nevra_of(rpm)}"
        assert host.details["check"]["rollback"].endswith("uploaded from this host")
    assert {fg.index: state_of(fg) for fg in stock_fleet.guests} == before


def test_a_mixed_fleet_gets_the_build_of_each_guests_own_package(testbed_fleet, tmp_path: Path) -> None:
    el7_212 = build_fixture_srpm("2.12", "el7").path
    up = fleet.up_fleet(3, stocks={2: el7_212})
    two = "qganb-fleet-1,qganb-fleet-2"
    stock_72, stock_212 = guest.stock_agent_rpm(), guest.stock_rpm(el7_212)
    build_72 = repackaged_agent_rpm(stock_72, tmp_path / "b72", release_suffix=".qganb1")
    build_212 = repackaged_agent_rpm(stock_212, tmp_path / "b212", release_suffix=".qganb1")

    only_72 = rollout(up.inventory, [build_72], [], tmp_path / "one", RolloutOptions(serial="1,1", limit=two))
    assert [(h.host, h.status) for h in only_72.hosts] == [("qganb-fleet-1", "installed"),
                                                           ("qganb-fleet-2", "skipped")]
    assert only_72.hosts[1].before == str(nevra_of(stock_212)) and "no build for" in only_72.hosts[1].message

    both = rollout(up.inventory, [build_72, build_212], [], tmp_path / "both", RolloutOptions(serial="1,1", limit=two))
    assert both.ok, both.table()
    assert [(h.host, h.status, h.after) for h in both.hosts] == [
        ("qganb-fleet-1", "unchanged", str(nevra_of(build_72))),
        ("qganb-fleet-2", "installed", str(nevra_of(build_212)))]
    assert both.hosts[1].details["verify"]["agent_version"].startswith("2.12")
