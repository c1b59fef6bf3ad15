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


def _copy_by_rename(source: Path, target: Path) -> None:
    scratch = target.with_name(f".{target.name}.qganb-copy")
    shutil.copyfile(source, scratch)
    os.replace(scratch, target)


def run(run_dir: RunDir, changelog: str | None = None) -> SpecRecord:
    """Copy the pristine spec from prep and add the diff stage's patch to it (idempotent)."""
    prepped = run_dir.load(PrepRecord)
    patch = run_dir.load(DiffRecord)
    commands = run_dir.load(EditRecord).commands
    top = _build_topdir(run_dir, prepped)
    # SOURCES are hard links to prep's files, and a src.rpm qganb built carries an older patch of
    # the same name: replace by rename, never write through a link into prep's copy.
    _copy_by_rename(patch.path, top / "SOURCES" / patch.path.name)
    spec_path = top / "SPECS" / prepped.spec.name
    _copy_by_rename(prepped.spec, spec_path)
    record = SpecRecord(**asdict(add_patch_to_spec(spec_path, patch.path.name, commands, changelog)))
    run_dir.record(record)
    return record
