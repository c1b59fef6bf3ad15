"""The recipe YAML writer: the shipped recipes' style, values that read back exactly, and edits of a
recipe file that rewrite only what changed."""

from __future__ import annotations

import copy
import difflib
import os
import random
from pathlib import Path

import pytest
import yaml

from qganb.recipes.model import parse_recipe
from qganb.recipes.yaml_text import dump_recipe, loads_back, same_data, update_recipe_text, write_recipe_text

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))
LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])


def _recipe(body: str, doc: str = "Do a thing.\nOn two lines.\n") -> dict:
    return {"command": "guest-demo-thing", "since": "1.0", "doc": doc,
            "arguments": [{"name": "count", "type": "int", "doc": "how many", "min": 1, "max": 10}],
            "implementation": {"posix": body},
            "verify": {"cases": [{"name": "works", "arguments": {"count": 2}, "expect": None,
                                  "satisfies": {"type": "null"}}]}}


def _changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_docs_and_c_bodies_become_literal_blocks() -> None:
    data = _recipe("int x = 1;\n\nreturn;\n")
    text = dump_recipe(data)
    assert "doc: |\n  Do a thing.\n  On two lines.\n" in text
    assert "  posix: |\n    int x = 1;\n\n    return;\n" in text
    # members are blocks; a case's short arguments and predicate are flow mappings, as recipes write them
    assert "arguments:\n  - name: count\n    type: int\n    doc: how many\n    min: 1\n    max: 10\n" in text
    assert "      arguments: {count: 2}\n" in text and "satisfies: {type: \"null\"}" in text
    assert list(yaml.safe_load(text)) == list(data), "key order is kept"
    parse_recipe(text, Path("guest-demo-thing.yaml"))


TRICKY = {
    "no trailing newline": "return;",
    "trailing newline": "return;\n",
    "two trailing newlines": "return;\n\n",
    "only a newline": "\n",
    "leading spaces": "    int x;\nreturn;\n",
    "leading empty line": "\nreturn;\n",
    "hash and colon": "# not a comment\nlabel: x = 1; // a: b\nreturn;\n",
    "tabs": "\tint x;\n\tif (x) {\n\t\treturn;\n\t}\n",
    "tab first, no newline": "\treturn;",
    "empty lines inside": "int x;\n\n\n\nreturn;\n",
    "trailing spaces on a line": "int x;   \nreturn;\n",
    "trailing tab on a line": "int x;\t\nreturn;\n",
    "a line of spaces": "int x;\n   \nreturn;\n",
    "carriage returns": "int x;\r\nreturn;\r\n",
    "unicode line breaks": "int x;\u2028return;\x85\n",
    "quotes and backslashes": "printf(\"%s\\n\", 'x');\nreturn;\n",
    "document markers": "---\n...\nreturn;\n",
    "yaml-looking": "yes\n- no\n{a: b}\n",
    "non-ascii": "/* café ü */\nreturn;\n",
}


@pytest.mark.parametrize("body", TRICKY.values(), ids=TRICKY.keys())
def test_tricky_strings_read_back_exactly(body: str) -> None:
    data = _recipe(body, doc=body if body.strip() else "x\n")
    text = dump_recipe(data)
    for loader in LOADERS:
        assert same_data(yaml.load(text, Loader=loader), data), loader.__name__
    if body.strip():  # a recipe needs a C body
        assert parse_recipe(text, Path("guest-demo-thing.yaml")).model.implementation.posix == body
    # the same strings as values inside list items and flow candidates
    nested = {"cases": [{"name": "x", "arguments": {"s": body}, "list": [body, "plain"]}]}
    assert loads_back(dump_recipe(nested), nested)


def test_literal_blocks_where_they_read_back_and_quotes_where_they_would_not() -> None:
    def style(body: str) -> str:
        line = next(line for line in dump_recipe(_recipe(body)).splitlines() if line.startswith("  posix:"))
        return line.removeprefix("  posix: ")

    assert style("return;\n") == "|"
    assert style("int x;\nreturn;") == "|-"
    assert style("return;\n\n") == "|+"
    assert style("    int x;\nreturn;\n") == "|2"
    assert style("\tint x;\n\treturn;\n") == "|2", "tabs stay readable (libyaml needs the indentation given)"
    assert style("int x;   \nreturn;\n").startswith('"'), "trailing spaces would not survive an editor"
    assert style("int x;\t\nreturn;\n").startswith('"')
    assert style("int x;\u2028return;\n").startswith('"'), "a YAML line break other than \\n is escaped"


def test_strings_that_need_quoting_are_quoted() -> None:
    data = {"since": "1.0", "a": "yes", "b": "key: value", "c": "", "d": "[x]", "e": "#x", "f": "\\d+", "g": "a-b"}
    text = dump_recipe(data)
    assert 'since: "1.0"\na: "yes"\nb: "key: value"\nc: ""\nd: "[x]"\ne: "#x"\n' in text
    assert "f: \\d+\ng: a-b\n" in text
    assert loads_back(text, data)


def test_types_are_kept_strictly() -> None:
    data = {"a": 1, "b": 1.0, "c": True, "d": None, "e": "1", "f": 1e30, "g": [], "h": {}}
    assert loads_back(dump_recipe(data), data)
    assert not same_data({"a": 1}, {"a": True}) and not same_data({"a": 1}, {"a": 1.0})
    assert not same_data({"a": 1, "b": 2}, {"b": 2, "a": 1}), "key order counts"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_recipes_read_back_and_an_unchanged_update_is_the_same_text(path: Path) -> None:
    text = path.read_text()
    data = yaml.safe_load(text)
    assert loads_back(dump_recipe(data), data)
    parse_recipe(dump_recipe(data), path)
    assert update_recipe_text(text, data) is text


