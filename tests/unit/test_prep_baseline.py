"""The prep stage's baseline commit of a QEMU-sized tree starts no `git gc` beside the build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qganb.stages.prep import make_baseline


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=True).stdout


def test_a_tree_over_gits_loose_object_limit_is_committed_and_never_repacked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "qemu"
    for i in range(9000):  # above git's default gc.auto of 6700 loose objects, as a QEMU tree is
        path = tree / f"d{i % 70}" / f"f{i}.c"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"int f{i};\n")
    # The auto gc a commit starts runs in the foreground here, so that its packing shows below.
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "gc.autoDetach")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "false")

    commit = make_baseline(tree, "pristine")

    assert _git(tree, "rev-parse", "HEAD").strip() == commit
    assert _git(tree, "status", "--porcelain") == ""
    counts = dict(line.split(": ") for line in _git(tree, "count-objects", "-v").splitlines())
    assert counts["packs"] == "0", f"the baseline commit repacked the tree: {counts}"
