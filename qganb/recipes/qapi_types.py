"""Reads the C layout of QAPI structs from a tree's generated qga-qapi-types.h.

The header, not the schema, says which optional members carry a `bool has_x`: every optional
member up to 7.x, only scalars and lists from 8.0. Reading it keeps qganb right on every version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STRUCT = re.compile(r"^struct (?P<name>\w+) \{\n(?P<body>.*?)^\};", re.M | re.S)
# A member line at the struct's own level (4 spaces): `char *name;`, `bool has_name;`, `T name[4];`.
_MEMBER = re.compile(r"^ {4}(?P<type>[A-Za-z_][\w ]*?)\s*(?P<stars>\**)\s*(?P<name>\w+)(?:\[\w*\])?;\s*$")


@dataclass(frozen=True)
class CMember:
    name: str  # the C name, e.g. read_only, has_read_only, q_errno
    ctype: str  # e.g. "char *", "GuestDiskAddressList *", "int64_t"

    @property
    def is_pointer(self) -> bool:
        return self.ctype.endswith("*")

    @property
    def pointee(self) -> str | None:
        """The type a single pointer points to (`GuestFoo` for `GuestFoo *`), else None."""
        if not self.ctype.endswith("*") or self.ctype.endswith("**"):
            return None
        return self.ctype[:-1].strip()


@dataclass(frozen=True)
class CStruct:
    name: str
    members: tuple[CMember, ...]

    def member(self, name: str) -> CMember | None:
        return next((m for m in self.members if m.name == name), None)

    def has_flag(self, name: str) -> bool:
        flag = self.member("has_" + name)
        return flag is not None and flag.ctype == "bool"

    @property
    def list_element(self) -> str | None:
        """For a QAPI list (`FooList { FooList *next; Foo *value; }`), the element's C type name."""
        names = [m.name for m in self.members]
        if names != ["next", "value"] or self.members[0].ctype != f"{self.name} *":
            return None
        return self.members[1].pointee


def read_structs(types_header: str) -> dict[str, CStruct]:
    """Every `struct Name { ... };` of the header, with its members at the struct's own level.

    Members of a union (`union { ... } u;`) and members under an `#if` inside the struct are left
    out: code that touches them would need the same condition, and qganb only ever walks
    recipe-shaped structs, which have neither.
    """
    structs: dict[str, CStruct] = {}
    for match in _STRUCT.finditer(types_header):
        members: list[CMember] = []
        depth = 0  # inside a union, or an #if block
        for line in match.group("body").splitlines():
            stripped = line.strip()
            if stripped.startswith("#if"):
                depth += 1
            elif stripped.startswith("#endif"):
                depth -= 1
            elif "{" in stripped.split("/*")[0]:  # `union { /* union tag is @type */`
                depth += 1
            elif stripped.startswith("}"):
                depth -= 1
            elif depth == 0:
                member = _MEMBER.match(line)
                if member is not None:
                    ctype = member.group("type").strip() + (" " + member.group("stars") if member.group("stars") else "")
                    members.append(CMember(member.group("name"), ctype))
        structs[match.group("name")] = CStruct(match.group("name"), tuple(members))
    return structs


__all__ = ["CMember", "CStruct", "read_structs"]
