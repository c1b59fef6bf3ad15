"""Writes a recipe into `qga/qapi-schema.json` the way a given QEMU version's QAPI parser wants it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qganb.errors import TreeError
from qganb.recipes import doc_layout
from qganb.recipes.model import Member, Recipe, StructType
from qganb.recipes.qemu_tree import QemuTree

def begin_marker(command: str, comment: str) -> str:
    return f"{comment} qganb recipe {command}: begin (generated; edit the recipe, not this block)"


def end_marker(command: str, comment: str) -> str:
    return f"{comment} qganb recipe {command}: end"


@dataclass(frozen=True)
class SchemaBlock:
    text: str
    # line offset within `text` (0-based) -> recipe field path it came from
    origins: dict[int, tuple[str | int, ...]]


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.origins: dict[int, tuple[str | int, ...]] = {}

    def add(self, line: str, origin: tuple[str | int, ...]) -> None:
        self.origins[len(self.lines)] = origin
        self.lines.append(line)


def _doc_text(out: _Lines, text: str, origin: tuple[str | int, ...]) -> None:
    for line in doc_layout.written(doc_layout.text_lines(text)):
        out.add(line, origin)


def _member_doc(out: _Lines, member: Member, origin: tuple[str | int, ...]) -> None:
    for line in doc_layout.written(doc_layout.member_lines(member.name, member.doc)):
        out.add(line, origin)


def _data(members: list[Member]) -> str:
    items = [f"'{'*' if m.optional else ''}{m.name}': '{m.element_type}'" if not m.type.startswith("[")
             else f"'{'*' if m.optional else ''}{m.name}': ['{m.element_type}']" for m in members]
    one_line = "{ " + ", ".join(items) + " }"
    if len(one_line) < 56:
        return one_line
    return "{ " + (",\n" + " " * 12).join(items) + " }"


def _struct(out: _Lines, struct: StructType, since: str, origin: tuple[str | int, ...]) -> None:
    out.add("##", origin)
    out.add(f"# @{struct.name}:", origin + ("name",))
    out.add("#", origin)
    _doc_text(out, struct.doc, origin + ("doc",))
    for i, f in enumerate(struct.fields):
        out.add("#", origin)
        _member_doc(out, f, origin + ("fields", i, "doc"))
    out.add("#", origin)
    out.add(f"# Since: {since}", ("since",))
    out.add("##", origin)
    data = _data(struct.fields).replace("\n", "\n  ")
    out.add(f"{{ 'struct': '{struct.name}',", origin + ("name",))
    for j, line in enumerate(f"  'data': {data} }}".splitlines()):
        out.add(line, origin + ("fields", min(j, len(struct.fields) - 1)))


def render_block(recipe: Recipe, tree: QemuTree) -> SchemaBlock:
    """The schema text for one recipe: its types, then its command, each with its doc comment."""
    model = recipe.model
    out = _Lines()
    out.add(begin_marker(model.command, "#"), ("command",))
    for i, t in enumerate(model.types):
        out.add("", ("types", i))
        _struct(out, t, model.since, ("types", i))
    if model.returns is not None and model.returns.struct is not None:
        out.add("", ("returns", "struct"))
        _struct(out, model.returns.struct, model.since, ("returns", "struct"))

    out.add("", ("command",))
    out.add("##", ("command",))
    out.add(f"# @{model.command}:", ("command",))
    out.add("#", ("doc",))
    _doc_text(out, model.doc, ("doc",))
    for i, a in enumerate(model.arguments):
        out.add("#", ("arguments", i))
        _member_doc(out, a, ("arguments", i, "doc"))
    if model.returns is not None:
        out.add("#", ("returns",))
        _returns_doc(out, model.returns.doc)
    out.add("#", ("since",))
    out.add(f"# Since: {model.since}", ("since",))
    out.add("##", ("command",))

    parts = [f"{{ 'command': '{model.command}'"]
    if model.arguments:
        parts.append("  'data': " + _data(model.arguments).replace("\n", "\n  "))
    if model.returns is not None:
        rtype = model.returns.qapi_type
        parts.append(f"  'returns': ['{rtype[1:-1]}']" if rtype.startswith("[") else f"  'returns': '{rtype}'")
    if tree.uses_if_conditions:
        condition = "'CONFIG_LINUX'"
        if model.implementation.windows is not None:
            condition = "{ 'any': [ 'CONFIG_LINUX', 'CONFIG_WIN32' ] }"
        parts.append(f"  'if': {condition}")
    declaration = ",\n".join(parts) + " }"
    for line in declaration.splitlines():
        origin: tuple[str | int, ...] = ("command",)
        if "'data'" in line or line.startswith("            '"):
            origin = ("arguments",)
        elif "'returns'" in line:
            origin = ("returns",)
        out.add(line, origin)
    out.add("", ("command",))
    out.add(end_marker(model.command, "#"), ("command",))
    return SchemaBlock("\n".join(out.lines) + "\n", out.origins)


def _returns_doc(out: _Lines, doc: str) -> None:
    for line in doc_layout.written(doc_layout.returns_lines(doc)):
        out.add(line, ("returns", "doc"))


def block_span(text: str, command: str, comment: str) -> tuple[int, int] | None:
    """(start, end) offsets of this command's generated block in `text`, markers included."""
    begin = text.find(begin_marker(command, comment))
    if begin < 0:
        return None
    end_text = end_marker(command, comment)
    end = text.find(end_text, begin)
    if end < 0:
        raise TreeError(f"the qganb block for {command} has a begin marker but no end marker",
                        "restore the file from the git baseline (git checkout -- FILE) and apply again")
    line_end = text.find("\n", end)
    return begin, len(text) if line_end < 0 else line_end + 1


def put_block(text: str, command: str, block: str, comment: str) -> tuple[str, int]:
    """Insert or replace the command's block; return the new text and the block's first line (1-based)."""
    span = block_span(text, command, comment)
    if span is None:
        if not text.endswith("\n"):
            text += "\n"
        start = len(text) + 1
        text = text + "\n" + block
    else:
        start = span[0]
        text = text[:span[0]] + block + text[span[1]:]
    return text, text.count("\n", 0, start) + 1


def set_pragma_entry(text: str, pragma: str, command: str, wanted: bool) -> str:
    """Add `command` to (or remove it from) the pragma list named `pragma`."""
    match = re.search(rf"'{re.escape(pragma)}'\s*:\s*\[(?P<body>[^\]]*)\]", text)
    if match is None:
        if not wanted:
            return text
        raise TreeError(f"{pragma!r} is not in qga/qapi-schema.json, so a builtin return cannot be allowed",
                        "return a struct instead (recommended), or check that the tree is a complete QEMU source")
    body = match.group("body")
    items = re.findall(r"'([^']+)'", body)
    if (command in items) == wanted:
        return text
    if wanted:
        last = list(re.finditer(r"'[^']+'", body))[-1]
        indent = re.search(r"\n(\s*)'[^']+'\s*$", body[: last.end()])
        sep = ",\n" + (indent.group(1) if indent else " ")
        insert_at = match.start("body") + last.end()
        return text[:insert_at] + f"{sep}'{command}'" + text[insert_at:]
    entry = re.search(rf",\s*'{re.escape(command)}'|'{re.escape(command)}'\s*,?", body)
    assert entry is not None
    start = match.start("body") + entry.start()
    return text[:start] + text[match.start("body") + entry.end():]
