"""A run that rolled out to a fleet says so: in report.html and at the end of `qganb run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.fleet.report import HostOutcome, RolloutReport
from qganb.stages.records import RolloutRecord
from qganb.stages.run_dir import RunDir


def rolled_out(run: RunDir) -> RolloutRecord:
    report = RolloutReport("/i/fleet.yml", ["qemu-guest-agent-10:7.2.0-3.el7.qganb1.x86_64"], [1, "50%"], 0, False,
                           None, seconds=51.0)
    report.hosts = [HostOutcome("g1", "installed", 1, "a-1", "a-2", "b", "passed", started=0, ended=20),
                    HostOutcome("g2", "rolled back", 2, "a-1", "a-1", "b", "", "the new agent <did not> answer",
                                started=21, ended=50),
                    HostOutcome("g3")]
    path = run.subdir("rollout") / "rollout.json"
    report.save(path)
    return RolloutRecord(inventory=report.inventory, builds=report.builds, serial=report.serial,
                         max_fail_percentage=0, check=False, limit=None,
                         hosts={h.host: h.status for h in report.hosts}, counts=report.counts(), ok=report.ok,
                         stopped=report.stopped, seconds=report.seconds, report=path, summary=report.summary())


def test_the_report_shows_the_rollouts_hosts_and_timeline(tmp_path: Path) -> None:
    from qganb.notebook.report import write_report

    run = RunDir(tmp_path / "run")
    run.record(rolled_out(run))
    page = write_report(run, {"build": 12.0, "rollout": 51.0}).read_text()
    assert "rolled out to</th><td><code>/i/fleet.yml (1 installed, 1 rolled back, 1 not reached)" in page
    assert "<h2>Rollout: stopped</h2>" in page
    assert "<td style='text-align:left'><code>rolled back</code></td>" in page
    assert "the new agent &lt;did not&gt; answer" in page  # host notes are escaped
    assert page.count("<svg") == 2  # the stage timings and the rollout's timeline
    assert "Verification" not in page  # no verify stage in a fleet run

    run.load(RolloutRecord).report.unlink()
    page = write_report(run, {}).read_text()
    assert "<h2>Rollout: stopped</h2>" in page and "is gone" in page


def test_run_ends_with_the_rollout_summary_like_the_verification(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from qganb.cli import main
    from qganb.notebook import runner

    run = RunDir(tmp_path / "run")
    record = rolled_out(run)
    asked: list[runner.RunRequest] = []

    def start_run(request: runner.RunRequest, **_: object) -> runner.RunResult:
        asked.append(request)
        return runner.RunResult(run.path, {"build": 12.0, "rollout": 51.0}, run.path / "report.html", rollout=record)

    monkeypatch.setattr(runner, "start_run", start_run)
    inventory = tmp_path / "fleet.ini"
    inventory.write_text("[fleet]\ng1\n")
    assert main(["run", "--recipe", "r.yaml", "--inventory", str(inventory), "--check"]) == 0
    (request,) = asked
    assert request.values["inventory"] == str(inventory) and request.values["check"] is True
    assert request.until_stage == ""  # the route's last stage
    out = capsys.readouterr().out
    assert f"rollout: {record.summary} (hosts: {record.report})" in out
    assert "verification:" not in out
