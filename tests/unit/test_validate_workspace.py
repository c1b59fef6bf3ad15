"""Where validate keeps its scratch copy and build of a tree: the cache, or the temporary directory
for a tree that lives there."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from qganb.recipes.qemu_tree import QemuTree
from qganb.recipes.validate import workspace_for


def _tree(root: Path) -> QemuTree:
    (root / "qga").mkdir(parents=True)
    (root / "VERSION").write_text("7.2.0\n")
    (root / "qga" / "qapi-schema.json").write_text("{ 'command': 'guest-ping' }\n")
    return QemuTree(root)


def test_a_tree_in_the_temporary_directory_is_built_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    cache = tmp_path / "cache"
    monkeypatch.setenv("QGANB_CACHE_DIR", str(cache))
    tree = _tree(tmp_path / "temporary" / "t" / "qemu-7.2.0")
    workspace = workspace_for(tree)
    assert workspace.parent == (tmp_path / "temporary" / "t").resolve(), "beside the tree: it goes with it"
    assert workspace.name.startswith(".qganb-validate-qemu-7.2.0-")
    assert not cache.exists() or not (cache / "validate").exists()


def test_a_tree_right_in_the_temporary_directory_keeps_its_build_in_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a fixed name in a directory every user writes to."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    monkeypatch.setenv("QGANB_CACHE_DIR", str(tmp_path / "cache"))
    tree = _tree(tmp_path / "temporary" / "qemu-7.2.0")
    assert workspace_for(tree).parent == tmp_path / "cache" / "validate"


def test_a_tree_elsewhere_keeps_its_build_in_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    (tmp_path / "temporary").mkdir()
    monkeypatch.setenv("QGANB_CACHE_DIR", str(tmp_path / "cache"))
    one, other = _tree(tmp_path / "work" / "a" / "qemu-7.2.0"), _tree(tmp_path / "work" / "b" / "qemu-7.2.0")
    assert workspace_for(one).parent == tmp_path / "cache" / "validate"
    assert workspace_for(one) != workspace_for(other), "each tree has its own scratch copy"
    assert workspace_for(one) == workspace_for(QemuTree(one.root)), "and finds it again"
