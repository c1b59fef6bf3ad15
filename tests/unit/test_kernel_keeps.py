"""What a kernel keeps between `%%qga_recipe --validate` runs is used only while it is still true:
the tree a QEMU series resolves to, and a sandbox layer made ahead."""

from __future__ import annotations

import collections
import os
import shutil
from pathlib import Path

import pytest

from qganb.notebook import recipe_validation
from qganb.notebook.recipe_validation import LayersAhead, series_tree


@pytest.fixture()
def resolutions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of unpacked_tree, against a cache of our own."""
    import qganb.testbed.source_tree as source_tree

    cache = tmp_path / "cache"
    (cache / "debian" / "lists").mkdir(parents=True)
    (cache / "debian" / "sources.list").write_text("deb-src ...\n")
    tree = tmp_path / "qemu-7.2.0"
    tree.mkdir()
    (tree / "VERSION").write_text("7.2.0\n")
    calls: list[str] = []

    def unpacked_tree(series: str) -> Path:
        calls.append(series)
        return tree

    monkeypatch.setenv("QGANB_CACHE_DIR", str(cache))
    monkeypatch.setattr(source_tree, "unpacked_tree", unpacked_tree)
    monkeypatch.setattr(recipe_validation, "_series_trees", {})
    return calls


def test_a_series_is_resolved_again_only_when_its_inputs_changed(resolutions: list[str], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    tree = series_tree("7.2")
    assert series_tree("7.2") == tree and resolutions == ["7.2"]
    (cache / "debian" / "lists" / "deb.debian.org_dists_bookworm_main_source_Sources").write_text("")
    series_tree("7.2")  # apt-get update wrote new indexes
    assert resolutions == ["7.2", "7.2"]
    series_tree("7.2")
    (cache / "debian" / "sources.list").write_text("deb-src ... other\n")
    series_tree("7.2")
    assert resolutions == ["7.2", "7.2", "7.2"]
    monkeypatch.setenv("QGANB_DEBIAN_MIRROR", "http://mirror.invalid/debian")
    series_tree("7.2")
    assert len(resolutions) == 4
    (tree / "VERSION").unlink()  # the cached tree was cleaned away
    series_tree("7.2")
    assert len(resolutions) == 5
    series_tree("2.12")
    assert resolutions[-1] == "2.12"


needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@needs_bwrap
def test_a_layer_made_ahead_is_used_while_the_watched_directory_is_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A directory of our own stands in for /etc: what matters is that the watch decides.
    etc = tmp_path / "etc"
    (etc / "modprobe.d").mkdir(parents=True)
    monkeypatch.setattr(recipe_validation, "ETC", etc)
    layers = LayersAhead()
    try:
        layers.prepare_next()
        layers.settle()
        ahead = layers._ahead
        assert ahead is not None
        first = layers.new()
        assert first is ahead[1] and layers.used_ahead == 1
        layers.done([first])

        layers.prepare_next()
        layers.settle()
        (etc / "modprobe.d" / "watchdog.conf").write_text("options i6300esb heartbeat=30\n")
        second = layers.new()
        assert layers.used_ahead == 1 and second is not first  # a new copy, made after the change
        layers.done([second])
        layers.settle()
        assert not first.layer.exists() and not second.layer.exists()
    finally:
        layers.close()


@needs_bwrap
def test_nothing_is_made_ahead_when_the_directory_cannot_be_watched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recipe_validation, "watchable", lambda path: False)
    layers = LayersAhead()
    layers.prepare_next()
    layers.settle()
    assert layers._ahead is None
    fresh = layers.new()
    try:
        assert layers.used_ahead == 0
    finally:
        layers.done([fresh])
        layers.close()
    assert not os.path.exists(fresh.layer)


def test_only_the_newest_results_keep_their_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    from qganb.errors import QganbError
    from qganb.notebook.recipe_validation import RecipeValidation
    from qganb.recipes.validate import ValidationReport

    monkeypatch.setattr(RecipeValidation, "_with_plans", collections.deque())
    results = [RecipeValidation(ValidationReport("/t", "7.2.0", ["guest-x"], plan=object()))  # type: ignore[arg-type]
               for _ in range(RecipeValidation.KEEP_PLANS + 1)]
    assert results[0].report.plan is None and all(r.report.plan is not None for r in results[1:])
    with pytest.raises(QganbError, match="older than the 8 newest"):
        results[0].preview
