"""Reads a prepped QEMU source tree: its version, where qga keeps things, what it already declares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from qganb.errors import TreeError

SCHEMA = "qga/qapi-schema.json"


@dataclass(frozen=True)
class Declaration:
    kind: str  # command, struct, enum, union, alternate
    name: str
    line: int
    offset: int = 0  # of the declaration's first character in the schema text


class QemuTree:
    """A QEMU source tree (2.12 to 10.x) as the recipe engine sees it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        version_file = self.root / "VERSION"
        if not version_file.is_file() or not (self.root / SCHEMA).is_file():
            raise TreeError(
                f"{self.root} is not a QEMU source tree (no VERSION or {SCHEMA})",
                "pass the prepped tree, e.g. BUILD/qemu-<version> after `rpmbuild -bp`",
            )
        self.version_text = version_file.read_text().strip()
        match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", self.version_text)
        if not match:
            raise TreeError(f"{version_file} holds {self.version_text!r}, not a QEMU version",
                            "check that this is an unmodified QEMU tree")
        self.version = (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
        if self.version < (2, 12) or self.version >= (11, 0):
            raise TreeError(f"QEMU {self.version_text} is outside the supported range 2.12 to 10.x",
                            "use a QEMU tree from 2.12 to 10.x")

    @property
    def schema_path(self) -> Path:
        return self.root / SCHEMA

    @property
    def returns_pragma(self) -> str:
        """The pragma listing commands allowed to return a non-dict (renamed in 6.0)."""
        return "command-returns-exceptions" if self.version >= (6, 0) else "returns-whitelist"

    @property
    def linux_source(self) -> str:
        """The file this version keeps Linux command code in."""
        return "qga/commands-linux.c" if self.version >= (9, 1) else "qga/commands-posix.c"

    @property
    def windows_source(self) -> str:
        return "qga/commands-win32.c"

    @property
    def uses_if_conditions(self) -> bool:
        """From 9.1 the qga schema marks Linux-only commands with 'if': 'CONFIG_LINUX'."""
        return self.version >= (9, 1)

    @property
    def optional_pointers_have_has_flag(self) -> bool:
        """Before 8.0 every optional argument comes with `bool has_x`; from 8.0 only scalars do."""
        return self.version < (8, 0)

    @cached_property
    def declarations(self) -> list[Declaration]:
        return declarations_in(self.schema_path.read_text())

    def qapi_gen(self) -> Path:
        path = self.root / "scripts" / "qapi-gen.py"
        if not path.is_file():
            raise TreeError(f"{path} is missing", "QEMU 2.12 and later ship it; use a complete source tree")
        return path


_DECLARATION = re.compile(r"^\{\s*'(command|struct|enum|union|alternate)'\s*:\s*'([^']+)'", re.M)


def declarations_in(schema_text: str) -> list[Declaration]:
    found = []
    for match in _DECLARATION.finditer(schema_text):
        line = schema_text.count("\n", 0, match.start()) + 1
        found.append(Declaration(match.group(1), match.group(2), line, match.start()))
    return found
