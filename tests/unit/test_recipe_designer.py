"""The recipe designer's Save, driven as a user would (values typed, buttons clicked): a new recipe,
and a round trip of every shipped recipe. Save only parses, so no QEMU tree is needed."""

from __future__ import annotations

import copy
import difflib
import os
import shutil
from pathlib import Path

import pytest
import yaml

from qganb.errors import RecipeError
from qganb.notebook.widgets import RecipeDesigner
from qganb.recipes.model import load_recipe
from qganb.recipes.yaml_text import same_data

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml")) + [ROOT / "tests" / "data" / "guest-qganb-optional-result.yaml"]


def _copy(path: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(path, tmp_path / path.name))


def _changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_a_new_recipe_is_written_with_literal_blocks(tmp_path: Path) -> None:
    designer = RecipeDesigner(tmp_path)
    designer.command.value = "guest-get-load-average"
    designer.doc.value = "Report the load average of the guest.\n\nOne paragraph more."
    designer.fields.value = "one-minute number the load average over one minute"
    designer.body.value = "GuestLoadAverage *r = g_new0(GuestLoadAverage, 1);\n\n\tr->one_minute = 1;\nreturn r;\n"
    designer.save_button.click()
    path = tmp_path / "guest-get-load-average.yaml"
    assert designer.last_message == f"wrote {path}"
    text = path.read_text()
    assert "\ndoc: |\n  Report the load average of the guest.\n\n  One paragraph more.\n" in text
    assert "\n  posix: |\n    GuestLoadAverage *r" in text and "\n    \tr->one_minute = 1;\n" in text
    assert "\n      - name: one-minute\n        type: number\n" in text
    recipe = load_recipe(path)
    assert recipe.model.implementation.posix == designer.body.value
    designer.save_button.click()
    assert "exists" in designer.last_message, "a new recipe never replaces a file unless asked"
    designer.overwrite.value = True
    designer.save_button.click()
    assert designer.last_message == f"wrote {path}"


def test_the_form_s_errors_are_shown(tmp_path: Path) -> None:
    designer = RecipeDesigner(tmp_path)
    designer.command.value = "guest-demo"
    designer.doc.value = "x"
    designer.body.value = "return;"
    designer.arguments.value = "timeout: int"
    designer.save_button.click()
    assert "arguments, line 1: 'timeout: int' is not `name type doc`" in designer.last_message
    designer.arguments.value = ""
    designer.case_arguments.value = "{timeout: "
    designer.save_button.click()
    assert designer.last_message.startswith("case args: '{timeout:' is not valid YAML")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_load_then_save_leaves_the_file_as_it_was(recipe: Path, tmp_path: Path) -> None:
    path = _copy(recipe, tmp_path)
    before = path.stat()
    designer = RecipeDesigner(tmp_path).load(path)
    assert designer.command.value == yaml.safe_load(recipe.read_text())["command"]
    designer.save_button.click()
    assert designer.last_message.startswith("unchanged"), designer.last_message
    assert path.read_bytes() == recipe.read_bytes()
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "not rewritten"


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_an_edit_of_one_body_line_changes_only_that_value(recipe: Path, tmp_path: Path) -> None:
    path = _copy(recipe, tmp_path)
    designer = RecipeDesigner(recipe=path)
    old_line = next(line for line in designer.body.value.splitlines() if "return" in line)
    designer.body.value = designer.body.value.replace(old_line, old_line + " /* edited */", 1)
    designer.save_button.click()
    assert designer.last_message == f"wrote {path}", "an edit of the loaded file is no 'exists' error"
    edited = load_recipe(path)
    assert edited.model.implementation.posix == designer.body.value
    expected = yaml.safe_load(recipe.read_text())
    expected["implementation"]["posix"] = designer.body.value
    assert same_data(yaml.safe_load(path.read_text()), expected)
    assert _changed_lines(recipe.read_text(), path.read_text()) == [f"-    {old_line}",
                                                                     f"+    {old_line} /* edited */"]
    designer.save_button.click()
    assert designer.last_message.startswith("unchanged"), "the designer now holds the file as written"


def test_member_constraints_the_form_cannot_show_are_kept(tmp_path: Path) -> None:
    path = _copy(ROOT / "recipes" / "guest-list-mounts.yaml", tmp_path)
    designer = RecipeDesigner(recipe=path)
    assert designer.arguments.value.splitlines() == [
        "fstype str only list file systems of this type, for example xfs",
        "read-only bool true to list only read-only mounts, false for only read-write ones"]
    assert designer.fields.disabled, "a list return has no struct fields to show"
    designer.arguments.value = designer.arguments.value.replace("for example xfs", "such as xfs")
    designer.save_button.click()
    arguments = yaml.safe_load(path.read_text())["arguments"]
    assert arguments[0] == {"name": "fstype", "type": "str", "optional": True,
                            "doc": "only list file systems of this type, such as xfs", "pattern": "[a-z0-9._-]{1,32}"}
    assert arguments[1]["optional"] is True
    assert yaml.safe_load(path.read_text())["returns"] == {
        "doc": "the matching mounts, in the order of /proc/self/mounts", "list": "GuestMountEntry"}


