"""The kernel's kept tree listing: reused only while inotify saw no change of any kind under the tree."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from qganb.recipes.tree_mirror import TreeListing, mirror_tree
from qganb.recipes.kept_listing import KeptListing, KeptListings
from qganb.tree_watch import TreeWatch, watchable


def _tree(root: Path) -> None:
    (root / "qga" / "deep").mkdir(parents=True)
    (root / "qga" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "qga" / "deep" / "x.h").write_text("#define X 1\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "README").write_text("qemu\n")
    (root / "COPYING.link").symlink_to("README")


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


pytestmark = pytest.mark.skipif(not watchable(Path(os.environ.get("TMPDIR", "/tmp"))),
                                reason="the temporary directory is not on a file system inotify fully sees")


CHANGES: dict[str, Callable[[Path], None]] = {
    "content, same size": lambda r: (r / "qga" / "main.c").write_text("int main(void) { return 1; }\n"),
    "appended": lambda r: _append(r / "qga" / "deep" / "x.h", "#define Y 2\n"),
    "mtime only": lambda r: os.utime(r / "README", ns=(1, 1)),
    "mode": lambda r: (r / "README").chmod(0o600),
    "new file in a subdirectory": lambda r: (r / "qga" / "deep" / "new.c").write_text(""),
    "deleted": lambda r: (r / "qga" / "deep" / "x.h").unlink(),
    "renamed": lambda r: (r / "README").rename(r / "README.md"),
    "symlink retargeted": lambda r: ((r / "COPYING.link").unlink(), (r / "COPYING.link").symlink_to("qga")),
    "new directory": lambda r: (r / "docs").mkdir(),
    "subdirectory removed": lambda r: shutil.rmtree(r / "qga" / "deep"),
    "root removed": lambda r: shutil.rmtree(r),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_kind_of_change_is_seen(tmp_path: Path, change: str) -> None:
    root = tmp_path / "tree"
    _tree(root)
    watch = TreeWatch(root)
    try:
        assert not watch.changed()
        CHANGES[change](root)
        assert watch.changed()
        assert watch.changed()  # stays changed
    finally:
        watch.close()


def test_reading_and_git_do_not_count_as_changes(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _tree(root)
    watch = TreeWatch(root)
    try:
        (root / "qga" / "main.c").read_text()
        TreeListing(root).raw()
        mirror_tree(root, tmp_path / "copy", skip=set())
        (root / ".git" / "HEAD").write_text("ref: refs/heads/other\n")  # find's listing prunes .git too
        assert not watch.changed()
    finally:
        watch.close()


def test_kept_listing_is_reused_until_the_tree_changes(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _tree(root)
    kept = KeptListings()
    try:
        first = kept.listing(root)
        assert isinstance(first, KeptListing) and first.raw() == TreeListing(root).raw()
        again = kept.listing(root)
        assert again.raw() == first.raw() and kept.reused == 1
        (root / "qga" / "main.c").write_text("int main(void) { return 2; }\n")
        fresh = kept.listing(root)
        assert kept.reused == 1 and fresh.raw() == TreeListing(root).raw() != first.raw()
        assert kept.listing(root).raw() == fresh.raw() and kept.reused == 2
    finally:
        kept.forget()


def test_the_mirror_made_from_a_kept_listing_matches_the_tree(tmp_path: Path) -> None:
    root, copy = tmp_path / "tree", tmp_path / "copy"
    _tree(root)
    kept = KeptListings()
    try:
        mirror_tree(root, copy, skip=set(), listing=kept.listing(root))
        (root / "qga" / "deep" / "x.h").write_text("#define X 22\n")
        assert mirror_tree(root, copy, skip=set(), listing=kept.listing(root)) == 1
        assert (copy / "qga" / "deep" / "x.h").read_text() == "#define X 22\n"
        assert mirror_tree(root, copy, skip=set(), listing=kept.listing(root)) == 0
    finally:
        kept.forget()


def test_at_most_the_given_number_of_trees_is_kept(tmp_path: Path) -> None:
    kept = KeptListings(trees=2)
    try:
        for name in ("a", "b", "c"):
            _tree(tmp_path / name)
            kept.listing(tmp_path / name)
        kept.listing(tmp_path / "a")  # dropped when c came: listed again, not reused
        assert kept.reused == 0
        kept.listing(tmp_path / "c")
        assert kept.reused == 1
    finally:
        kept.forget()


def test_a_symlink_to_a_directory_is_not_a_change(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _tree(root)
    (root / "linked").symlink_to("qga")
    (root / "dangling").symlink_to("nowhere")
    watch = TreeWatch(root)
    try:
        assert not watch.changed()
    finally:
        watch.close()
