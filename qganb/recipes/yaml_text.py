"""Recipe data as YAML text in the shipped recipes' style, and edits of a recipe file that rewrite only
what changed.

`dump_recipe` writes multi-line strings (docs, C bodies) as `|` literal blocks, keeps key order, and
uses flow style only for short lists of scalars and for short scalar-only mappings inside list items
(a verify case's arguments or predicate), never for a list's items themselves (members, cases).
`update_recipe_text` puts new data into an existing file: keys whose value did not change keep
their text, comments and layout; changed ones are written by `dump_recipe`'s rules. Both check that
what they return loads back to exactly the data they were given, with PyYAML and libyaml.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from qganb.errors import QganbError

_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
FLOW_WIDTH = 72  # a flow collection longer than this is written as a block
_NO_WRAP = 1 << 30  # PyYAML folds long scalars at 80 columns; a recipe line may be as long as it is
# YAML line breaks besides \n: a literal block would read \x85 back as \n and \r\n as \n, so a
# string holding one is written double-quoted, where they are escapes.
_ODD_BREAKS = "\r\x85\u2028\u2029"
_LINE = re.compile(r"[^\r\n\x85\u2028\u2029]*(?:\r\n|[\r\n\x85\u2028\u2029])|[^\r\n\x85\u2028\u2029]+\Z")
_LOADERS: list[Any] = [yaml.SafeLoader] + ([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])


class _Dumper(yaml.SafeDumper):
    """PyYAML's emitter with the recipes' habits; pure Python, since libyaml's ignores overrides."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # A list under a key is indented below it (`arguments:\n  - name: ...`), as recipes are written.
        return super().increase_indent(flow, False)

    def analyze_scalar(self, scalar: str) -> Any:
        analysis = super().analyze_scalar(scalar)
        if any(ch in scalar for ch in _ODD_BREAKS):
            analysis.allow_flow_plain = analysis.allow_block_plain = False
            analysis.allow_single_quoted = analysis.allow_block = False
        elif "\t" in scalar and not analysis.allow_block:
            # PyYAML refuses a literal block for any tab, but a tab inside a line is plain content there
            # (C code has them). Counted as a space, a tab at a line's end still refuses it: editors strip those.
            analysis.allow_block = super().analyze_scalar(scalar.replace("\t", " ")).allow_block
        return analysis

    def determine_block_hints(self, text: str) -> str:
        hints: str = super().determine_block_hints(text)
        if text[:1] == "\t":
            # libyaml refuses a tab where it looks for the indentation: give the indentation instead.
            hints = str(self.best_indent) + hints
        return hints

    def choose_scalar_style(self) -> str:
        style: str = super().choose_scalar_style()
        # Double quotes, as the shipped recipes use; single ones keep a pattern's backslashes readable.
        value = self.event.value
        if style == "'" and "\\" not in value and '"' not in value:
            return '"'
        return style


def _is_simple(value: Any) -> bool:
    """A scalar that fits on one line of a flow collection."""
    if isinstance(value, str):
        return "\n" not in value and not any(ch in value for ch in _ODD_BREAKS)
    return not isinstance(value, (Mapping, list, tuple))


def _node(value: Any, in_item: bool, quoted: bool, is_item: bool = False) -> yaml.Node:
    """The YAML node for `value`. `in_item`: inside a list item; `is_item`: a list item itself (a member,
    a verify case: always a block); `quoted`: every string double-quoted."""
    if isinstance(value, str):
        style = '"' if quoted else ("|" if "\n" in value else None)
        return yaml.ScalarNode(_STR, value, style=style)
    if isinstance(value, Mapping):
        pairs = [(_node(k, False, quoted), _node(v, in_item, quoted)) for k, v in value.items()]
        flow = not value or (in_item and not is_item and all(_is_simple(v) for v in value.values()))
        return _fitted(yaml.MappingNode(_MAP, pairs, flow_style=flow))
    if isinstance(value, (list, tuple)):
        items = [_node(v, True, quoted, is_item=True) for v in value]
        return _fitted(yaml.SequenceNode(_SEQ, items, flow_style=all(_is_simple(v) for v in value)))
    # A fresh representer each time: a shared one would turn a repeated object into an anchor.
    try:
        return yaml.representer.SafeRepresenter().represent_data(value)
    except yaml.YAMLError as exc:
        raise QganbError(f"a recipe cannot hold {value!r} ({type(value).__name__})",
                         "use strings, numbers, booleans, null, lists and mappings") from exc


def _fitted(node: yaml.CollectionNode) -> yaml.CollectionNode:
    """`node` as a block when its flow form would be longer than FLOW_WIDTH."""
    if node.flow_style and node.value and len(_emit(node)) > FLOW_WIDTH:
        node.flow_style = False
    return node


def _emit(node: yaml.Node, line_break: str = "\n") -> str:
    text: str = yaml.serialize(node, Dumper=_Dumper, allow_unicode=True, width=_NO_WRAP, line_break=line_break)
    return text


def _kind(value: Any) -> object:
    if isinstance(value, Mapping):
        return Mapping
    if isinstance(value, (list, tuple)):
        return list
    return type(value)


def same_data(a: Any, b: Any) -> bool:
    """Equal as recipe data, strictly: 1, 1.0 and true differ, and so does the order of keys."""
    if _kind(a) is not _kind(b):
        return False
    if isinstance(a, Mapping):
        return list(a) == list(b) and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def loads_back(text: str, data: Any) -> bool:
    """Whether `text` loads to exactly `data`, with PyYAML's loader and libyaml's alike."""
    for loader in _LOADERS:
        try:
            if not same_data(yaml.load(text, Loader=loader), data):
                return False
        except yaml.YAMLError:
            return False
    return True


