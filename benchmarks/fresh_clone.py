"""A fresh clone of this checkout's HEAD, and `make TARGET` timed in it: what a new user gets.

Shared by the benchmarks that measure a first contact (`first_demo.py`, `suite_time.py`).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def clone_head(prefix: str) -> Path:
    """A clone of HEAD in a new scratch directory (remove its parent when done)."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    scratch.chmod(0o755)  # libvirt's QEMU user opens the guests' disks under the clone's .cache
    clone = scratch / "qganb"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


def timed_make(clone: Path, target: str, log: Path, env: Mapping[str, str]) -> float:
    """`make TARGET` in `clone`, its output into `log`; the wall time. A failure stops the benchmark
    with the exit status and the log's last lines."""
    began = time.monotonic()
    with open(log, "w") as out:
        done = subprocess.run(["make", target], cwd=clone, stdout=out, stderr=subprocess.STDOUT, env=dict(env))
    wall = time.monotonic() - began
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(f"`make {target}` failed (exit {done.returncode}) after {wall:.0f} s; last lines of {log}:\n"
                         + "\n".join(tail))
    return wall
