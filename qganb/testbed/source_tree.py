"""A pristine, unpacked QEMU tree from the fixture sources, for trying recipes without an RPM."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from qganb import paths
from qganb.process import run
from qganb.testbed import qemu_source
from qganb.testbed.debian_sources import PrivateApt, check_series


def unpacked_tree(series: str, refresh: bool = False) -> Path:
    """The tree of QEMU `series`, unpacked once into qganb's cache (treat it as read-only)."""
    check_series(series)
    cache = paths.cache_dir()
    apt = PrivateApt(cache / "debian")
    orig = apt.resolve(series, refresh=refresh)
    source = qemu_source.prepare(orig, apt.fetch(orig), cache / "qemu")
    final = cache / "trees" / source.directory.name
    tree = final / f"qemu-{source.version}"
    if tree.is_dir():
        return tree
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=final.parent))
    try:
        run(["tar", "--no-same-owner", "-xf", source.tarball, "-C", scratch], log_path=scratch / "tar.log")
        (scratch / "tar.log").unlink()
        os.replace(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return tree
