"""Bad recipes: each gets an error naming the recipe file, the line or field, and the fix,
and the tree stays exactly as it was (`git status` clean)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from qganb.recipes.plan import apply_recipes
from qganb.errors import RecipeError, ValidationFailed
from qganb.recipes.model import load_recipes
from qganb.recipes.validate import validate_recipes

GOOD = """\
command: guest-qganb-probe
doc: Answer with a fixed greeting.
returns:
  doc: the greeting
  struct:
    name: GuestQganbProbe
    doc: A greeting.
    fields:
      - name: greeting
        type: str
        doc: the greeting text
implementation:
  posix: |
    GuestQganbProbe *r = g_new0(GuestQganbProbe, 1);
    r->greeting = g_strdup("hello");
    return r;
verify:
  cases:
    - name: greets
      expect: {greeting: hello}
"""


def recipe_file(tmp_path: Path, text: str, name: str = "probe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def apply_via_cli(recipe: Path, tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qganb", "recipe", "apply", str(recipe), "--source", str(tree)],
                          capture_output=True, text=True)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


LOAD_ERRORS = [
    ("invalid command name", GOOD.replace("command: guest-qganb-probe", "command: Guest_Probe"),
     "command: Guest_Probe", "command name 'Guest_Probe' is invalid"),
    ("unknown type", GOOD.replace("type: str\n        doc: the greeting", "type: strng\n        doc: the greeting"),
     "type: strng", "unknown type 'strng'"),
    ("missing doc", GOOD.replace("doc: Answer with a fixed greeting.\n", ""), "command: guest-qganb-probe",
     "a non-empty `doc` is needed"),
    ("struct field name clash", GOOD.replace(
        "        doc: the greeting text\n",
        "        doc: the greeting text\n      - name: greeting  # clash\n        type: int\n        doc: again\n"),
     "- name: greeting  # clash", "'greeting' clashes with 'greeting'"),
    ("builtin return without opt-in", GOOD.replace(
        "  struct:\n    name: GuestQganbProbe\n    doc: A greeting.\n    fields:\n      - name: greeting\n"
        "        type: str\n        doc: the greeting text\n", "  builtin: int\n"),
     "returns:", "needs `allow-builtin: true`"),
    ("not YAML at all", "int main(void) {\n  return 0; }\n: [\n", None, "not valid YAML"),
    ("YAML that is not a mapping", "- just\n- a list\n", None, "not a recipe mapping"),
    ("doc that would start a QAPI section", GOOD.replace("doc: Answer with a fixed greeting.",
                                                          "doc: |\n  Answer.\n\n  Since: yesterday"),
     "Since: yesterday", "would start a written doc line with `Since:`"),
    ("unknown field", GOOD.replace("verify:", "verfy:"), "verfy:", "unknown field `verfy`"),
    ("min above max", GOOD.replace("returns:", "arguments:\n  - name: n\n    type: int\n    doc: n\n"
                                   "    min: 5\n    max: 1\nreturns:"), "- name: n", "`min` (5) is above `max` (1)"),
]


@pytest.mark.parametrize(("kind", "text", "needle", "message"), LOAD_ERRORS, ids=[e[0] for e in LOAD_ERRORS])
def test_bad_recipe_names_file_line_and_fix(kind: str, text: str, needle: str | None, message: str,
                                            tmp_path: Path, clean_tree) -> None:
    tree = clean_tree("7.2")
    path = recipe_file(tmp_path, text)
    with pytest.raises(RecipeError) as info:
        load_recipes([path])
    error = info.value
    assert message in str(error)
    assert error.path == str(path)
    if needle is not None:
        assert error.line == line_of(text, needle), str(error)
    assert error.fix
    done = apply_via_cli(path, tree)
    assert done.returncode == 1
    assert done.stderr.startswith(f"qganb: error: {path}:")


def test_duplicate_of_an_upstream_command_names_both_places(tmp_path: Path, clean_tree) -> None:
    tree = clean_tree("10.0")
    text = GOOD.replace("guest-qganb-probe", "guest-get-load")
    path = recipe_file(tmp_path, text)
    schema = (tree / "qga/qapi-schema.json").read_text()
    upstream_line = line_of(schema, "{ 'command': 'guest-get-load'")
    with pytest.raises(RecipeError) as info:
        apply_recipes(tree, load_recipes([path]))
    message = str(info.value)
    assert message.startswith(f"{path}:{line_of(text, 'command: guest-get-load')}: command:")
    assert f"qga/qapi-schema.json line {upstream_line}" in message
    assert "already exists upstream in QEMU 10.0" in message


def test_duplicate_of_another_applied_recipe_is_refused(tmp_path: Path, clean_tree) -> None:
    tree = clean_tree("7.2")
    first = recipe_file(tmp_path, GOOD, "first.yaml")
    apply_recipes(tree, load_recipes([first]))
    second = recipe_file(tmp_path, GOOD.replace("guest-qganb-probe", "guest-qganb-other"), "second.yaml")
    with pytest.raises(RecipeError, match=r"type 'GuestQganbProbe' is already declared by the applied recipe for "
                                          r"'guest-qganb-probe'"):
        apply_recipes(tree, load_recipes([second]))
    # Leave the tree clean for the fixture's check: only the first recipe's own edits were made.
    subprocess.run(["git", "-C", str(tree), "checkout", "-q", "--", "."], check=True)


@pytest.mark.parametrize("series", ["5.2", "10.0"])
def test_qapi_generator_errors_are_shown_at_the_recipe_line(series: str, tmp_path: Path, clean_tree) -> None:
    tree = clean_tree(series)
    text = GOOD.replace("GuestQganbProbe", "GuestQganbProbeList")
    path = recipe_file(tmp_path, text)
    with pytest.raises(RecipeError) as info:
        apply_recipes(tree, load_recipes([path]))
    message = str(info.value)
    assert message.startswith(f"{path}:{line_of(text, 'name: GuestQganbProbeList')}: returns.struct.name: ")
    assert "QAPI generator rejects it: struct name should not end in 'List'" in message


def test_c_that_does_not_compile_shows_compiler_lines_mapped_to_the_recipe(tmp_path: Path, clean_tree) -> None:
    tree = clean_tree("7.2")
    text = GOOD.replace('r->greeting = g_strdup("hello");', 'r->greeting = g_strdup(hello_undeclared);')
    path = recipe_file(tmp_path, text)
    with pytest.raises(ValidationFailed) as info:
        validate_recipes(tree, load_recipes([path]))
    message = str(info.value)
    expected_line = line_of(text, "hello_undeclared")
    assert re.search(rf"{re.escape(str(path))}:{expected_line}: implementation.posix: error: .*hello_undeclared", message), message


def test_a_call_to_a_function_qemu_lacks_is_the_recipes_link_error(tmp_path: Path, clean_tree) -> None:
    """gcc only warns about an undeclared function (no -Werror); the real link fails, and the error
    names the recipe and the symbol, never "not in the recipe's C"."""
    tree = clean_tree("7.2")
    text = GOOD.replace('r->greeting = g_strdup("hello");', 'r->greeting = qganb_no_such_helper("hello");')
    path = recipe_file(tmp_path, text)
    with pytest.raises(ValidationFailed) as info:
        validate_recipes(tree, load_recipes([path]))
    message = str(info.value)
    assert "does not link" in message, message
    assert f"{path}: guest-qganb-probe: undefined reference to qganb_no_such_helper" in message, message
    assert "the recipe's C calls a function this QEMU does not have" in message


def test_c_that_crashes_the_agent_is_reported_with_the_signal(tmp_path: Path, clean_tree) -> None:
    tree = clean_tree("7.2")
    text = GOOD.replace("    GuestQganbProbe *r = g_new0(GuestQganbProbe, 1);\n",
                        "    GuestQganbProbe *r = NULL;\n") .replace(
        "verify:\n  cases:\n", "verify:\n  cases:\n    - name: crashes first\n      expect: {greeting: hello}\n")
    path = recipe_file(tmp_path, text)
    report = validate_recipes(tree, load_recipes([path]))
    assert not report.passed
    crash = report.cases[0]
    assert "killed by signal 11 (SIGSEGV)" in crash.got
    assert f"{path}:{line_of(text, '- name: crashes first')}: this case made qemu-ga crash" in crash.problem
    assert report.cases[1].got == "not run"


def test_failing_verify_case_shows_expected_against_got(tmp_path: Path, clean_tree) -> None:
    tree = clean_tree("7.2")
    path = recipe_file(tmp_path, GOOD.replace("expect: {greeting: hello}", "expect: {greeting: bonjour}"))
    report = validate_recipes(tree, load_recipes([path]))
    assert not report.passed
    (case,) = report.cases
    assert case.expected == '{"greeting": "bonjour"}' and case.got == '{"greeting": "hello"}'
    assert "FAIL  guest-qganb-probe: greets" in report.summary()
    done = subprocess.run([sys.executable, "-m", "qganb", "recipe", "validate", str(path), "--source", str(tree)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "0 passed, 1 failed" in done.stdout


def test_member_names_get_the_c_names_the_trees_generator_gives(tmp_path: Path, clean_tree) -> None:
    from qganb.recipes.plan import plan_edits
    from qganb.recipes.qemu_tree import QemuTree

    text = GOOD.replace("returns:", "arguments:\n  - name: errno\n    type: int\n    doc: an error number\n"
                                    "  - name: new\n    type: str\n    optional: true\n    doc: a name\nreturns:")
    text = text.replace("      - name: greeting\n", "      - name: template\n        type: int\n        doc: t\n"
                                                     "      - name: greeting\n")
    plan = plan_edits(QemuTree(clean_tree("7.2")), load_recipes([recipe_file(tmp_path, text)]))
    (applied,) = plan.applied
    assert applied.prototype.declaration == ("GuestQganbProbe *qmp_guest_qganb_probe(int64_t q_errno, bool has_q_new, "
                                             "const char *q_new, Error **errp)")


@pytest.mark.parametrize("where", ["argument", "field"])
def test_a_name_the_trees_generator_leaves_unprotected_is_refused(where: str, tmp_path: Path, clean_tree) -> None:
    from qganb.recipes.plan import plan_edits
    from qganb.recipes.qemu_tree import QemuTree

    if where == "argument":
        text = GOOD.replace("returns:", "arguments:\n  - name: linux  # here\n    type: int\n    doc: l\nreturns:")
    else:
        text = GOOD.replace("      - name: greeting\n", "      - name: linux  # here\n        type: int\n"
                                                         "        doc: l\n      - name: greeting\n")
    path = recipe_file(tmp_path, text)
    with pytest.raises(RecipeError) as info:
        plan_edits(QemuTree(clean_tree("5.2")), load_recipes([path]))
    error = info.value
    assert error.line == line_of(text, "# here"), str(error)
    assert "QEMU 5.2.0's QAPI generator names it `linux` in C, not `q_linux`" in str(error)
    assert "rename it" in error.fix


def test_types_of_the_tree_and_of_another_recipe_are_usable(tmp_path: Path, clean_tree) -> None:
    from qganb.recipes.plan import plan_edits
    from qganb.recipes.qemu_tree import QemuTree

    first = recipe_file(tmp_path, GOOD, "first.yaml")
    second = recipe_file(tmp_path, GOOD.replace("guest-qganb-probe", "guest-qganb-other").replace(
        "returns:", "arguments:\n  - name: state\n    type: GuestFsfreezeStatus\n    doc: s\n"
                    "  - name: probes\n    type: '[GuestQganbProbe]'\n    doc: p\nreturns:").replace(
        "  struct:\n    name: GuestQganbProbe\n    doc: A greeting.\n    fields:\n      - name: greeting\n"
        "        type: str\n        doc: the greeting text\n", "  list: GuestQganbProbe\n"),
        "second.yaml")
    plan = plan_edits(QemuTree(clean_tree("7.2")), load_recipes([first, second]))
    other = next(a for a in plan.applied if a.recipe.command == "guest-qganb-other")
    assert other.prototype.declaration == ("GuestQganbProbeList *qmp_guest_qganb_other(GuestFsfreezeStatus state, "
                                           "GuestQganbProbeList *probes, Error **errp)")


def test_a_camel_case_type_that_exists_nowhere_is_refused_on_the_tree(tmp_path: Path, clean_tree) -> None:
    text = GOOD.replace("returns:", "arguments:\n  - name: thing\n    type: GuestNoSuchThing\n    doc: t\nreturns:")
    path = recipe_file(tmp_path, text)
    done = apply_via_cli(path, clean_tree("7.2"))
    assert done.returncode == 1
    assert done.stderr.startswith(f"qganb: error: {path}:{line_of(text, 'type: GuestNoSuchThing')}: arguments.0.type: "
                                  "unknown type 'GuestNoSuchThing'"), done.stderr


def test_a_configure_failure_is_reported_as_the_build_host_not_the_recipe(tmp_path: Path, qemu_trees) -> None:
    """QEMU 2.12's real configure, on a host whose glib development files are hidden (bubblewrap
    masks the pkg-config directory, as on a machine without libglib2.0-dev): the error names
    configure and what it wants, and never blames the recipe's C."""
    tree = tmp_path / "qemu-2.12.0"
    subprocess.run(["cp", "-al", str(qemu_trees["2.12"]), str(tree)], check=True)
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "guest-get-uptime.yaml"
    done = subprocess.run(
        ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
         # The temporary directory again after the new /dev: the suite's may be on /dev/shm.
         "--bind", tempfile.gettempdir(), tempfile.gettempdir(),
         "--tmpfs", "/usr/lib/x86_64-linux-gnu/pkgconfig", "--",
         sys.executable, "-m", "qganb", "recipe", "validate", "--source", str(tree), str(recipe)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    message = done.stderr
    assert "configure failed for QEMU 2.12.0" in message, message
    assert re.search(r"glib-2\.\d+ gthread-2\.0 is required", message), message
    assert "install libglib2.0-dev (apt-get install -y --no-install-recommends libglib2.0-dev)" in message
    assert "recipe" not in message.split(";")[0].lower() and "fix the C" not in message
