"""A pristine, unpacked QEMU tree from the fixture sources, for trying recipes without an RPM."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from qganb import paths
from qganb.process import run
from qganb.testbed import qemu_source
from qganb.testbed.source_origin import orig_tarball


def unpacked_tree(series: str, refresh: bool = False, source: str | None = None) -> Path:
    """The tree of QEMU `series`, unpacked once into qganb's cache (treat it as read-only)."""
    cache = paths.cache_dir()
    orig, orig_path = orig_tarball(series, refresh=refresh, source=source)
    source_dir = qemu_source.prepare(orig, orig_path, cache / "qemu")
    final = cache / "trees" / source_dir.directory.name
    tree = final / f"qemu-{source_dir.version}"
    if tree.is_dir():
        return tree
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=final.parent))
    try:
        run(["tar", "--no-same-owner", "-xf", source_dir.tarball, "-C", scratch], log_path=scratch / "tar.log")
        (scratch / "tar.log").unlink()
        try:
            os.replace(scratch, final)
        except OSError:
            if not tree.is_dir():  # not a twin that another process unpacked meanwhile: a real error
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return tree
