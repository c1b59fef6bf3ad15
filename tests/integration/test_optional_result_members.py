"""One recipe body that fills optional str, struct and list members of its result by pointer alone
gives the same JSON on QEMU 2.12 to 10.x: qganb sets the has_ flags that each tree's generated
structs still have. Real trees, their own QAPI generators, real qemu-ga builds and real calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.errors import RecipeError
from qganb.recipes.has_flags import setter_name
from qganb.recipes.model import load_recipes
from qganb.recipes.plan import plan_edits
from qganb.recipes.qemu_tree import QemuTree
from qganb.recipes.validate import validate_recipes
from tests.conftest import git_status

RECIPE = Path(__file__).resolve().parents[1] / "data" / "guest-qganb-optional-result.yaml"
COMMAND = "guest_qganb_optional_result"
# The body's own line for a flag QEMU 8.0 dropped for str members (kept for lists and scalars).
OWN_FLAG = "    result->detail->label = has_label ? g_strdup(label) : NULL;\n"


def _tree(series: str, qemu_trees: dict[str, Path]) -> Path:
    return qemu_trees[series]


@pytest.mark.parametrize("series", ["2.12", "5.2", "7.2", "10.0"])
def test_optional_members_are_sent_when_set_and_absent_when_null(series: str, qemu_trees: dict[str, Path],
                                                                  validated) -> None:
    tree = _tree(series, qemu_trees)
    recipes = load_recipes([RECIPE])
    report = validated(series)  # this recipe, built and run together with the shipped ones
    ours = [c for c in report.cases if c.command == recipes[0].command]
    assert [c.case for c in ours] == [c.name for c in recipes[0].model.verify.cases]
    assert [c.line() for c in ours if not c.passed] == []
    assert git_status(tree) == ""

    # How: every flagged pointer gets its flag before 8.0, only the list from 8.0.
    block = plan_edits(QemuTree(tree), recipes).applied[0].c_block.text
    before_8 = QemuTree(tree).version < (8, 0)
    assert ("obj->has_label = true;" in block) == before_8
    assert ("obj->has_note = true;" in block) == before_8
    assert ("obj->has_detail = true;" in block) == before_8
    assert "obj->has_tags = true;" in block, "a list keeps its has_ flag on every version"
    assert "obj->has_count" not in block, "optional scalars are left to the recipe"


def test_a_body_that_sets_the_flags_itself_still_works_before_8_0(qemu_trees: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    """Written for QEMU < 8.0 by hand: the recipe's own has_ lines and qganb's setters agree."""
    tree = qemu_trees["7.2"]
    own = tmp_path / RECIPE.name
    own.write_text(RECIPE.read_text().replace(OWN_FLAG, OWN_FLAG + "    result->detail->has_label = has_label;\n"
                                              "    result->has_detail = true;\n"))
    recipes = load_recipes([own])
    block = plan_edits(QemuTree(tree), recipes).applied[0].c_block.text
    assert "result->detail->has_label = has_label;" in block and "obj->has_label = true;" in block
    report = validate_recipes(tree, recipes)
    assert [c.line() for c in report.cases if not c.passed] == []


def test_a_has_flag_that_8_0_dropped_is_refused_at_its_recipe_line(qemu_trees: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    tree = qemu_trees["10.0"]
    text = RECIPE.read_text().replace(OWN_FLAG, OWN_FLAG + "    result->detail->has_label = has_label;\n")
    own = tmp_path / RECIPE.name
    own.write_text(text)
    with pytest.raises(RecipeError) as info:
        plan_edits(QemuTree(tree), load_recipes([own]))
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "detail->has_label" in t)
    assert (info.value.line, info.value.field) == (line, "implementation.posix"), str(info.value)
    assert "`has_label`, which QEMU 10.0" in str(info.value) and "GuestQganbDetail does not have" in str(info.value)
    assert "remove the has_label line" in str(info.value)
    # The list's flag is still there on 10.0: setting it is fine (the shipped body does).
    plan = plan_edits(QemuTree(tree), load_recipes([RECIPE]))
    assert setter_name(COMMAND, "GuestQganbDetail") in plan.applied[0].c_block.text
