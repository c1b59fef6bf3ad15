"""validate's scratch copy: only new or changed files are copied, so ninja rebuilds only those."""

from __future__ import annotations

import os
from pathlib import Path

from qganb.recipes.tree_mirror import mirror_tree


def _tree(root: Path) -> None:
    (root / "qga").mkdir(parents=True)
    (root / "qga" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "qga" / "qapi-schema.json").write_text("{ 'command': 'guest-ping' }\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "README").write_text("qemu\n")
    (root / "COPYING.link").symlink_to("README")


def test_first_mirror_copies_everything_but_git_and_skipped(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    _tree(source)
    copied = mirror_tree(source, target, skip={"qga/qapi-schema.json"})
    assert copied == 3
    assert (target / "qga" / "main.c").read_text() == "int main(void) { return 0; }\n"
    assert not (target / ".git").exists()
    assert not (target / "qga" / "qapi-schema.json").exists()
    assert os.readlink(target / "COPYING.link") == "README"
    assert (target / "README").stat().st_mtime_ns == (source / "README").stat().st_mtime_ns


def test_second_mirror_copies_only_what_changed(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    _tree(source)
    mirror_tree(source, target, skip=set())
    untouched = (target / "README").stat().st_mtime_ns
    assert mirror_tree(source, target, skip=set()) == 0

    (source / "qga" / "main.c").write_text("int main(void) { return 1; }\n")
    (source / "qga" / "new.c").write_text("/* new */\n")
    (source / "COPYING.link").unlink()
    (source / "COPYING.link").symlink_to("qga/main.c")
    assert mirror_tree(source, target, skip=set()) == 3
    assert (target / "qga" / "main.c").read_text() == "int main(void) { return 1; }\n"
    assert (target / "qga" / "new.c").is_file()
    assert os.readlink(target / "COPYING.link") == "qga/main.c"
    assert (target / "README").stat().st_mtime_ns == untouched


def test_a_file_no_longer_skipped_is_copied_and_a_newly_skipped_one_left_alone(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    _tree(source)
    mirror_tree(source, target, skip={"qga/qapi-schema.json"})
    assert not (target / "qga" / "qapi-schema.json").exists()
    assert mirror_tree(source, target, skip=set()) == 1
    assert (target / "qga" / "qapi-schema.json").is_file()
    (target / "qga" / "main.c").write_text("/* written by the plan */\n")
    (source / "qga" / "main.c").write_text("int main(void) { return 2; }\n")
    assert mirror_tree(source, target, skip={"qga/main.c"}) == 0
    assert (target / "qga" / "main.c").read_text() == "/* written by the plan */\n"
