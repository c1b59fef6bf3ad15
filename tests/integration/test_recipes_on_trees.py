"""Every shipped recipe applies, validates, compiles and passes its verify cases on QEMU 2.12, 5.2,
7.2 and 10.0.

Real trees from Debian's QEMU sources and the upstream 2.12.0 release, the trees' own QAPI generators, real builds of qemu-ga and
real calls over the guest agent protocol.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from qganb.recipes.plan import apply_recipes
from qganb.recipes.model import load_recipes
from qganb.recipes.validate import validate_recipes
from tests.conftest import git_reset, git_status

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


def test_four_recipes_ship() -> None:
    names = {p.stem for p in RECIPES}
    assert {"guest-set-watchdog-timeout", "guest-get-cpu-usage-rate"} <= names
    assert len(names) >= 4


@pytest.mark.parametrize("series", ["2.12", "5.2", "7.2", "10.0"])
def test_shipped_recipes_validate_on_real_trees(series: str, validated, qemu_trees: dict[str, Path]) -> None:
    report = validated(series)  # built together with the optional-result test recipe: one build per tree
    assert report.binary is not None and report.binary.is_file()
    shipped = {r.command: r for r in load_recipes(RECIPES)}
    ours = [c for c in report.cases if c.command in shipped]
    assert [c.case for c in ours if not c.passed] == []
    assert len(ours) == sum(len(r.model.verify.cases) for r in shipped.values())
    assert git_status(qemu_trees[series]) == "", "validate works in a scratch copy and never edits the tree"


@pytest.mark.parametrize(("series", "c_file", "pragma", "if_condition"), [
    ("2.12", "qga/commands-posix.c", "'returns-whitelist'", False),
    ("5.2", "qga/commands-posix.c", "'returns-whitelist'", False),
    ("7.2", "qga/commands-posix.c", "'command-returns-exceptions'", False),
    ("10.0", "qga/commands-linux.c", "'command-returns-exceptions'", True),
])
def test_apply_writes_what_each_version_needs_and_is_idempotent(
        series: str, c_file: str, pragma: str, if_condition: bool, qemu_trees: dict[str, Path]) -> None:
    tree = qemu_trees[series]
    try:
        plan = apply_recipes(tree, load_recipes(RECIPES))
        changed = set(git_status(tree).split()) - {"M"}
        expected = {"qga/qapi-schema.json", c_file} | ({"qga/commands-win32.c"} if not if_condition else set())
        assert changed == expected
        schema = (tree / "qga/qapi-schema.json").read_text()
        # Only the builtin-returning command joins the pragma list, under this version's name.
        pragma_block = schema[schema.index(pragma):schema.index("]", schema.index(pragma))]
        assert "'guest-get-cpu-usage-rate'" in pragma_block
        assert "'guest-list-mounts'" not in pragma_block and "'guest-get-uptime'" not in pragma_block
        assert ("'if': 'CONFIG_LINUX'" in schema) == if_condition
        # The prototype is the one the tree's own generator emits: 8.0 dropped has_ for pointers.
        mounts = next(a for a in plan.applied if a.recipe.command == "guest-list-mounts")
        assert ("bool has_fstype" in mounts.prototype.declaration) == (series != "10.0")
        assert "bool has_read_only" in mounts.prototype.declaration

        again = apply_recipes(tree, load_recipes(RECIPES))
        assert again.changed == [], "applying twice changes nothing"
        done = subprocess.run([sys.executable, "-m", "qganb", "recipe", "apply", *map(str, RECIPES),
                               "--source", str(tree)], capture_output=True, text=True, check=True)
        assert "already applied, nothing changed" in done.stdout
    finally:
        git_reset(tree)


@pytest.mark.parametrize("series", ["2.12", "7.2"])  # make and ninja
def test_validate_after_a_body_change_rebuilds_incrementally(series: str, qemu_trees: dict[str, Path],
                                                             tmp_path: Path) -> None:
    tree = qemu_trees[series]
    source = (ROOT / "recipes" / "guest-get-uptime.yaml").read_text()
    changed = tmp_path / "guest-get-uptime.yaml"
    changed.write_text(source.replace("result->idle_seconds = idle;", "result->idle_seconds = idle + 0.0;"))
    validate_recipes(tree, load_recipes([ROOT / "recipes" / "guest-get-uptime.yaml"]))
    report = validate_recipes(tree, load_recipes([changed]))
    assert report.passed
    assert report.configured is False, "configure runs once per tree"
    assert report.compiled == ["qga/commands-posix.c"], "only the file the recipe's body is in is rebuilt"


def test_preview_renders_schema_prototype_and_diff_without_writing(qemu_trees: dict[str, Path]) -> None:
    from qganb.recipes.preview import preview_recipes

    tree = qemu_trees["10.0"]
    preview = preview_recipes(tree, load_recipes([ROOT / "recipes" / "guest-get-cpu-usage-rate.yaml"]))
    entry = preview.schema_entries["guest-get-cpu-usage-rate"]
    assert "# @guest-get-cpu-usage-rate:" in entry and "'returns': 'number'" in entry
    assert preview.prototypes["guest-get-cpu-usage-rate"] == "double qmp_guest_get_cpu_usage_rate(Error **errp)"
    assert preview.pragma == "added to 'command-returns-exceptions': guest-get-cpu-usage-rate"
    assert "+++ b/qga/commands-linux.c" in preview.diff
    assert re.search(r"^\+\s+'guest-get-cpu-usage-rate' \]", preview.diff, re.M), "joins the pragma list"
    rich = preview._repr_html_()
    assert "<pre>" in rich and "background:#e6ffed" in rich
    assert git_status(tree) == ""


def test_the_qapi_generator_leaves_no_pycache_in_the_tree(qemu_trees: dict[str, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from qganb.recipes.plan import run_qapi_gen
    from qganb.recipes.qemu_tree import SCHEMA, QemuTree

    monkeypatch.setenv("QGANB_CACHE_DIR", str(tmp_path / "cache"))  # a cold cache: the generator really runs
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    tree = QemuTree(qemu_trees["7.2"])
    header, error = run_qapi_gen(tree, (tree.root / SCHEMA).read_text())
    assert error is None and "qmp_guest_ping" in header.commands
    assert list(tree.root.rglob("__pycache__")) == [], "qapi-gen.py must run with -B in the user's tree"
