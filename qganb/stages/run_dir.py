"""One run directory per pipeline run: every stage reads the records earlier stages wrote to its
manifest and adds its own.

Layout: `manifest.json`, `logs/`, and each stage's own subdirectory. The manifest is rewritten
atomically after each stage, so a failed stage never leaves it half-written. A stage whose record
changes makes every later stage's record invalid: they are dropped, and must run again.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any, TypeVar

from qganb import paths
from qganb.errors import StageMissing
from qganb.stages.records import StageRecord
from qganb.stages.table import STAGE_NAMES, stage_named, stages_after

R = TypeVar("R", bound=StageRecord)
# Kept beside each record in the manifest; they are not part of what the stage produced.
_BOOKKEEPING = ("finished", "record_version")


def _adapter(kind: type[StageRecord]) -> Any:
    from pydantic import (
        TypeAdapter,  # imported here: the CLI's start-up does not need pydantic
    )

    return TypeAdapter(kind)


def record_to_json(record: StageRecord) -> dict[str, Any]:
    data: dict[str, Any] = _adapter(type(record)).dump_python(record, mode="json")
    return data


def record_from_json(kind: type[R], data: dict[str, Any]) -> R:
    fields = {k: v for k, v in data.items() if k not in _BOOKKEEPING}
    record: R = _adapter(kind).validate_python(fields)
    return record


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "logs").mkdir(exist_ok=True)

    @classmethod
    def create(cls, run_id: str | None = None) -> RunDir:
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        return cls(paths.runs_dir() / run_id)

    @classmethod
    def existing(cls, path: str | Path) -> RunDir:
        """A run directory that must exist already (nothing is created for a mistyped path)."""
        given = Path(path)
        if not (given / "manifest.json").is_file():
            raise StageMissing(f"{given} is not a run directory (no manifest.json)",
                               "check the path; runs are under runs/ unless QGANB_RUNS_DIR says otherwise")
        return cls(given)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def prep_topdir(self) -> Path:
        """rpmbuild's topdir for prep: %prep runs there, and the prepped tree stays in its BUILD."""
        return self.path / "prep" / "rpmbuild"

    @property
    def build_topdir(self) -> Path:
        """rpmbuild's topdir for the build: apart from prep's, whose tree and baseline must survive."""
        return self.path / "rpmbuild"

    @property
    def verification_path(self) -> Path:
        """The verify stage's record as a file of its own, for tools that read it."""
        return self.path / "verification.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.is_file():
            return {"stages": {}}
        manifest: dict[str, Any] = json.loads(self.manifest_path.read_text())
        return manifest

    def recorded_stages(self) -> list[str]:
        """Names of the stages with a record, in pipeline order."""
        stages = self.manifest()["stages"]
        return [name for name in STAGE_NAMES if name in stages]

    def has_stage(self, name: str) -> bool:
        return name in self.manifest()["stages"]

    def finished(self, name: str) -> str:
        return str(self.manifest()["stages"].get(name, {}).get("finished", ""))

    def load(self, kind: type[R]) -> R:
        """The record of `kind`'s stage, or StageMissing naming the stage to run first."""
        stage = stage_named(kind.STAGE)
        data = self.manifest()["stages"].get(stage.name)
        if data is None:
            raise StageMissing(f"the {stage.name} stage has not run in {self.path}",
                               f"run the {stage.name} stage (notebook {stage.notebook[:-6]}) first")
        version = data.get("record_version", 1)
        if version != kind.VERSION:
            raise StageMissing(f"the {stage.name} record in {self.manifest_path} has version {version}; "
                               f"this qganb reads version {kind.VERSION}",
                               f"run the {stage.name} stage again (notebook {stage.notebook[:-6]})")
        return record_from_json(kind, data)

    def loaded(self, kind: type[R]) -> R | None:
        """The record of `kind`'s stage, or None when that stage has not run."""
        return self.load(kind) if self.has_stage(kind.STAGE) else None

    def record(self, record: StageRecord) -> None:
        """Write `record` as its stage's result. When it differs from what that stage recorded
        before, the later stages' records go: they were built on the old result."""
        name = stage_named(record.STAGE).name
        data = record_to_json(record)
        manifest = self.manifest()
        before = manifest["stages"].get(name)
        manifest["stages"][name] = {**data, "record_version": record.VERSION,
                                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if not self._same(type(record), before, record):
            for later in stages_after(name):
                manifest["stages"].pop(later.name, None)
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=self.path)
        with os.fdopen(fd, "w") as f:
            json.dump(manifest, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, self.manifest_path)

    @staticmethod
    def _same(kind: type[R], before: dict[str, Any] | None, record: StageRecord) -> bool:
        """Record equality, as the record type defines it (a fetch record's source is not part of it)."""
        if before is None or before.get("record_version", 1) != kind.VERSION:
            return False
        try:
            return record_from_json(kind, before) == record
        except ValueError:  # pydantic's ValidationError: a record of another shape
            return False

    def log(self, name: str) -> Path:
        return self.path / "logs" / f"{name}.log"

    def subdir(self, name: str) -> Path:
        path = self.path / name
        path.mkdir(parents=True, exist_ok=True)
        return path
