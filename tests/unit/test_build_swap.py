"""The build's output directories are swapped in by rename: the previous good RPMs stay until the
new ones are in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.rpm.rpmbuild import swap_in


def test_new_output_replaces_the_old_by_rename(tmp_path: Path) -> None:
    final, new = tmp_path / "RPMS", tmp_path / "out" / "RPMS"
    (final / "x86_64").mkdir(parents=True)
    (final / "x86_64" / "old.rpm").write_text("old")
    (new / "x86_64").mkdir(parents=True)
    (new / "x86_64" / "new.rpm").write_text("new")
    inode = new.stat().st_ino
    swap_in(new, final)
    assert final.stat().st_ino == inode, "renamed into place, not copied"
    assert [p.name for p in final.rglob("*.rpm")] == ["new.rpm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RPMS", "out"], "nothing of the old one is left"


def test_when_the_new_output_cannot_move_in_the_old_rpms_stay(tmp_path: Path) -> None:
    final = tmp_path / "RPMS"
    final.mkdir()
    (final / "old.rpm").write_text("old")
    with pytest.raises(OSError):
        swap_in(tmp_path / "out" / "RPMS", final)  # rpmbuild wrote nothing there
    assert (final / "old.rpm").read_text() == "old"
