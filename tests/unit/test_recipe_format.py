"""Recipe parsing, generated C pieces and verify predicates, on small inputs."""

from pathlib import Path

import pytest

from qganb.errors import RecipeError
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


def _with_arguments(arguments: str) -> str:
    """MINIMAL with its `arguments:` list replaced by `arguments` (YAML list items, 2-space indent)."""
    start, end = MINIMAL.index("arguments:\n"), MINIMAL.index("returns:")
    return MINIMAL[:start] + "arguments:\n" + arguments + MINIMAL[end:]


@pytest.mark.parametrize(("name", "c"), [
    ("errno", "q_errno"), ("linux", "q_linux"), ("unix", "q_unix"), ("new", "q_new"), ("template", "q_template"),
    ("delete", "q_delete"), ("int", "q_int"), ("bool", "q_bool"), ("and-eq", "q_and_eq"), ("typeof", "q_typeof"),
    ("count", "count"), ("read-only", "read_only"), ("errno-x", "errno_x"),
])
def test_c_name_follows_qapi_protection_rule(name: str, c: str) -> None:
    from qganb.recipes.model import c_name

    assert c_name(name) == c


def test_range_check_on_argument_named_errno_tests_the_argument_not_libc() -> None:
    recipe = parse_recipe(_with_arguments(
        "  - name: errno\n    type: int\n    doc: an error number\n    min: 1\n    max: 133\n"
        "  - name: linux\n    type: str\n    optional: true\n    doc: a name\n    enum: [a]\n"), Path("demo.yaml"))
    proto = c_code.Prototype("bool", "qmp_guest_demo_thing",
                             [("int64_t", "q_errno"), ("bool", "has_q_linux"), ("const char *", "q_linux")])
    checks = "\n".join(c_code.constraint_checks(recipe.model.arguments, proto))
    assert "if (q_errno < 1LL || q_errno > 133LL) {" in checks
    assert "(int64_t)q_errno);" in checks
    assert 'if (has_q_linux && strcmp(q_linux, "a") != 0) {' in checks
    assert "'errno' must be between 1 and 133" in checks, "messages keep the QAPI name"
    # A 10.0-style prototype without has_ for the pointer: the preamble derives has_q_linux.
    proto10 = c_code.Prototype("bool", "qmp_guest_demo_thing", [("int64_t", "q_errno"), ("const char *", "q_linux")])
    assert c_code.has_flag_preamble(recipe.model.arguments, proto10) == [
        "    bool has_q_linux = q_linux != NULL;", "    (void)has_q_linux;"]


def test_members_that_clash_after_protection_are_refused() -> None:
    with pytest.raises(RecipeError, match=r"'q-new' clashes with 'new' \(both are `q_new` in C\)"):
        parse_recipe(_with_arguments("  - name: new\n    type: int\n    doc: n\n"
                                     "  - name: q-new\n    type: int\n    doc: m\n"), Path("demo.yaml"))


def test_member_named_errp_is_refused_at_its_line() -> None:
    text = _with_arguments("  - name: errp\n    type: int\n    doc: n\n")
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, Path("demo.yaml"))
    assert info.value.line == 4 and info.value.field == "arguments.0"
    assert "clashes with the Error **errp parameter" in str(info.value)
