"""Recipe parsing, generated C pieces and verify predicates, on small inputs."""

from pathlib import Path

import pytest

from qganb.recipes import c_code
from qganb.recipes.model import Predicate, parse_recipe
from qganb.recipes.cases import check_predicate

MINIMAL = """\
command: guest-demo-thing
doc: Do a thing.
arguments:
  - name: count
    type: uint16
    doc: how many
    min: 1
    max: 10
  - name: mode
    type: str
    optional: true
    doc: how
    enum: [fast, slow]
returns:
  doc: nothing much
  builtin: bool
  allow-builtin: true
implementation:
  posix: |
    return true;
verify:
  cases:
    - name: works
      arguments: {count: 2}
      expect: true
"""


def test_a_minimal_recipe_parses_with_line_numbers() -> None:
    recipe = parse_recipe(MINIMAL, Path("demo.yaml"))
    assert recipe.command == "guest-demo-thing" and recipe.c_command == "qmp_guest_demo_thing"
    assert recipe.line_of("arguments", 1, "enum") == 13
    assert recipe.body_first_line("posix") == 20, "the first C line, after the `posix: |` line"
    assert recipe.model.returns is not None and recipe.model.returns.needs_pragma


def test_generated_checks_use_the_prototype_and_escape_strings() -> None:
    recipe = parse_recipe(MINIMAL, Path("demo.yaml"))
    proto = c_code.Prototype("bool", "qmp_guest_demo_thing", [("uint16_t", "count"), ("const char *", "mode")])
    checks = "\n".join(c_code.constraint_checks(recipe.model.arguments, proto))
    assert "if (count < 1LL || count > 10LL) {" in checks
    assert '"%" PRIu64, (uint64_t)count' in checks
    assert 'if (has_mode && strcmp(mode, "fast") != 0 && strcmp(mode, "slow") != 0) {' in checks
    assert checks.count("return false;") == 2
    # 8.0+ prototypes drop has_ for optional pointers: the body still gets one.
    assert c_code.has_flag_preamble(recipe.model.arguments, proto) == ["    bool has_mode = mode != NULL;",
                                                                       "    (void)has_mode;"]


def test_c_string_escapes_quotes_backslashes_percent_and_trigraphs() -> None:
    assert c_code.c_string('a"b\\c%d??=', for_format=True) == '"a\\"b\\\\c%%d\\077\\077="'


def test_prototype_parsing_reads_the_generated_header() -> None:
    header = "GuestMountEntryList *qmp_guest_list_mounts(bool has_fstype, const char *fstype, Error **errp);\n"
    proto = c_code.parse_prototype(header, "qmp_guest_list_mounts")
    assert proto.return_type == "GuestMountEntryList *"
    assert proto.params == [("bool", "has_fstype"), ("const char *", "fstype")]
    assert proto.failure_return == "return NULL;"
    assert proto.declaration == header.strip().rstrip(";")


@pytest.mark.parametrize(("value", "predicate", "problems"), [
    (50.5, {"type": "number", "min": 0, "max": 100}, []),
    (150, {"type": "number", "min": 0, "max": 100}, ["result should be <= 100, is 150"]),
    ([{"a": 1}, {"a": 2}], {"min-items": 1, "items": {"fields": {"a": {"equals": 1}}}},
     ["result[1].a should equal 1, is 2"]),
    ({"b": "x"}, {"fields": {"a": {"type": "str"}}}, ["result.a is missing"]),
    ("abc", {"pattern": "^z"}, ['result should match /^z/, is "abc"']),
])
def test_predicates_report_the_json_path(value, predicate, problems) -> None:
    assert check_predicate(value, Predicate.model_validate(predicate)) == problems
