"""The spec stage: the pristine spec from prep, copied into the build topdir with the new patch
added so that it applies last (see qganb.rpm.spec_edit)."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict
from pathlib import Path

from qganb.rpm.spec_edit import add_patch_to_spec
from qganb.stages.records import DiffRecord, EditRecord, PrepRecord, SpecRecord
from qganb.stages.run_dir import RunDir


def _build_topdir(run_dir: RunDir, prepped: PrepRecord) -> Path:
    """The run's rpmbuild topdir for the build: SOURCES hard-linked from prep's, SPECS of its own."""
    top = run_dir.build_topdir
    sources = top / "SOURCES"
    sources.mkdir(parents=True, exist_ok=True)
    (top / "SPECS").mkdir(exist_ok=True)
    for src in (prepped.topdir / "SOURCES").iterdir():
        dst = sources / src.name
        if not dst.exists():
            os.link(src, dst)
    return top


def run(run_dir: RunDir, changelog: str | None = None) -> SpecRecord:
    """Copy the pristine spec from prep and add the diff stage's patch to it (idempotent)."""
    prepped = run_dir.load(PrepRecord)
    patch = run_dir.load(DiffRecord)
    commands = run_dir.load(EditRecord).commands
    top = _build_topdir(run_dir, prepped)
    shutil.copyfile(patch.path, top / "SOURCES" / patch.path.name)
    spec_path = top / "SPECS" / prepped.spec.name
    shutil.copyfile(prepped.spec, spec_path)
    record = SpecRecord(**asdict(add_patch_to_spec(spec_path, patch.path.name, commands, changelog)))
    run_dir.record(record)
    return record