def test_what_the_form_does_not_show_survives_an_edit_of_everything_it_does(tmp_path: Path) -> None:
    path = _copy(ROOT / "recipes" / "guest-set-watchdog-timeout.yaml", tmp_path)
    original = yaml.safe_load(path.read_text())
    designer = RecipeDesigner(recipe=path)
    assert designer.case_arguments.value == "{timeout: 60}"
    designer.doc.value = "Set the i6300esb heartbeat."
    designer.arguments.value = "timeout int the heartbeat, in seconds\nquiet bool do not log"
    designer.fields.value = designer.fields.value.replace("heartbeat int the heartbeat", "heartbeat int the new beat")
    designer.case_arguments.value = "{timeout: 61}"
    designer.save_button.click()
    assert designer.last_message == f"wrote {path}", designer.last_message
    saved = yaml.safe_load(path.read_text())
    expected = copy.deepcopy(original)
    expected["doc"] = "Set the i6300esb heartbeat.\n"
    expected["arguments"] = [{**original["arguments"][0], "doc": "the heartbeat, in seconds"},
                             {"name": "quiet", "type": "bool", "doc": "do not log"}]
    expected["returns"]["struct"]["fields"][1]["doc"] = "the new beat in seconds now in that file"
    expected["verify"]["cases"][0]["arguments"] = {"timeout": 61}
    assert same_data(saved, expected)
    text = path.read_text()
    assert text.startswith("# Sets the i6300esb watchdog heartbeat"), "the file's comments stay"
    assert "  # validate runs the agent in a throwaway sandbox" in text


def test_a_field_list_added_to_a_recipe_without_a_return_goes_in_its_place(tmp_path: Path) -> None:
    path = _copy(ROOT / "recipes" / "guest-get-uptime.yaml", tmp_path)
    designer = RecipeDesigner(recipe=path)
    designer.arguments.value = "precise bool read the clock twice"
    designer.save_button.click()
    saved = yaml.safe_load(path.read_text())
    assert list(saved) == ["command", "since", "doc", "arguments", "returns", "implementation", "verify"]
    designer.fields.value = ""
    designer.save_button.click()
    assert "returns" not in yaml.safe_load(path.read_text()), "no fields: the command returns nothing"
    load_recipe(path)


def test_a_file_changed_on_disk_after_load_is_not_overwritten_unasked(tmp_path: Path) -> None:
    path = _copy(ROOT / "recipes" / "guest-get-uptime.yaml", tmp_path)
    designer = RecipeDesigner(recipe=path)
    path.write_text(path.read_text().replace("Uptime figures", "The uptime figures"))
    edited_elsewhere = path.read_bytes()
    designer.body.value += "/* more */\n"
    designer.save_button.click()
    assert "changed on disk since it was loaded" in designer.last_message
    assert path.read_bytes() == edited_elsewhere
    designer.overwrite.value = True
    designer.save_button.click()
    assert designer.last_message == f"wrote {path}"
    assert "/* more */" in path.read_text() and "The uptime figures" not in path.read_text()


def test_a_renamed_command_is_a_new_file(tmp_path: Path) -> None:
    path = _copy(ROOT / "recipes" / "guest-get-uptime.yaml", tmp_path)
    designer = RecipeDesigner(recipe=path)
    designer.command.value = "guest-get-uptime2"
    designer.save_button.click()
    renamed = tmp_path / "guest-get-uptime2.yaml"
    assert designer.last_message == f"wrote {renamed}"
    assert path.read_bytes() == (ROOT / "recipes" / "guest-get-uptime.yaml").read_bytes()
    # Its own result type: two recipes declaring GuestUptime could not be applied together.
    assert load_recipe(renamed).model.returns.struct.name == "GuestUptime2"  # type: ignore[union-attr]
    assert renamed.read_text().startswith("# How long the guest has been up")
    designer.body.value = designer.body.value.replace("idle = g_ascii_strtod", "idle = g_ascii_strtod /* v2 */")
    designer.save_button.click()  # the copy is now the recipe being edited: no "exists"
    assert designer.last_message == f"wrote {renamed}"
    assert "/* v2 */" in renamed.read_text() and "/* v2 */" not in path.read_text()


def test_every_problem_of_a_broken_form_is_shown(tmp_path: Path) -> None:
    designer = RecipeDesigner(tmp_path)
    designer.command.value = "Guest_Bad"
    designer.doc.value = "Two problems at once."
    designer.arguments.value = "x- int x"
    designer.body.value = "return;"
    designer.save_button.click()
    assert "(and 1 more, listed below)" in designer.last_message
    assert "all 2 problems:" in designer.last_message and "'x-'" in designer.last_message
    assert not list(tmp_path.iterdir())


def test_a_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _copy(ROOT / "recipes" / "guest-get-uptime.yaml", tmp_path)
    designer = RecipeDesigner(recipe=path)
    designer.body.value += "/* more */\n"

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    designer.save_button.click()
    assert designer.last_message.startswith(f"cannot write {path}: No space left on device; the old file is as it was")
    assert path.read_bytes() == (ROOT / "recipes" / "guest-get-uptime.yaml").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_an_invalid_recipe_is_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "guest-broken.yaml"
    path.write_text("command: guest-broken\ndoc: x\n")
    with pytest.raises(RecipeError, match=r"guest-broken.yaml:1: implementation: `implementation` is missing"):
        RecipeDesigner(recipe=path)
