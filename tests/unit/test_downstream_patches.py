"""Downstream patches are real `git format-patch` files that apply with fuzz 0 and are reproducible."""

import shutil
import subprocess
from pathlib import Path

import pytest

from qganb.errors import FixtureBuildFailed
from qganb.testbed import downstream_patches


def small_tree(root: Path) -> Path:
    """A tree holding just the lines the patches edit, with some surrounding context."""
    (root / "qga").mkdir(parents=True)
    (root / "qga" / "qapi-schema.json").write_text(
        "##\n# @guest-ping:\n#\n# Ping the guest agent, a non-error return implies success\n#\n"
        "# Since: 0.15.0\n##\n{ 'command': 'guest-ping' }\n"
    )
    (root / "qga" / "main.c").write_text(
        "static void quit_handler(int sig)\n{\n"
        '    g_debug("received signal num %d, quitting", sig);\n}\n\n'
        "static gboolean channel_init(void)\n{\n    if (!s->channel) {\n"
        '        g_critical("failed to create guest agent channel");\n        return false;\n    }\n}\n'
    )
    return root


def test_patches_apply_in_order_with_fuzz_0(tmp_path: Path) -> None:
    tree = small_tree(tmp_path / "tree")
    pristine = (tree / "qga" / "main.c").read_text()
    files = downstream_patches.write_patches(tree, tmp_path / "scratch", tmp_path / "out")
    assert [f.name[:5] for f in files] == ["0001-", "0002-", "0003-"]
    assert (tree / "qga" / "main.c").read_text() == pristine, "the source tree itself stays untouched"
    for f in files:
        text = f.read_text()
        assert text.startswith("From ") and "\nSubject: [PATCH " in text and "\ndiff --git a/qga/" in text
        subprocess.run(["patch", "-p1", "--fuzz=0", "--batch", "-i", str(f)], cwd=tree, check=True,
                       capture_output=True)
    assert 'channel on %s' in (tree / "qga" / "main.c").read_text()


def test_patch_bytes_are_reproducible(tmp_path: Path) -> None:
    tree = small_tree(tmp_path / "tree")
    first = downstream_patches.write_patches(tree, tmp_path / "s1", tmp_path / "o1")
    second = downstream_patches.write_patches(tree, tmp_path / "s2", tmp_path / "o2")
    assert [f.read_bytes() for f in first] == [f.read_bytes() for f in second]


def test_missing_context_names_the_patch_and_file(tmp_path: Path) -> None:
    tree = small_tree(tmp_path / "tree")
    (tree / "qga" / "main.c").write_text("int main(void) { return 0; }\n")
    with pytest.raises(FixtureBuildFailed, match=r"qga/main.c, found it 0 times"):
        downstream_patches.write_patches(tree, tmp_path / "scratch", tmp_path / "out")
    shutil.rmtree(tmp_path / "scratch")
