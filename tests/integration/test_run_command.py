"""`qganb run` end to end: the stage notebooks under papermill, the real testbed guest, the report;
and a run that fails at build, is fixed, and resumes with --from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qganb.stages.records import InstallRecord
from qganb.stages.run_dir import RunDir
from qganb.stages.table import route

pytestmark = [pytest.mark.testbed, pytest.mark.fixture_build]
ROOT = Path(__file__).resolve().parents[2]


def qganb_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qganb", "run", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=1800)


def kernel_pids() -> set[str]:
    found = subprocess.run(["pgrep", "-f", "ipykernel_launcher"], capture_output=True, text=True, check=False)
    return set(found.stdout.split())


def test_run_takes_a_recipe_from_the_srpm_to_a_verified_guest(stock_testbed, tmp_path: Path) -> None:
    done = qganb_run("--recipe", "recipes/guest-get-uptime.yaml", "--run", str(tmp_path / "run"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stages = route(fleet=False)  # no --inventory: fetch ... build, install, verify (no rollout)
    for number, stage in enumerate(stages, 1):
        assert f"[{number}/{len(stages)}] {stage.name}: {stage.notebook}" in done.stdout
    # rpmbuild's log streams to the terminal, each line once, and stays out of the executed notebook.
    assert done.stdout.count("| Executing(%build)") == 1
    build_cells = json.loads((tmp_path / "run" / "notebooks" / "06-build.ipynb").read_text())["cells"]
    streamed = "".join("".join(o.get("text", "")) for c in build_cells for o in c.get("outputs", [])
                       if o.get("output_type") == "stream")
    assert "Executing(%build)" not in streamed
    assert "verification: passed (1/1 cases)" in done.stdout
    assert "installed qemu-guest-agent-10:7.2.0-3.el7.qganb1.x86_64" in done.stdout  # streamed from the stage
    run = RunDir(tmp_path / "run")
    assert run.recorded_stages() == [s.name for s in stages]  # every stage of the run recorded itself, verify too
    assert json.loads((run.path / "verification.json").read_text())["passed"] is True
    executed = json.loads((run.path / "notebooks" / "03-edit.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "guest-get-uptime.yaml" in "".join(injected[0]["source"])
    report = (run.path / "report.html").read_text()
    assert "<svg" in report and "Verification: passed" in report and "guest-get-uptime" in report
    assert (run.path / "report" / "08-verify.html").is_file()


def test_a_failed_run_stops_at_its_cell_and_resumes_from_there(stock_testbed, tmp_path: Path) -> None:
    good = (ROOT / "recipes" / "guest-get-uptime.yaml").read_text()
    recipe = tmp_path / "guest-get-uptime.yaml"
    recipe.write_text(good.replace("    up = g_ascii_strtod(text, &end);", "    up = no_such_function(text);"))
    run = tmp_path / "run"
    kernels_before = kernel_pids()
    failed = qganb_run("--recipe", str(recipe), "--run", str(run))
    assert failed.returncode == 1
    # The failed stage's kernel and the one started ahead for the next stage are both gone.
    assert kernel_pids() - kernels_before == set()
    assert "[6/8] build" in failed.stdout and "[7/8]" not in failed.stdout
    assert "qganb: error: stage build failed in cell" in failed.stderr
    assert f"resume with `qganb run --run {run} --from build`" in failed.stderr
    assert "no_such_function" in failed.stderr  # the log tail shows the compiler's complaint
    assert json.loads((run / "timings.json").read_text())["failed"] == "build"

    recipe.write_text(good)
    resumed = qganb_run("--run", str(run), "--from", "edit")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[1/6] edit" in resumed.stdout and "fetch:" not in resumed.stdout
    assert "verification: passed (1/1 cases)" in resumed.stdout


def test_the_seed_world_centos7_qemu_2_12_upgrades_the_guests_stock_agent(stock_testbed, tmp_path: Path) -> None:
    """The procedure qganb automates, as its author ran it: CentOS 7's qemu-guest-agent 2.12.0 src.rpm
    (el7 fixture from the upstream 2.12.0 release) and the two seed commands, on a guest that runs
    that src.rpm's own stock build, so the install is an upgrade; the commands then answer through
    `virsh qemu-agent-command`."""
    from qganb.testbed.fixture_srpm import build_fixture_srpm
    from tests.guest_faults import put_stock_agent_back

    fixture = build_fixture_srpm("2.12", "el7")
    try:
        _run_the_seed_world(fixture.path, tmp_path)
    finally:
        put_stock_agent_back()  # the guest's usual stock (7.2) for the tests after this one


def _run_the_seed_world(srpm: Path, tmp_path: Path) -> None:
    from qganb.agent.virsh import VirshAgent
    from qganb.rpm.query import nevra_of
    from qganb.testbed import guest

    done = qganb_run("--srpm", str(srpm), "--recipe", "recipes/guest-set-watchdog-timeout.yaml",
                     "--recipe", "recipes/guest-get-cpu-usage-rate.yaml", "--run", str(tmp_path / "run"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert "testbed: the guest starts from qemu-guest-agent-10:2.12.0-3.el7.x86_64" in done.stdout
    assert "installed qemu-guest-agent-10:2.12.0-3.el7.qganb1.x86_64" in done.stdout
    installed = RunDir(tmp_path / "run").load(InstallRecord)
    assert installed.previous == "qemu-guest-agent-10:2.12.0-3.el7.x86_64", "an upgrade from the stock build"
    assert "verification: passed (" in done.stdout
    assert str(nevra_of(guest.stock_rpm(srpm))) == "qemu-guest-agent-10:2.12.0-3.el7.x86_64"

    agent = VirshAgent(guest.DOMAIN)
    info = agent.execute("guest-info", None, timeout=30)
    assert info["version"] == "2.12.0"
    names = {c["name"]: c["enabled"] for c in info["supported_commands"]}
    assert names["guest-set-watchdog-timeout"] is True and names["guest-get-cpu-usage-rate"] is True
    rate = agent.execute("guest-get-cpu-usage-rate", None, timeout=30)
    assert isinstance(rate, (int, float)) and 0 <= rate <= 100
