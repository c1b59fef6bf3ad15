"""Copies of the RPMs qganb installed (or that a guest is known to run), kept by NEVRA in qganb's
cache, so that a later install can roll back to them without the operator finding them again."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from qganb import paths
from qganb.digests import sha256_of
from qganb.rpm.query import nevra_of


def _kept_dir() -> Path:
    path = paths.cache_dir() / "installed-rpms"
    path.mkdir(parents=True, exist_ok=True)
    return path


def keep_rpm(rpm: Path) -> Path:
    """Keep a copy of `rpm` under its NEVRA; return the copy."""
    kept = _kept_dir() / str(nevra_of(rpm)) / rpm.name
    # Rebuilds can share a NEVRA (each fresh run makes .qganb1): keep the one installed last.
    if not kept.is_file() or sha256_of(kept) != sha256_of(rpm):
        kept.parent.mkdir(parents=True, exist_ok=True)
        # A scratch name of its own: a rollout's hosts keep the same package at the same time.
        handle, scratch = tempfile.mkstemp(prefix=f".{rpm.name}.", suffix=".partial", dir=kept.parent)
        os.close(handle)
        try:
            shutil.copyfile(rpm, scratch)
            os.replace(scratch, kept)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise
    return kept


def kept_rpm(nevra: str) -> Path | None:
    found = sorted((_kept_dir() / nevra).glob("*.rpm"))
    return found[0] if found else None