@pytest.mark.parametrize("name", ["guest-set-watchdog-timeout", "guest-get-uptime"])
def test_the_writer_writes_what_the_shipped_recipes_hold(name: str) -> None:
    text = (ROOT / "recipes" / f"{name}.yaml").read_text()
    without_comments = "".join(line for line in text.splitlines(True) if not line.lstrip().startswith("#"))
    assert dump_recipe(yaml.safe_load(text)) == without_comments


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_an_update_rewrites_only_the_changed_value(path: Path) -> None:
    text = path.read_text()
    data = yaml.safe_load(text)
    edited = copy.deepcopy(data)
    old_line = next(line for line in data["implementation"]["posix"].splitlines() if "return" in line)
    edited["implementation"]["posix"] = data["implementation"]["posix"].replace(old_line, old_line + " /* x */", 1)
    new = update_recipe_text(text, edited)
    assert loads_back(new, edited)
    assert _changed_lines(text, new) == [f"-    {old_line}", f"+    {old_line} /* x */"]


def test_an_update_keeps_comments_and_places_new_keys() -> None:
    path = ROOT / "recipes" / "guest-set-watchdog-timeout.yaml"
    text = path.read_text()
    data = yaml.safe_load(text)
    edited = {k: v for k, v in data.items() if k != "returns"}
    edited["doc"] = "One line now."
    edited["verify"]["environment"] = {"MY_SETTING": "{workdir}/x"}
    edited["selinux-booleans"] = ["virt_qemu_ga_read_nonsecurity_files"]
    new = update_recipe_text(text, edited)
    assert loads_back(new, edited)
    assert new.startswith(text[:text.index("command:")]), "the opening comments stay"
    assert "  # validate runs the agent in a throwaway sandbox" in new, "a comment inside a changed mapping stays"
    assert "returns:" not in new
    assert "doc: One line now.\n" in new
    assert new.endswith("  environment:\n    MY_SETTING: \"{workdir}/x\"\n"
                        "selinux-booleans: [virt_qemu_ga_read_nonsecurity_files]\n")
    parse_recipe(new, path)


def test_an_update_of_text_it_cannot_edit_line_by_line_writes_it_anew() -> None:
    text = "# a flow recipe\n{command: guest-demo-thing, doc: x}\n"
    data = {"command": "guest-demo-thing", "doc": "two\nlines\n"}
    new = update_recipe_text(text, data)
    assert new == "# a flow recipe\ncommand: guest-demo-thing\ndoc: |\n  two\n  lines\n"
    assert update_recipe_text("not: [valid", data) == dump_recipe(data)


def test_an_update_keeps_windows_line_endings_readable() -> None:
    text = "command: guest-demo-thing\r\ndoc: x\r\nsince: \"1.0\"\r\n"
    data = {"command": "guest-demo-thing", "doc": "two\nlines\n", "since": "1.0"}
    new = update_recipe_text(text, data)
    assert loads_back(new, data)
    assert new.startswith("command: guest-demo-thing\r\ndoc: |\r\n  two\r\n") and new.endswith("since: \"1.0\"\r\n")


def test_a_write_goes_through_a_rename_and_a_failed_one_leaves_the_old_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.yaml"
    target.write_text("old\n")
    target.chmod(0o640)
    write_recipe_text(target, "new\r\n")
    assert target.read_bytes() == b"new\r\n", "written as given, line endings too"
    assert target.stat().st_mode & 0o777 == 0o640, "the mode is kept"

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        write_recipe_text(target, "newer\n")
    assert target.read_bytes() == b"new\r\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.yaml"], "no temporary file is left behind"


def test_a_mapping_emptied_by_an_update_stays_a_mapping_and_the_comments_stay() -> None:
    text = (ROOT / "recipes" / "guest-set-watchdog-timeout.yaml").read_text()
    data = yaml.safe_load(text)
    data["verify"] = {}
    new = update_recipe_text(text, data)
    assert loads_back(new, data) and new.startswith("# Sets the i6300esb watchdog heartbeat")
    assert new.endswith("\nverify: {}\n")


def _paths(value: object, path: tuple = ()):  # type: ignore[no-untyped-def]
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def test_random_edits_of_the_shipped_recipes_read_back_exactly() -> None:
    """Seeded edits anywhere in a recipe (values replaced by tricky ones, keys removed or added)."""
    rng = random.Random(16)
    values = [*TRICKY.values(), "x", "1", "", "a: b", "- x", "null", "\t", 1, -5, 1.5, True, None, [], {},
              ["a", "b\nc"], {"k": "v"}, {"n": {"m": "x\ny\n"}}]
    for _ in range(120):
        text = rng.choice(SHIPPED).read_text()
        data = yaml.safe_load(text)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice([p for p in _paths(data) if p])
            parent = data
            for step in path[:-1]:
                parent = parent[step]
            roll = rng.random()
            if roll < 0.6 or not isinstance(parent, dict):
                parent[path[-1]] = copy.deepcopy(rng.choice(values))
            elif roll < 0.8:
                del parent[path[-1]]
            else:
                parent[f"new-{rng.randint(0, 9)}"] = copy.deepcopy(rng.choice(values))
        assert loads_back(update_recipe_text(text, data), data), data
