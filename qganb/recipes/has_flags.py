"""Sets the `has_` flags of a command's result from its pointers, so one recipe body fits every QEMU.

QAPI sends an optional member only when its `has_x` is true. Up to 7.x every optional member has
one; from 8.0 an optional str or struct has none (a non-NULL pointer means present) while lists and
scalars keep theirs. A recipe body just fills pointers in; the C that qganb generates around it then
walks the returned value and sets `has_x` for every filled pointer member that has such a flag in
the tree's generated qga-qapi-types.h. Scalars are left alone: only the recipe knows if 0 means absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qganb.recipes.qapi_types import CStruct

PREFIX = "qganb"


@dataclass(frozen=True)
class ResultFlagSetters:
    """Static C functions that set the flags of one command's result, rooted at `root`."""

    command: str  # the C name of the command without qmp_, e.g. guest_get_swap
    root: str  # the C type the command returns, without its `*`
    functions: dict[str, list[str]]  # type -> the lines of its setter's definition

    def function_name(self, ctype: str) -> str:
        return setter_name(self.command, ctype)

    def lines(self) -> list[str]:
        """Forward declarations (types can refer to each other), then the definitions."""
        out = [f"static void {self.function_name(t)}({t} *obj);" for t in self.functions]
        for definition in self.functions.values():
            out += ["", *definition]
        return out

    def call(self, variable: str) -> str:
        return f"{self.function_name(self.root)}({variable});"


def setter_name(command: str, ctype: str) -> str:
    return f"{PREFIX}_{command}_set_has_{ctype}"


def _reachable(root: str, structs: dict[str, CStruct]) -> list[str]:
    """Struct and list types reachable from `root` through pointer members, in discovery order."""
    seen: list[str] = []
    todo = [root]
    while todo:
        name = todo.pop(0)
        if name in seen or name not in structs:
            continue
        seen.append(name)
        struct = structs[name]
        element = struct.list_element
        if element is not None:
            todo.append(element)
            continue
        todo += [p for m in struct.members if (p := m.pointee) is not None]
    return seen


def _flagged_pointers(struct: CStruct) -> list[str]:
    """Pointer members of `struct` that come with a has_ flag."""
    return [m.name for m in struct.members if m.is_pointer and struct.has_flag(m.name)]


def result_flag_setters(command: str, return_type: str, structs: dict[str, CStruct]) -> ResultFlagSetters | None:
    """The setters for a command returning `return_type` (e.g. `GuestFoo *`), or None when nothing
    reachable from it has a flagged pointer member (QEMU 8.0 and later without optional lists)."""
    if not return_type.endswith("*"):
        return None
    root = return_type[:-1].strip()
    types = _reachable(root, structs)
    # A type needs a setter when it has a flagged pointer, or points to a type that needs one.
    needs = {t for t in types if _flagged_pointers(structs[t])}
    grew = True
    while grew:
        grew = False
        for t in types:
            if t in needs:
                continue
            struct = structs[t]
            targets = [struct.list_element] if struct.list_element is not None else [m.pointee for m in struct.members]
            if any(p in needs for p in targets):
                needs.add(t)
                grew = True
    if root not in needs:
        return None
    setters = ResultFlagSetters(command, root, {})
    for t in types:
        if t in needs:
            setters.functions[t] = _definition(setters, structs[t], needs)
    return setters


def _definition(setters: ResultFlagSetters, struct: CStruct, needs: set[str]) -> list[str]:
    name = setters.function_name(struct.name)
    element = struct.list_element
    if element is not None:
        return [f"static void {name}({struct.name} *obj)", "{",
                "    for (; obj; obj = obj->next) {",
                f"        {setters.function_name(element)}(obj->value);",
                "    }", "}"]
    body = [f"static void {name}({struct.name} *obj)", "{", "    if (!obj) {", "        return;", "    }"]
    for member in struct.members:
        flagged = member.is_pointer and struct.has_flag(member.name)
        descend = member.pointee in needs
        call = f"{setters.function_name(member.pointee)}(obj->{member.name});" if descend and member.pointee else None
        if flagged:
            body += [f"    if (obj->{member.name}) {{", f"        obj->has_{member.name} = true;"]
            body += [f"        {call}"] if call else []
            body.append("    }")
        elif call:
            body.append(f"    {call}")
    body.append("}")
    return body


_FLAG_USE = re.compile(r"(?:->|\.)\s*has_(?P<name>\w+)\b")


def _lines_under_pre_8_guard(c_text: str) -> set[int]:
    """Line numbers inside `#if QEMU_VERSION_MAJOR < 8` ... `#else`/`#endif` (nesting counted)."""
    inside: set[int] = set()
    depth = 0  # nesting depth inside the guard; 0: outside
    for number, line in enumerate(c_text.splitlines(), start=1):
        directive = line.strip()
        if depth == 0:
            if re.match(r"#\s*if\s+QEMU_VERSION_MAJOR\s*<\s*8\b", directive):
                depth = 1
            continue
        if re.match(r"#\s*if", directive):
            depth += 1
        elif re.match(r"#\s*endif", directive) or (depth == 1 and re.match(r"#\s*(else|elif)", directive)):
            depth -= 1
            continue
        if depth:
            inside.add(number)
    return inside


def stale_flag_uses(c_text: str, root_type: str, structs: dict[str, CStruct]) -> list[tuple[int, str, str]]:
    """(line in `c_text`, member, struct) for each `->has_x` / `.has_x` the tree's structs lack
    while a struct reachable from `root_type` has a pointer member `x`: a flag QEMU 8.0 dropped.

    Such a line does not compile on that tree. A `has_x` some struct of the header has is left alone.
    """
    known_flags = {m.name for s in structs.values() for m in s.members if m.name.startswith("has_")}
    root = root_type[:-1].strip() if root_type.endswith("*") else root_type
    pointers: dict[str, str] = {}
    for t in _reachable(root, structs):
        for m in structs[t].members:
            if m.is_pointer and structs[t].list_element is None:
                pointers.setdefault(m.name, t)
    guarded = _lines_under_pre_8_guard(c_text)
    found = []
    for match in _FLAG_USE.finditer(c_text):
        name = match.group("name")
        line = c_text.count("\n", 0, match.start()) + 1
        if line in guarded:
            continue  # `#if QEMU_VERSION_MAJOR < 8`: the old way to write it, compiled out here
        if f"has_{name}" not in known_flags and name in pointers:
            found.append((c_text.count("\n", 0, match.start()) + 1, name, pointers[name]))
    return found


__all__ = ["ResultFlagSetters", "result_flag_setters", "setter_name", "stale_flag_uses"]
