"""The rollout stage with no fleet behind it: its notebook under `qganb run --from rollout`, against
an inventory whose hosts refuse SSH on loopback (Ansible finds them unreachable before anything on
a guest could change), its record and its report; and nbval skipping the notebook where the
testbed fleet has no inventory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qganb.fleet.report import RolloutReport
from qganb.rpm.rpmbuild import BuiltPackage
from qganb.stages.records import BuildRecord, EditRecord, RolloutRecord
from qganb.stages.run_dir import RunDir

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "guest-get-uptime.yaml"
NEVRA = "qemu-guest-agent-10:7.2.0-3.el7.qganb1.noarch"


@pytest.fixture(scope="module")
def agent_rpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A qemu-guest-agent RPM with no files: all a rollout reads of a build before it reaches a host."""
    top = tmp_path_factory.mktemp("rpmbuild")
    spec = top / "qemu-guest-agent.spec"
    spec.write_text("Name: qemu-guest-agent\nEpoch: 10\nVersion: 7.2.0\nRelease: 3.el7.qganb1\nSummary: t\n"
                    "License: GPL-2.0-or-later\nBuildArch: noarch\n%description\nt\n%files\n")
    subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)], check=True, capture_output=True)
    return next(top.glob("RPMS/noarch/*.rpm"))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def refusing_inventory(tmp_path: Path) -> Path:
    """Two hosts on loopback ports nothing listens on: the first is the canary."""
    inventory = tmp_path / "fleet.yml"
    inventory.write_text(
        "all:\n  hosts:\n"
        f"    canary:\n      ansible_host: 127.0.0.1\n      ansible_port: {closed_port()}\n      ansible_user: root\n"
        f"    second:\n      ansible_host: 127.0.0.1\n      ansible_port: {closed_port()}\n      ansible_user: root\n"
        "      qganb_domain: second-domain\n")
    return inventory


@pytest.fixture()
def built_run(tmp_path: Path, agent_rpm: Path) -> RunDir:
    """A run directory whose edit and build stages ran (the rollout starts from those two)."""
    run = RunDir(tmp_path / "run")
    run.record(EditRecord([str(RECIPE)], ["guest-get-uptime"], ["qga/qapi-schema.json"], {}, "7.2.0"))
    run.record(BuildRecord([BuiltPackage(agent_rpm, NEVRA)], str(tmp_path / "build.log")))
    return run


def test_the_rollout_notebook_stops_after_an_unreachable_canary_and_records_it(built_run: RunDir,
                                                                                refusing_inventory: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "qganb", "run", "--run", str(built_run.path), "--from", "rollout",
                           "--inventory", str(refusing_inventory)], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[1/1] rollout: 09-rollout.ipynb" in done.stdout
    # Progress streams from the kernel while Ansible works.
    assert "batch 1 (canary)" in done.stdout and "canary: unreachable" in done.stdout
    assert ("qganb: error: stage rollout failed in cell 6: RolloutIncomplete: rollout of 2 host(s) stopped: a batch "
            "failed beyond --max-fail-percentage") in done.stderr
    assert (f"resume with `qganb run --run {built_run.path} --from rollout --inventory {refusing_inventory}`"
            in done.stderr)

    record = built_run.load(RolloutRecord)
    assert record.hosts == {"canary": "unreachable", "second": "not reached"}
    assert record.counts == {"unreachable": 1, "not reached": 1}
    assert (record.ok, record.stopped, record.check) == (False, True, False)
    assert record.serial == [1, "25%", "100%"] and record.max_fail_percentage == 0
    assert record.builds == [NEVRA] and record.inventory == str(refusing_inventory)
    assert record.report == built_run.path / "rollout" / "rollout.json"
    hosts = {h.host: h for h in RolloutReport.load(record.report).hosts}
    assert "Connection refused" in hosts["canary"].message and hosts["canary"].batch == 1

    # The executed notebook shows the host table as HTML and the timeline as SVG before it stops.
    executed = json.loads((built_run.path / "notebooks" / "09-rollout.ipynb").read_text())
    shown = [o.get("data", {}) for c in executed["cells"] for o in c.get("outputs", [])
             if o.get("output_type") == "display_data"]
    assert any("<table>" in "".join(d.get("text/html", "")) and "canary" in "".join(d.get("text/html", ""))
               for d in shown)
    assert any("image/svg+xml" in d for d in shown)


def test_a_fleet_run_does_not_resume_from_a_single_guest_stage(built_run: RunDir, refusing_inventory: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "qganb", "run", "--run", str(built_run.path), "--from", "install",
                           "--inventory", str(refusing_inventory)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert done.stderr.startswith("qganb: error: --from install: a run with --inventory has no install stage")
    assert not built_run.has_stage("rollout")


def test_nbval_skips_the_rollout_notebook_where_the_testbed_fleet_has_no_inventory(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "notebooks/09-rollout.ipynb"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "QGANB_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stdout[-3000:]
    assert " skipped" in done.stdout and " passed" not in done.stdout
    assert f"no testbed fleet inventory at {cache}/testbed/fleet/inventory.yml" in done.stdout
