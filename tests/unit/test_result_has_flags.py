"""The has_ flag setters for a command's result, from small generated-header inputs; the C they
give is compiled with gcc and run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qganb.recipes import c_code
from qganb.recipes.has_flags import result_flag_setters, setter_name, stale_flag_uses
from qganb.recipes.model import parse_recipe
from qganb.recipes.qapi_types import CMember, read_structs

# As QEMU 7.2's generator writes them: every optional member has a flag.
HEADER_7 = """\
typedef struct GuestQganbTag GuestQganbTag;
typedef struct GuestQganbTagList GuestQganbTagList;
typedef struct GuestQganbDetail GuestQganbDetail;
typedef struct GuestQganbResult GuestQganbResult;

struct GuestQganbTag {
    char *name;
    bool has_note;
    char *note;
};

void qapi_free_GuestQganbTag(GuestQganbTag *obj);

struct GuestQganbTagList {
    GuestQganbTagList *next;
    GuestQganbTag *value;
};

struct GuestQganbDetail {
    bool has_label;
    char *label;
    bool has_tags;
    GuestQganbTagList *tags;
    bool has_count;
    int64_t count;
};

struct GuestQganbResult {
    char *kind;
    bool has_detail;
    GuestQganbDetail *detail;
};
"""
# As 8.0 and later write them: optional str and struct members lose the flag, lists keep it.
HEADER_10 = (HEADER_7.replace("    bool has_note;\n", "").replace("    bool has_label;\n", "")
             .replace("    bool has_detail;\n", ""))

HARNESS = r"""
int main(void)
{
    GuestQganbTag first = { "tag-0", false, "even" }, second = { "tag-1", false, NULL };
    GuestQganbTagList tail = { NULL, &second }, head = { &tail, &first };
    GuestQganbDetail detail = { 0 };
    GuestQganbResult result = { "full", false, &detail };

    detail.label = "shelf";
    detail.tags = &head;
    SETTER(&result);
    SETTER(NULL);
    printf("detail=%d label=%d tags=%d count=%d note0=%d note1=%d\n", result.has_detail, detail.has_label,
           detail.has_tags, detail.has_count, first.has_note, second.has_note);
    return 0;
}
"""


def _compile_and_run(tmp_path: Path, header: str, lines: list[str], setter: str, harness: str) -> str:
    source = tmp_path / "flags.c"
    source.write_text("#include <stdbool.h>\n#include <stdint.h>\n#include <stdio.h>\n"
                      + header + "\n".join(lines) + f"\n#define SETTER {setter}\n" + harness)
    binary = tmp_path / "flags"
    done = subprocess.run(["gcc", "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(source)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.strip()


def test_the_header_gives_members_flags_and_list_elements() -> None:
    structs = read_structs(HEADER_7 + """
struct GuestFileWhence {
    QType type;
    union { /* union tag is @type */
        int64_t value;
        char *name;
    } u;
};
""")
    assert structs["GuestQganbTag"].members == (CMember("name", "char *"), CMember("has_note", "bool"),
                                                CMember("note", "char *"))
    assert structs["GuestQganbTag"].has_flag("note") and not structs["GuestQganbTag"].has_flag("name")
    assert structs["GuestQganbTagList"].list_element == "GuestQganbTag"
    assert structs["GuestQganbDetail"].list_element is None
    assert [m.name for m in structs["GuestFileWhence"].members] == ["type"], "union members are not the struct's"


def test_before_8_0_every_filled_pointer_gets_its_flag_through_nested_structs_and_lists(tmp_path: Path) -> None:
    setters = result_flag_setters("guest_x", "GuestQganbResult *", read_structs(HEADER_7))
    assert setters is not None
    assert list(setters.functions) == ["GuestQganbResult", "GuestQganbDetail", "GuestQganbTagList", "GuestQganbTag"]
    assert setters.functions["GuestQganbDetail"] == [
        "static void qganb_guest_x_set_has_GuestQganbDetail(GuestQganbDetail *obj)",
        "{",
        "    if (!obj) {",
        "        return;",
        "    }",
        "    if (obj->label) {",
        "        obj->has_label = true;",
        "    }",
        "    if (obj->tags) {",
        "        obj->has_tags = true;",
        "        qganb_guest_x_set_has_GuestQganbTagList(obj->tags);",
        "    }",
        "}",
    ]
    assert setters.call("result") == "qganb_guest_x_set_has_GuestQganbResult(result);"
    out = _compile_and_run(tmp_path, HEADER_7, setters.lines(), setter_name("guest_x", "GuestQganbResult"), HARNESS)
    # count is a scalar the body did not flag: it stays absent. NULL pointers stay absent too.
    assert out == "detail=1 label=1 tags=1 count=0 note0=1 note1=0"


def test_from_8_0_only_lists_get_their_flag(tmp_path: Path) -> None:
    setters = result_flag_setters("guest_x", "GuestQganbResult *", read_structs(HEADER_10))
    assert setters is not None
    assert list(setters.functions) == ["GuestQganbResult", "GuestQganbDetail"], "the tags need nothing"
    harness = (HARNESS.replace("false, ", "").replace("result.has_detail, detail.has_label,", "1, 1,")
               .replace("first.has_note, second.has_note", "1, 0"))
    out = _compile_and_run(tmp_path, HEADER_10, setters.lines(), setter_name("guest_x", "GuestQganbResult"), harness)
    assert out == "detail=1 label=1 tags=1 count=0 note0=1 note1=0"


@pytest.mark.parametrize(("return_type", "header"), [
    ("int64_t", HEADER_7),  # a scalar
    ("strList *", HEADER_7),  # a builtin list: not in the qga header, nothing to walk
    ("GuestQganbTag *", HEADER_10),  # 8.0 and later, no list: the body is left exactly as it was
])
def test_nothing_is_generated_when_nothing_has_a_flag_to_set(return_type: str, header: str) -> None:
    assert result_flag_setters("guest_x", return_type, read_structs(header)) is None


def test_a_type_that_contains_itself_gets_one_setter_that_recurses(tmp_path: Path) -> None:
    header = """\