def dump_recipe(data: Mapping[str, Any]) -> str:
    """Recipe data as YAML text in the shipped recipes' style; it loads back to exactly `data`."""
    text = _emit(_node(data, False, False))
    if not loads_back(text, data):
        # A string PyYAML writes wrongly in a block or plain: double quotes escape everything.
        text = _emit(_node(data, False, True))
        if not loads_back(text, data):
            raise QganbError("the recipe data cannot be written as YAML that reads back the same",
                             "look for unusual characters in its strings")
    return text


class _CannotPatch(Exception):
    """The old text is laid out in a way the line-based edit does not handle: write it anew."""


def _is_comment(line: str, column: int) -> bool:
    body = line.lstrip(" ")
    return body.startswith("#") and len(line) - len(body) == column


def _is_blank(line: str) -> bool:
    return not line.strip(" \t\r\n\x85\u2028\u2029")


def _fragment(key: str, value: Any, column: int, old: list[str], line_break: str) -> list[str]:
    """`key: value` as lines indented to `column`, keeping the blank lines that ended the old text."""
    text = _emit(yaml.MappingNode(_MAP, [(_node(key, False, False), _node(value, False, False))]), line_break)
    end_marker = "..." + line_break  # written after a `|+` block that ends the document: this one goes on
    if text.endswith(line_break + end_marker):
        text = text[: -len(end_marker)]
    blanks = 0
    while blanks < len(old) and _is_blank(old[len(old) - 1 - blanks]):
        blanks += 1
    if blanks and loads_back(text + line_break * blanks, {key: value}):
        text += line_break * blanks
    pad = " " * column
    return [pad + line if not _is_blank(line) else line for line in _LINE.findall(text)]


def _patch_mapping(node: yaml.Node, old: Any, new: Mapping[str, Any], lines: list[str], start: int, end: int,
                   line_break: str) -> list[str]:
    """The lines that replace lines[start:end], a block mapping whose data goes from `old` to `new`."""
    if not (isinstance(node, yaml.MappingNode) and not node.flow_style and node.value and isinstance(old, dict)):
        raise _CannotPatch
    keys = [key for key, _ in node.value]
    column = keys[0].start_mark.column
    for key in keys:
        line = key.start_mark.line
        if not (isinstance(key, yaml.ScalarNode) and key.style is None and key.start_mark.column == column
                and start <= line < end and not lines[line][:column].strip()):
            raise _CannotPatch
    names = [key.value for key in keys]
    if names != list(old):
        raise _CannotPatch  # keys that are not plain strings, or given twice
    # Each key owns its lines up to the next key; comment lines just above a key, at its column, go with it.
    bounds = []
    for i, key in enumerate(keys):
        line = key.start_mark.line
        while i and line > keys[i - 1].start_mark.line + 1 and _is_comment(lines[line - 1], column):
            line -= 1
        bounds.append(line)
    bounds.append(end)
    out = lines[start:bounds[0]]
    owned = {name: (bounds[i], bounds[i + 1], keys[i], node.value[i][1]) for i, name in enumerate(names)}
    for name, value in new.items():
        if name not in owned:
            out += _fragment(name, value, column, [], line_break)
            continue
        first, last, key, child = owned[name]
        if same_data(old[name], value):
            out += lines[first:last]
            continue
        if value and isinstance(value, Mapping) and isinstance(child, yaml.MappingNode):
            try:
                inner = _patch_mapping(child, old[name], value, lines, key.start_mark.line + 1, last, line_break)
                out += lines[first:key.start_mark.line + 1] + inner
                continue
            except _CannotPatch:
                pass
        out += lines[first:key.start_mark.line]  # its comments stay
        out += _fragment(name, value, column, lines[first:last], line_break)
    return out


def _head_comments(lines: list[str]) -> list[str]:
    head = []
    for line in lines:
        if not (_is_blank(line) or line.lstrip().startswith("#")):
            break
        head.append(line)
    return head


def update_recipe_text(text: str, data: Mapping[str, Any]) -> str:
    """`text`, a recipe file, holding `data` instead: the same text when the data did not change;
    otherwise only the keys whose values changed are written anew (nested mappings key by key), and
    the rest keeps its lines and comments. Falls back to the file's opening comments + `dump_recipe`."""
    try:
        old = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        old = None
    if old is not None and same_data(old, data):
        return text
    lines = _LINE.findall(text)
    head = _head_comments(lines)
    if old is not None:
        line_break = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            patched = "".join(_patch_mapping(root, old, data, lines, 0, len(lines), line_break))
            if loads_back(patched, data):
                return patched
        except (_CannotPatch, yaml.YAMLError):
            pass
    return "".join(head) + dump_recipe(data)


def write_recipe_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in its directory and a rename, so a failed
    write leaves the old file whole; the old file's mode is kept."""
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            old = path.stat()
            os.chmod(scratch, old.st_mode & 0o7777)
            if os.geteuid() == 0 and (old.st_uid, old.st_gid) != (0, 0):
                # JupyterLab as root in a user's checkout: the recipe stays the user's.
                os.chown(scratch, old.st_uid, old.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(scratch, 0o666 & ~umask)  # as open() would have made it
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
