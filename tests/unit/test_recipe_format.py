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


BAD_BOUNDS = [
    ("nan", "int", "min: .nan", "`min` must be a finite number"),
    ("infinite", "number", "max: .inf", "`max` must be a finite number"),
    ("fraction on an int", "int", "min: 1.5", "`min` is 1.5 but 'n' is of type int: give a whole number"),
    ("1e30 on an int", "int", "max: 1e30", "`max` 1e+30 is outside the range of int"),
    ("negative on a uint", "uint8", "min: -1", "`min` -1 is outside the range of uint8 (0 to 255)"),
    ("above the type", "int8", "max: 128", "`max` 128 is outside the range of int8 (-128 to 127)"),
    ("above uint64", "uint64", "max: 18446744073709551616", "outside the range of uint64"),
    ("not a number", "int", "min: lots", "`min` must be a number, not 'lots'"),
    ("a bool", "int", "min: true", "`min` must be a number, not True"),
]


@pytest.mark.parametrize(("kind", "type_", "bound", "message"), BAD_BOUNDS, ids=[b[0] for b in BAD_BOUNDS])
def test_bad_min_max_is_refused_at_its_line(kind: str, type_: str, bound: str, message: str) -> None:
    text = _with_arguments(f"  - name: n\n    type: {type_}\n    doc: n\n    {bound}\n")
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, Path("demo.yaml"))
    assert message in str(info.value)
    assert info.value.line == 7 and info.value.field == f"arguments.0.{bound.split(':')[0]}", str(info.value)


def test_whole_bounds_at_the_types_limits_are_exact_and_implied_checks_are_left_out() -> None:
    recipe = parse_recipe(_with_arguments(
        "  - name: a\n    type: uint64\n    doc: a\n    min: 0\n    max: 18446744073709551615\n"
        "  - name: b\n    type: int64\n    doc: b\n    min: -9223372036854775808\n    max: 5.0\n"
        "  - name: c\n    type: number\n    doc: c\n    min: 1e30\n"), Path("demo.yaml"))
    a, b, c = recipe.model.arguments
    assert (a.min, a.max, b.min, b.max) == (0, 2**64 - 1, -2**63, 5) and c.min == 1e30
    proto = c_code.Prototype("void", "qmp_guest_demo_thing", [("uint64_t", "a"), ("int64_t", "b"), ("double", "c")])
    checks = "\n".join(c_code.constraint_checks(recipe.model.arguments, proto))
    # The type already guarantees a's range and b's minimum: comparing would only warn (-Wtype-limits).
    assert "(a " not in checks and "if (b > 5LL) {" in checks and "if (c < 1e+30) {" in checks
    assert "'b' must be between -9223372036854775808 and 5" in checks


YAML_TRICKS = [
    ("duplicate key", MINIMAL.replace("command: guest-demo-thing\n", "command: guest-demo-thing\ncommand: guest-x\n"),
     2, "command", "`command` is given twice (first at line 1)"),
    ("duplicate nested key", MINIMAL.replace("    doc: how many\n", "    doc: how many\n    doc: again\n"),
     7, "arguments.0.doc", "`doc` is given twice (first at line 6)"),
    ("anchor", MINIMAL.replace("doc: Do a thing.", "doc: &d Do a thing."), 2, "doc", "YAML anchor `&d`"),
    ("alias", MINIMAL.replace("doc: Do a thing.", "doc: &d Do a thing.").replace("doc: how many", "doc: *d"),
     2, "doc", "YAML anchor `&d`"),
    ("merge key", MINIMAL.replace("  - name: count\n", "  - <<: {name: count}\n"), 4, "arguments.0",
     "YAML merge key `<<`"),
]


@pytest.mark.parametrize(("kind", "text", "line", "field", "message"), YAML_TRICKS, ids=[t[0] for t in YAML_TRICKS])
def test_duplicate_keys_anchors_and_aliases_are_refused(kind: str, text: str, line: int, field: str,
                                                        message: str) -> None:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, Path("demo.yaml"))
    assert message in str(info.value)
    assert (info.value.line, info.value.field) == (line, field), str(info.value)


def test_an_alias_bomb_is_refused_quickly() -> None:
    import time

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    start = time.monotonic()
    with pytest.raises(RecipeError, match="YAML anchor `&a0`"):
        parse_recipe("\n".join(lines) + "\n", Path("bomb.yaml"))
    assert time.monotonic() - start < 1


