"""The spec stage writes into the build topdir by rename: SOURCES there are hard links to prep's
files, and writing through one would change the prepped src.rpm's own copy."""

from __future__ import annotations

import os
from pathlib import Path

from qganb.stages.spec import _copy_by_rename


def test_a_file_replaced_in_sources_leaves_preps_copy_alone(tmp_path: Path) -> None:
    prep_copy = tmp_path / "prep" / "qganb-guest-x.patch"
    prep_copy.parent.mkdir()
    prep_copy.write_text("the patch the vendor src.rpm carried\n")
    linked = tmp_path / "build" / "qganb-guest-x.patch"
    linked.parent.mkdir()
    os.link(prep_copy, linked)
    new = tmp_path / "new.patch"
    new.write_text("the new patch\n")
    _copy_by_rename(new, linked)
    assert linked.read_text() == "the new patch\n"
    assert prep_copy.read_text() == "the patch the vendor src.rpm carried\n"
    assert sorted(p.name for p in linked.parent.iterdir()) == ["qganb-guest-x.patch"], "no scratch file left"
