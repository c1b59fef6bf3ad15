"""Where qganb keeps its cache and its runs."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def source_checkout() -> Path | None:
    """The project checkout this package is imported from (editable install), if any."""
    root = _PACKAGE_DIR.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "qganb"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def cache_dir() -> Path:
    """QGANB_CACHE_DIR, else the checkout's git-ignored `.cache/`, else the XDG cache."""
    if env := os.environ.get("QGANB_CACHE_DIR"):
        path = Path(env)
    elif (root := source_checkout()) is not None:
        path = root / ".cache"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(xdg) / "qganb"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """QGANB_RUNS_DIR, else the checkout's git-ignored `runs/`, else `./runs`."""
    if env := os.environ.get("QGANB_RUNS_DIR"):
        return Path(env)
    root = source_checkout()
    return (root if root is not None else Path.cwd()) / "runs"