WRAPPED_DOCS = [
    # The wrapped text puts the word at the start of a written line, whatever the source lines look like.
    ("command doc", "doc: '" + "word " * 13 + "Note: this.'", "doc", "`Note:`"),
    ("member doc", "doc: Do a thing.\narguments:\n  - name: n\n    type: int\n    doc: '" + "w " * 32 + "Since: 2'",
     "arguments.0.doc", "`Since:`"),
    ("returns doc", "doc: Do a thing.\nreturns:\n  doc: '" + "w " * 29 + "@count: x'\n  builtin: int\n"
     "  allow-builtin: true", "returns.doc", "`@count:`"),
]


@pytest.mark.parametrize(("kind", "head", "field", "word"), WRAPPED_DOCS, ids=[w[0] for w in WRAPPED_DOCS])
def test_doc_is_checked_as_it_will_be_wrapped(kind: str, head: str, field: str, word: str) -> None:
    body = MINIMAL[MINIMAL.index("implementation:"):]
    text = "command: guest-demo-thing\n" + head + "\n" + body
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, Path("demo.yaml"))
    assert info.value.field == field and f"would start a written doc line with {word}" in str(info.value)
    assert "line 1 of the doc" in str(info.value)


def test_doc_problem_names_the_line_inside_a_block_doc() -> None:
    text = MINIMAL.replace("doc: Do a thing.", "doc: |\n  Do a thing.\n  More about it.\n\n  Returns: nothing")
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, Path("demo.yaml"))
    assert info.value.line == 6 and info.value.field == "doc", str(info.value)
    assert "line 4 of the doc would start a written doc line with `Returns:`" in str(info.value)


def test_a_section_word_inside_a_line_that_stays_inside_is_fine() -> None:
    recipe = parse_recipe(MINIMAL.replace("doc: Do a thing.", "doc: |\n  Do a thing.\n  Since: it is short"),
                          Path("demo.yaml"))
    assert "Since: it is short" in recipe.model.doc


MARKERS = [
    ("doc", MINIMAL.replace("doc: Do a thing.", "doc: 'Do a thing. qganb recipe guest-x: end'"), 2, "doc"),
    ("member doc", MINIMAL.replace("doc: how many", "doc: |\n      n\n      # qganb recipe guest-demo-thing: begin"),
     8, "arguments.0.doc"),
    ("posix", MINIMAL.replace("    return true;\n", "    /* qganb recipe guest-demo-thing: end */\n    return true;\n"),
     20, "implementation.posix"),
    ("helpers", MINIMAL.replace("  posix: |", "  helpers: |\n    // x\n    // qganb recipe other: begin\n  posix: |"),
     21, "implementation.helpers"),
]


@pytest.mark.parametrize(("kind", "text", "line", "field"), MARKERS, ids=[m[0] for m in MARKERS])
def test_marker_text_is_refused_in_docs_and_c(kind: str, text: str, line: int, field: str) -> None:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, Path("demo.yaml"))
    assert "qganb's block marker" in str(info.value)
    assert (info.value.line, info.value.field) == (line, field), str(info.value)


@pytest.mark.parametrize(("value", "ok"), [("kernel.ostype", True), ("kernel.ostype\n", False), ("x kernel", False)])
def test_predicate_pattern_matches_the_whole_string(value: str, ok: bool) -> None:
    assert (check_predicate(value, Predicate.model_validate({"pattern": "^[a-z.]+$"})) == []) == ok


def test_argument_pattern_in_c_matches_the_whole_string() -> None:
    recipe = parse_recipe(_with_arguments("  - name: key\n    type: str\n    doc: k\n    pattern: ^[a-z.]+$\n"),
                          Path("demo.yaml"))
    proto = c_code.Prototype("bool", "qmp_guest_demo_thing", [("const char *", "key")])
    checks = "\n".join(c_code.constraint_checks(recipe.model.arguments, proto))
    assert 'if (!g_regex_match_simple("\\\\A(\\077:^[a-z.]+$)\\\\z", key, 0, 0)) {' in checks
    assert "'key' must match ^[a-z.]+$" in checks


def test_types_from_the_tree_or_another_recipe_parse() -> None:
    recipe = parse_recipe(_with_arguments("  - name: state\n    type: GuestFsfreezeStatus\n    doc: s\n"
                                          "  - name: probes\n    type: '[GuestQganbProbe]'\n    doc: p\n"),
                          Path("demo.yaml"))
    assert [a.type for a in recipe.model.arguments] == ["GuestFsfreezeStatus", "[GuestQganbProbe]"]


def test_a_lower_case_unknown_type_is_still_refused_at_parse_time() -> None:
    with pytest.raises(RecipeError, match="unknown type 'strng'"):
        parse_recipe(_with_arguments("  - name: s\n    type: strng\n    doc: s\n"), Path("demo.yaml"))
