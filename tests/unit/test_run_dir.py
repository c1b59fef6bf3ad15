"""RunDir: typed records in, typed records out, and a changed result drops what was built on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qganb.errors import StageMissing
from qganb.rpm.rpmbuild import BuiltPackage
from qganb.stages.records import (
    BuildRecord,
    DiffRecord,
    EditRecord,
    FetchRecord,
    InstallRecord,
    PrepRecord,
    RolloutRecord,
    VerifyRecord,
)
from qganb.stages.run_dir import RunDir


def fetched(sha: str = "a" * 64) -> FetchRecord:
    return FetchRecord(Path("/cache/q.src.rpm"), sha, "qemu-guest-agent", "10", "7.2.0", "3.el7", "not signed",
                       "/tmp/q.src.rpm")


def edited(commands: list[str]) -> EditRecord:
    return EditRecord([f"/r/{c}.yaml" for c in commands], commands, ["qga/qapi-schema.json"],
                      {c: f"void qmp_{c}(Error **errp)" for c in commands}, "7.2.0")


def full_run(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.record(fetched())
    run.record(PrepRecord(Path("/t"), Path("/t/q.spec"), Path("/t/qemu"), "b" * 40, "q", "a" * 64))
    run.record(edited(["guest-a"]))
    run.record(DiffRecord(Path("/p/q.patch"), "git diff", "c" * 64, ["qga/commands-posix.c"]))
    run.record(BuildRecord([BuiltPackage(Path("/r/q.x86_64.rpm"), "q-10:7.2.0-3.el7.qganb1.x86_64")], "/l"))
    run.record(VerifyRecord("d", "qemu:///system", "7.2.0", {"guest-a": True}, [], True))
    return run


def test_records_come_back_typed(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    record = run.load(FetchRecord)
    assert record == fetched() and isinstance(record.path, Path)
    assert record.nevra == "qemu-guest-agent-10:7.2.0-3.el7.src"
    packages = run.load(BuildRecord).packages
    assert isinstance(packages[0], BuiltPackage) and packages[0].path == Path("/r/q.x86_64.rpm")
    assert run.recorded_stages() == ["fetch", "prep", "edit", "diff", "build", "verify"]


def test_the_same_result_again_keeps_the_later_stages(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    run.record(edited(["guest-a"]))
    assert run.recorded_stages() == ["fetch", "prep", "edit", "diff", "build", "verify"]


def test_a_changed_result_drops_every_later_stage_and_keeps_the_earlier(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    run.record(edited(["guest-a", "guest-b"]))
    assert run.recorded_stages() == ["fetch", "prep", "edit"]
    assert run.loaded(VerifyRecord) is None
    with pytest.raises(StageMissing, match=r"the diff stage has not run .*notebook 04-diff"):
        run.load(DiffRecord)


def test_a_new_src_rpm_invalidates_the_whole_run(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    run.record(fetched("f" * 64))
    assert run.recorded_stages() == ["fetch"]


def test_the_last_stage_changes_nothing_before_it(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    run.record(VerifyRecord("d", "qemu:///system", "7.2.0", {"guest-a": False}, [], False))
    assert run.recorded_stages() == ["fetch", "prep", "edit", "diff", "build", "verify"]
    assert run.load(VerifyRecord).passed is False


def test_a_record_of_another_version_asks_for_the_stage_again(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    manifest = json.loads(run.manifest_path.read_text())
    manifest["stages"]["edit"]["record_version"] = 99
    run.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(StageMissing, match="version 99.*run the edit stage again"):
        run.load(EditRecord)


def test_an_existing_run_must_have_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(StageMissing, match="not a run directory"):
        RunDir.existing(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


def test_the_same_src_rpm_from_another_place_keeps_the_run(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    moved = FetchRecord(Path("/cache/q.src.rpm"), "a" * 64, "qemu-guest-agent", "10", "7.2.0", "3.el7",
                        "not signed", "https://example.org/q.src.rpm")
    run.record(moved)
    assert run.recorded_stages() == ["fetch", "prep", "edit", "diff", "build", "verify"]
    assert run.load(FetchRecord).source == "https://example.org/q.src.rpm", "the new provenance is kept"


def rolled_out(tmp_path: Path) -> RolloutRecord:
    return RolloutRecord(
        inventory="/i/fleet.yml", builds=["qemu-guest-agent-10:7.2.0-3.el7.qganb1.x86_64"], serial=[1, "25%", "100%"],
        max_fail_percentage=0, check=False, limit=None,
        hosts={"g1": "installed", "g2": "rolled back", "g3": "not reached"},
        counts={"installed": 1, "rolled back": 1, "not reached": 1}, ok=False, stopped=True, seconds=61.5,
        report=tmp_path / "run" / "rollout" / "rollout.json", summary="rollout of 3 host(s) stopped")


def installed() -> InstallRecord:
    return InstallRecord("root@g", "d", "qemu:///system", "a-1", "a-2", "7.2.0", ["rpm", "-Uvh"], [], [], [],
                         {"install": 9.0}, "/l")


def test_a_rollout_record_round_trips_as_plain_json(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    record = rolled_out(tmp_path)
    run.record(record)
    assert run.load(RolloutRecord) == record
    assert run.load(RolloutRecord).serial == [1, "25%", "100%"]  # counts stay numbers, percentages strings
    assert isinstance(run.load(RolloutRecord).report, Path)
    stored = json.loads(run.manifest_path.read_text())["stages"]["rollout"]
    assert stored["report"] == str(record.report) and stored["hosts"]["g2"] == "rolled back"
    assert run.recorded_stages()[-1] == "rollout"


def test_the_rollout_is_built_on_the_build_not_on_a_single_guest_install(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    run.record(rolled_out(tmp_path))
    run.record(installed())  # an install on one guest from the same run: the fleet's record stays
    assert run.recorded_stages() == ["fetch", "prep", "edit", "diff", "build", "install", "rollout"]
    run.record(BuildRecord([BuiltPackage(Path("/r/q2.x86_64.rpm"), "q-10:7.2.0-3.el7.qganb2.x86_64")], "/l"))
    assert run.recorded_stages() == ["fetch", "prep", "edit", "diff", "build"]
