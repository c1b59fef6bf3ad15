"""One run directory per pipeline run: every stage reads what earlier stages wrote to its manifest.

Layout: `manifest.json`, `logs/`, and each stage's own subdirectory. The manifest is rewritten
atomically after each stage, so a failed stage never leaves it half-written.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from qganb import paths
from qganb.errors import QganbError

STAGES = ("fetch", "prep", "edit", "diff", "spec", "build", "install", "verify")


class StageMissing(QganbError):
    """A stage needs the result of an earlier one that has not run."""


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "logs").mkdir(exist_ok=True)

    @classmethod
    def create(cls, run_id: str | None = None) -> RunDir:
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        return cls(paths.runs_dir() / run_id)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.is_file():
            return {"stages": {}}
        return json.loads(self.manifest_path.read_text())

    def stage(self, name: str) -> dict[str, Any]:
        """What stage `name` recorded, or StageMissing naming the stage to run first."""
        recorded = self.manifest()["stages"].get(name)
        if recorded is None:
            raise StageMissing(f"the {name} stage has not run in {self.path}",
                               f"run the {name} stage (notebook {STAGES.index(name) + 1:02d}-{name}) first")
        return recorded

    def has_stage(self, name: str) -> bool:
        return name in self.manifest()["stages"]

    def record(self, name: str, data: dict[str, Any]) -> None:
        manifest = self.manifest()
        previous = dict(manifest["stages"].get(name) or {})
        previous.pop("finished", None)
        data = json.loads(json.dumps(data, default=str))
        manifest["stages"][name] = {**data, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if previous != data:
            # Later stages built on the old result are no longer valid.
            for later in STAGES[STAGES.index(name) + 1:]:
                manifest["stages"].pop(later, None)
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=self.path)
        with os.fdopen(fd, "w") as f:
            json.dump(manifest, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, self.manifest_path)

    def log(self, name: str) -> Path:
        return self.path / "logs" / f"{name}.log"

    def subdir(self, name: str) -> Path:
        path = self.path / name
        path.mkdir(parents=True, exist_ok=True)
        return path
