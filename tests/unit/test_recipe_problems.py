"""A broken recipe shows all its independent problems at once, each with its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.errors import RecipeError, RecipeProblems
from qganb.recipes.model import load_recipes, parse_recipe

ROOT = Path(__file__).resolve().parents[2]
UPTIME = (ROOT / "recipes" / "guest-get-uptime.yaml").read_text()


def _broken() -> str:
    text = UPTIME.replace("command: guest-get-uptime", "command: guest_get_uptime", 1)
    assert "\nverify:" in text
    return text.replace("\nverify:", "\nverfy:", 1) + "selinux: [not a boolean!]\n"


def test_independent_schema_problems_are_all_reported_with_their_lines() -> None:
    with pytest.raises(RecipeProblems) as caught:
        parse_recipe(_broken(), Path("broken.yaml"))
    error = caught.value
    fields = [p.field for p in error.problems]
    # the misspelt key comes first and explains the missing `verify`, which is not repeated
    assert fields[0] == "verfy" and "did you mean `verify`?" in str(error.problems[0])
    assert "command" in fields and "verify" not in fields
    assert any(f and f.startswith("selinux") for f in fields)
    assert all(p.line and p.line > 0 for p in error.problems)
    assert str(error).startswith("broken.yaml:") and f"and {len(fields) - 1} more" in str(error)
    listed = error.details().splitlines()
    assert listed[0] == f"all {len(fields)} problems:" and len(listed) == len(fields) + 1


def test_one_problem_is_reported_as_itself() -> None:
    with pytest.raises(RecipeError) as caught:
        parse_recipe(UPTIME.replace("command: guest-get-uptime", "command: guest_bad", 1), Path("one.yaml"))
    assert type(caught.value) is RecipeError and caught.value.details() == ""
    assert "command name 'guest_bad'" in str(caught.value)


def test_problems_of_several_files_come_together(tmp_path: Path) -> None:
    first, second, dup = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    first.write_text(UPTIME.replace("command: guest-get-uptime", "command: guest_a", 1))
    second.write_text("just: text\n")
    dup.write_text(UPTIME)
    with pytest.raises(RecipeProblems) as caught:
        load_recipes([first, second, dup, ROOT / "recipes" / "guest-get-uptime.yaml"])
    paths = [Path(p.path).name for p in caught.value.problems]
    assert paths[0] == "a.yaml" and "b.yaml" in paths and "guest-get-uptime.yaml" in paths
    assert any("also declared by" in str(p) for p in caught.value.problems)