typedef struct GuestNode GuestNode;
typedef struct GuestNodeList GuestNodeList;

struct GuestNode {
    char *name;
    bool has_children;
    GuestNodeList *children;
};

struct GuestNodeList {
    GuestNodeList *next;
    GuestNode *value;
};
"""
    setters = result_flag_setters("guest_tree", "GuestNodeList *", read_structs(header))
    assert setters is not None and list(setters.functions) == ["GuestNodeList", "GuestNode"]
    harness = r"""
int main(void)
{
    GuestNode leaf = { "leaf", false, NULL }, root = { "root", false, NULL };
    GuestNodeList leaves = { NULL, &leaf }, roots = { NULL, &root };

    root.children = &leaves;
    SETTER(&roots);
    printf("%d %d\n", root.has_children, leaf.has_children);
    return 0;
}
"""
    assert _compile_and_run(tmp_path, header, setters.lines(), setter_name("guest_tree", "GuestNodeList"),
                            harness) == "1 0"


def test_a_flag_8_0_dropped_is_found_at_its_line() -> None:
    body = "r->detail = d;\nd->has_label = true;\nd->has_tags = true;\nd->has_count = true;\nhas_label = 1;\n"
    assert stale_flag_uses(body, "GuestQganbResult *", read_structs(HEADER_10)) == [(2, "label", "GuestQganbDetail")]
    assert stale_flag_uses(body, "GuestQganbResult *", read_structs(HEADER_7)) == []


def test_a_flag_under_the_pre_8_0_guard_is_the_old_workaround_and_left_alone() -> None:
    body = ("#if QEMU_VERSION_MAJOR < 8\nd->has_label = true;\n#if 1\n#endif\nd->has_label = true;\n#else\n"
            "d->label = NULL;\n#endif\nd->has_label = true;\n")
    assert stale_flag_uses(body, "GuestQganbResult *", read_structs(HEADER_10)) == [(9, "label", "GuestQganbDetail")]


RECIPE = """\
command: guest-x
doc: X.
returns:
  doc: the result
  struct:
    name: GuestQganbResult
    doc: R.
    fields:
      - {name: kind, type: str, doc: k}
implementation:
  posix: |
    GuestQganbResult *r = g_new0(GuestQganbResult, 1);
    return r;
verify:
  cases:
    - {name: works, expect: {kind: x}}
"""


def test_with_setters_the_body_moves_into_a_static_function_and_keeps_its_line_map() -> None:
    recipe = parse_recipe(RECIPE, Path("x.yaml"))
    proto = c_code.Prototype("GuestQganbResult *", "qmp_guest_x", [("bool", "has_n"), ("int64_t", "n")])
    plain = c_code.render_linux_block(recipe, proto, guard_linux=False)
    assert "\nGuestQganbResult *qmp_guest_x(bool has_n, int64_t n, Error **errp)\n{\n" \
           "    GuestQganbResult *r = g_new0(GuestQganbResult, 1);\n" in plain.text
    setters = result_flag_setters("guest_x", "GuestQganbResult *", read_structs(HEADER_7))
    block = c_code.render_linux_block(recipe, proto, guard_linux=True, setters=setters)
    lines = block.text.splitlines()
    assert lines[block.body_start] == "    GuestQganbResult *r = g_new0(GuestQganbResult, 1);"
    assert block.body_lines == 2
    assert "static GuestQganbResult *qganb_guest_x_body(bool has_n, int64_t n, Error **errp)" in lines
    wrapper = block.text[block.text.index("\nGuestQganbResult *qmp_guest_x("):block.text.index("#else")]
    assert wrapper == ("\nGuestQganbResult *qmp_guest_x(bool has_n, int64_t n, Error **errp)\n{\n"
                       "    GuestQganbResult *result = qganb_guest_x_body(has_n, n, errp);\n\n"
                       "    qganb_guest_x_set_has_GuestQganbResult(result);\n    return result;\n}\n")
    # An argument called `result` is not shadowed.
    proto = c_code.Prototype("GuestQganbResult *", "qmp_guest_x", [("const char *", "result")])
    block = c_code.render_linux_block(recipe, proto, guard_linux=False, setters=setters)
    assert "    GuestQganbResult *ret = qganb_guest_x_body(result, errp);" in block.text
