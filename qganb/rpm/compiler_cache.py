"""Compiler caching for the builds qganb runs (rpmbuild and validate's qemu-ga builds).

A recipe change touches one or two C files, yet `rpmbuild -bb` recompiles all of qemu-ga from a
freshly unpacked tree. ccache's masquerade directory first on PATH makes every `cc`/`gcc` the
spec or meson calls a cached one, so only the edited files really compile; the build itself, the
spec's %prep with every patch, configure and packaging, stays exactly what rpmbuild does.
Set QGANB_CCACHE=0 to build without it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from qganb import file_lock, paths
from qganb.process import LineSink

# Debian/Ubuntu, then Fedora/EL: where the ccache package puts its cc/gcc symlinks.
MASQUERADE_DIRS = (Path("/usr/lib/ccache"), Path("/usr/lib64/ccache"))
MAX_SIZE = "5G"


def masquerade_dir() -> Path | None:
    if os.environ.get("QGANB_CCACHE", "1") == "0" or shutil.which("ccache") is None:
        return None
    return next((d for d in MASQUERADE_DIRS if (d / "gcc").exists()), None)


def compiler_cache_env(base_dir: Path) -> dict[str, str]:
    """Environment for a build under `base_dir`; empty when ccache is off or not installed.

    Builds of the same tree happen in a new directory each run (a fresh rpmbuild BUILD tree), so
    paths under `base_dir` are hashed relative to it and the working directory is left out of
    the hash (NOHASHDIR): otherwise every run would miss. The cost is that debug info of a cached
    object names the directory of the build that first compiled it.
    """
    masquerade = masquerade_dir()
    if masquerade is None:
        return {}
    return {
        "PATH": f"{masquerade}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "CCACHE_DIR": os.environ.get("CCACHE_DIR") or str(paths.cache_dir() / "ccache"),
        "CCACHE_BASEDIR": str(base_dir),
        "CCACHE_NOHASHDIR": "1",
        "CCACHE_MAXSIZE": os.environ.get("CCACHE_MAXSIZE", MAX_SIZE),
    }


@contextlib.contextmanager
def one_build_of(source_digest: str, on_wait: LineSink | None = None) -> Iterator[None]:
    """Hold while compiling the sources of the src.rpm with this digest. Two builds of one source at
    once (the testbed's stock rebuild and the pipeline's patched build of the same src.rpm, as
    `make demo` starts them) would both miss the compiler cache and share the CPU; in turns, the
    second one finds nearly every object cached. Without a compiler cache there is nothing to wait for."""
    if masquerade_dir() is None:
        yield
        return
    with file_lock.held(paths.cache_dir() / "locks" / f"compile-{source_digest[:16]}.lock", on_wait=on_wait,
                        what="another build of the same sources (its compiler cache then serves this one)"):
        yield
