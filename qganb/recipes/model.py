"""The recipe format: one YAML file declaring one QGA command, validated with line numbers.

A recipe says what the command is (name, doc, arguments with constraints, return), how it is
implemented (a C body for Linux/POSIX, optionally one for Windows) and how to check it (verify
cases). It does not say how a given QEMU version wants that written: `qganb.recipes.plan` decides that.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from qganb.errors import RecipeError, RecipeProblems
from qganb.recipes import doc_layout

BUILTIN_TYPES = {
    "str", "int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "size", "number", "bool",
}
INTEGER_TYPES = BUILTIN_TYPES - {"str", "number", "bool"}
# What each integer type can hold in C (`int` is int64_t, `size` is uint64_t).
INTEGER_RANGES = {
    "int": (-2**63, 2**63 - 1), "int8": (-2**7, 2**7 - 1), "int16": (-2**15, 2**15 - 1),
    "int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1), "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1), "size": (0, 2**64 - 1),
}
# Names QAPI's generator does not emit as-is: it prefixes them with q_ so the generated C compiles
# as C and C++ and does not collide with macros the C library or GCC define (errno, linux, unix...).
# The language keyword lists are standard; the "polluted" words are the ones QAPI itself protects.
PROTECTED_C_NAMES = frozenset({
    # C89
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "int", "long", "register", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    # C99, C11 (the _Capitalised ones cannot be recipe names, listed for completeness)
    "inline", "restrict", "_Bool", "_Complex", "_Imaginary", "_Alignas", "_Alignof", "_Atomic",
    "_Generic", "_Noreturn", "_Static_assert", "_Thread_local",
    # GCC extensions
    "asm", "typeof",
    # C++, with the alternative operator spellings
    "bool", "catch", "class", "const_cast", "delete", "dynamic_cast", "explicit", "false", "friend",
    "mutable", "namespace", "new", "operator", "private", "protected", "public", "reinterpret_cast",
    "static_cast", "template", "this", "throw", "true", "try", "typeid", "typename", "using", "virtual",
    "wchar_t", "and", "and_eq", "bitand", "bitor", "compl", "not", "not_eq", "or", "or_eq", "xor", "xor_eq",
    # macros from libc or the compiler
    "unix", "errno", "mips", "sparc", "i386", "linux",
})
COMMAND_NAME = re.compile(r"guest-[a-z][a-z0-9]*(-[a-z0-9]+)*")
MEMBER_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
TYPE_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
GUIDE = "see recipes/README.md for the format"


def c_name(name: str) -> str:
    """QAPI's C spelling of a member or command name: `-` becomes `_`, protected names get `q_`.

    Older generators protect fewer words (QEMU 5.2 leaves `linux` alone); `qganb.recipes.plan`
    checks these names against the tree's generated headers, which have the final word.
    """
    name = name.replace("-", "_")
    return "q_" + name if name in PROTECTED_C_NAMES else name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=lambda s: s.replace("_", "-"),
                              populate_by_name=True, frozen=True)


def _check_doc(value: str) -> str:
    # Section words are checked once the recipe's line map exists (_check_docs), as the doc is written.
    if not value or not value.strip():
        raise ValueError("a non-empty `doc` is needed: QAPI requires a doc comment for every definition and member")
    return value


# Validated even when absent, so a missing doc is reported at the definition that lacks it.
Doc = Annotated[str, AfterValidator(_check_doc), Field(default="", validate_default=True)]


def _check_member(name: str, what: str) -> None:
    if not MEMBER_NAME.fullmatch(name):
        raise ValueError(f"{what} name {name!r} is invalid: use lower case letters, digits and single '-'")
    if name.startswith("has-"):
        raise ValueError(f"{what} name {name!r} clashes with QAPI's generated has_ flags: rename it")
    if name == "errp":
        raise ValueError(f"{what} name 'errp' clashes with the Error **errp parameter of every command: rename it")


def _as_number(value: object, info: ValidationInfo) -> int | float:
    # YAML 1.1 reads 1e30 (no dot) as a string; read it as the number the author meant.
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{info.field_name}` must be a number, not {value!r}")
    return value


def _check_bound(value: int | float | None, info: ValidationInfo) -> int | float | None:
    """A bound must be a value the argument's C type can hold: finite, whole for integers, in range."""
    if value is None:
        return None
    name, kind = info.data.get("name", "?"), info.data.get("type")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"`{info.field_name}` must be a finite number, not {value}")
    if kind not in INTEGER_RANGES:
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)  # 5.0 means 5; larger floats are not exact, so they are not accepted as whole
    low, high = INTEGER_RANGES[kind]
    if isinstance(value, float) and abs(value) < 2**64:
        raise ValueError(f"`{info.field_name}` is {value:g} but {name!r} is of type {kind}: give a whole number")
    if isinstance(value, float) or not low <= value <= high:
        raise ValueError(f"`{info.field_name}` {value:g} is outside the range of {kind} ({low} to {high}): "
                         "give a bound the type can hold")
    return value


Bound = Annotated[int | float | None, BeforeValidator(lambda v, info: None if v is None else _as_number(v, info)),
                  AfterValidator(_check_bound)]


class Member(_Model):
    """An argument of the command or a field of a struct."""

    name: str
    type: str
    doc: Doc
    optional: bool = False
    min: Bound = None
    max: Bound = None
    enum: list[str] | None = None
    pattern: str | None = None

    @property
    def element_type(self) -> str:
        return self.type[1:-1] if self.type.startswith("[") and self.type.endswith("]") else self.type

    @model_validator(mode="after")
    def _rules(self) -> Member:
        _check_member(self.name, "member")
        if (self.min is not None or self.max is not None) and self.type not in INTEGER_TYPES | {"number"}:
            raise ValueError(f"`min`/`max` apply to integer and number types, not {self.type!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min:g}) is above `max` ({self.max:g})")
        if (self.enum is not None or self.pattern is not None) and self.type != "str":
            raise ValueError(f"`enum`/`pattern` apply to str members, not {self.type!r}")
        if self.enum is not None and not self.enum:
            raise ValueError("`enum` lists no values")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"`pattern` is not a valid regular expression: {exc}") from exc
        return self

    @property
    def has_constraints(self) -> bool:
        return any(v is not None for v in (self.min, self.max, self.enum, self.pattern))


class StructType(_Model):
    name: str
    doc: Doc
    fields: list[Member]

    @model_validator(mode="after")
    def _rules(self) -> StructType:
        if not TYPE_NAME.fullmatch(self.name):
            raise ValueError(f"type name {self.name!r} is invalid: use CamelCase, e.g. GuestWatchdogState")
        if not self.fields:
            raise ValueError(f"struct {self.name!r} has no fields")
        for f in self.fields:
            if f.has_constraints:
                raise ValueError(f"field {f.name!r}: constraints apply to command arguments, not result fields")
        return self


def _first_clash(names: list[str]) -> tuple[int, str, str] | None:
    """(index, name, earlier name) of the first member whose C name repeats an earlier one."""
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        key = c_name(name)
        if key in seen:
            return index, name, seen[key]
        seen[key] = name
    return None


class Returns(_Model):
    doc: Doc
    struct: StructType | None = None
    # element type of a list return: a struct from `types`, or a builtin with the opt-in
    list_of: str | None = Field(default=None, alias="list")
    builtin: str | None = None
    allow_builtin: bool = False

    @model_validator(mode="after")
    def _rules(self) -> Returns:
        chosen = [k for k in ("struct", "list_of", "builtin") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("`returns` needs exactly one of `struct` (preferred), `list` or `builtin`")
        non_dict = self.builtin is not None or (self.list_of is not None and self.list_of in BUILTIN_TYPES)
        if non_dict and not self.allow_builtin:
            kind = self.builtin or f"[{self.list_of}]"
            raise ValueError(
                f"returning the builtin {kind!r} needs `allow-builtin: true` (QAPI lists such commands "
                "as pragma exceptions); prefer `struct` with named, documented fields"
            )
        if self.builtin is not None and self.builtin not in BUILTIN_TYPES:
            raise ValueError(f"`builtin` must be one of {', '.join(sorted(BUILTIN_TYPES))}, not {self.builtin!r}")
        return self

    @property
    def qapi_type(self) -> str:
        if self.struct is not None:
            return self.struct.name
        if self.list_of is not None:
            return f"[{self.list_of}]"
        assert self.builtin is not None
        return self.builtin

    @property
    def needs_pragma(self) -> bool:
        return self.builtin is not None or (self.list_of is not None and self.list_of in BUILTIN_TYPES)


class Implementation(_Model):
    posix: str
    windows: str | None = None
    includes: list[str] = Field(default_factory=list)
    helpers: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> Implementation:
        if not self.posix.strip():
            raise ValueError("`posix` must hold the C body of the command")
        for inc in self.includes:
            if not re.fullmatch(r"<[A-Za-z0-9_./-]+\.h>|\"[A-Za-z0-9_./-]+\.h\"", inc):
                raise ValueError(f"include {inc!r} must look like <sys/stat.h> or \"qemu/cutils.h\"")
        return self


JsonType = Literal["int", "number", "str", "bool", "list", "object", "null"]


class Predicate(_Model):
    """What a verify case's result must satisfy, field by field."""

    type: JsonType | None = None
    equals: Any = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    fields: dict[str, Predicate] | None = None
    items: Predicate | None = None


Predicate.model_rebuild()


class VerifyCase(_Model):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    expect: Any = None
    satisfies: Predicate | None = None
    expect_error: str | None = None
    guest_check: str | None = None  # shell line run on the guest over SSH by the verify stage
    timeout: float | None = None  # seconds to wait for the agent's answer; None: the back end's default

    @model_validator(mode="after")
    def _rules(self) -> VerifyCase:
        if self.timeout is not None and not 0 < self.timeout <= 3600:
            raise ValueError(f"verify case {self.name!r}: timeout {self.timeout:g} must be between 0 and 3600 seconds")
        given = [k for k in ("expect", "satisfies", "expect_error") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"verify case {self.name!r} needs exactly one of `expect`, `satisfies` or `expect-error`")
        return self


class Verify(_Model):
    environment: dict[str, str] = Field(default_factory=dict)
    cases: list[VerifyCase]

    @model_validator(mode="after")
    def _rules(self) -> Verify:
        if not self.cases:
            raise ValueError("`verify.cases` is empty: give at least one case")
        for key in self.environment:
            if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
                raise ValueError(f"environment variable name {key!r} is invalid")
        return self


class RecipeModel(_Model):
    command: str
    doc: Doc
    since: str = "1.0"
    arguments: list[Member] = Field(default_factory=list)
    types: list[StructType] = Field(default_factory=list)
    returns: Returns | None = None
    implementation: Implementation
    verify: Verify
    # SELinux booleans the command needs under a confined qemu-ga (virt_qemu_ga_t); install reports them.
    selinux_booleans: list[str] = Field(default_factory=list)

    # Field validators, not the model's: they run even when another field is wrong, so every problem shows.
    @field_validator("selinux_booleans")
    @classmethod
    def _selinux_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"SELinux boolean {name!r} is not a boolean name such as virt_qemu_ga_read_nonsecurity_files")
        return names

    @field_validator("since")
    @classmethod
    def _since_text(cls, since: str) -> str:
        if not re.fullmatch(r"[\w.+ -]{1,40}", since):
            raise ValueError(f"`since` must be a short version string such as \"1.0\", not {since!r}")
        return since

    @field_validator("command")
    @classmethod
    def _command_name(cls, command: str) -> str:
        if not COMMAND_NAME.fullmatch(command):
            raise ValueError(
                f"command name {command!r} is invalid: QGA commands are lower case words joined by '-' "
                "and start with 'guest-', e.g. guest-set-watchdog-timeout"
            )
        return command

    @model_validator(mode="after")
    def _rules(self) -> RecipeModel:
        defined = {t.name for t in self.all_types}
        if len(defined) != len(self.all_types):
            raise ValueError("two types in this recipe share a name")
        return self

    @property
    def all_types(self) -> list[StructType]:
        extra = [self.returns.struct] if self.returns is not None and self.returns.struct is not None else []
        return [*self.types, *extra]


@dataclass(frozen=True)
class Recipe:
    """A validated recipe plus where each part of it came from, for error messages."""

    path: Path
    model: RecipeModel
    lines: dict[tuple[str | int, ...], int] = field(repr=False, compare=False)

    @property
    def command(self) -> str:
        return self.model.command

    @property
    def c_command(self) -> str:
        return "qmp_" + c_name(self.model.command)

    def line_of(self, *path: str | int) -> int:
        """Line of the deepest known node on `path` (1-based)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def value_line(self, path: tuple[str | int, ...], line_in_value: int) -> int:
        """YAML line of line `line_in_value` (1-based) of a scalar; its key's line unless written with `|`."""
        if path + ("#literal",) in self.lines:
            return self.lines[path + ("#body",)] + line_in_value - 1
        return self.line_of(*path)

    def body_first_line(self, key: str) -> int:
        """Line of the first C line of implementation.`key` in the YAML file."""
        return self.lines.get(("implementation", key, "#body"), self.line_of("implementation", key))

    def error(self, problem: str, fix: str, *path: str | int) -> RecipeError:
        return RecipeError(self.path, self.line_of(*path), ".".join(map(str, path)) or None, problem, fix)


def _record_lines(node: yaml.Node, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            out[path + (name,)] = key.start_mark.line + 1
            _record_lines(value, path + (name,), out)
            if isinstance(value, yaml.ScalarNode) and value.style in ("|", ">"):
                out[path + (name, "#body")] = value.start_mark.line + 2
            elif isinstance(value, yaml.ScalarNode):
                out[path + (name, "#body")] = value.start_mark.line + 1
            if isinstance(value, yaml.ScalarNode) and value.style == "|":
                out[path + (name, "#literal")] = 1  # line k of the value is line #body + k - 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, path + (index,), out)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_yaml_events(text: str, path: Path) -> None:
    """Refuse anchors, aliases, merge keys and repeated keys, before anything is built.

    An alias multiplies what is built (an "alias bomb" of 9 levels is 10^9 nodes) and a repeated
    key silently replaces the first one; a recipe needs neither. Events come from libyaml when present.
    """
    # Per open collection: its path, whether the next mapping event is a key, the keys seen, the key.
    stack: list[dict[str, Any]] = []

    def where() -> tuple[str | int, ...]:
        return tuple(stack[-1]["path"]) if stack else ()

    def fail(line: int, field: tuple[str | int, ...], problem: str, fix: str) -> None:
        raise RecipeError(path, line, ".".join(map(str, field)) or None, problem, fix)

    loader = _LOADER(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            line = event.start_mark.line + 1
            top = stack[-1] if stack else None
            is_key = top is not None and top["mapping"] and top["expect_key"]
            # The path of the node this event opens or is: its parent's path plus its key or index.
            if top is None:
                node_path: tuple[str | int, ...] = ()
            elif top["mapping"]:
                node_path = where() if is_key else where() + (top["key"],)
            else:
                node_path = where() + (top["index"],)
            if isinstance(event, yaml.AliasEvent):
                fail(line, node_path, f"YAML alias `*{event.anchor}` is not allowed in a recipe",
                     "write the value out in full; anchors and aliases are refused")
            if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)) \
                    and event.anchor is not None:
                fail(line, node_path, f"YAML anchor `&{event.anchor}` is not allowed in a recipe",
                     "remove it and write each value out in full; anchors and aliases are refused")
            if is_key and top is not None:
                key = event.value if isinstance(event, yaml.ScalarEvent) else f"<{type(event).__name__}>"
                if key == "<<" and isinstance(event, yaml.ScalarEvent) and not event.style:  # plain, not quoted
                    fail(line, where(), "YAML merge key `<<` is not allowed in a recipe",
                         "write the keys out in full")
                if key in top["seen"]:
                    fail(line, where() + (key,), f"`{key}` is given twice (first at line {top['seen'][key]})",
                         "keep one of them: YAML would silently use the last")
                top["seen"][key] = line
                top["key"] = key
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                stack.append({"path": node_path, "mapping": isinstance(event, yaml.MappingStartEvent),
                              "expect_key": True, "seen": {}, "key": None, "index": 0})
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
            elif not isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                continue  # stream and document events
            # A node (scalar, or a collection just closed) is complete in its parent.
            if stack:
                parent = stack[-1]
                if parent["mapping"]:
                    parent["expect_key"] = not parent["expect_key"]
                else:
                    parent["index"] += 1
    except yaml.YAMLError:
        return  # parse_recipe reports syntax errors with their own message
    finally:
        loader.dispose()


def parse_recipe(text: str, path: Path) -> Recipe:
    """Validate recipe text; every error names the file, the line and the field."""
    _check_yaml_events(text, path)
    # One parse gives both the node tree (for line numbers) and the data; libyaml when present.
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(path, line, None, f"not valid YAML: {problem}",
                          f"a recipe is a YAML mapping of command, doc, arguments, returns, implementation and verify; {GUIDE}") from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict) or node is None:
        kind = "empty" if data is None else f"a YAML {type(data).__name__}"
        raise RecipeError(path, 1, None, f"the file is {kind}, not a recipe mapping",
                          f"start with `command: guest-...`; {GUIDE}")
    lines: dict[tuple[str | int, ...], int] = {}
    _record_lines(node, (), lines)
    try:
        model = RecipeModel.model_validate(data)
    except ValidationError as exc:
        raise _all_of(_model_problems(path, lines, exc.errors())) from None
    recipe = Recipe(path, model, lines)
    # Independent checks: each reports its own problem, so one pass shows everything to fix.
    problems: list[RecipeError] = []
    for check in (_check_markers, _check_docs, _check_clashes, _check_type_references):
        try:
            check(recipe)
        except RecipeError as problem:
            problems.append(problem)
    if problems:
        raise _all_of(problems)
    return recipe


def _all_of(problems: list[RecipeError]) -> RecipeError:
    """One problem as itself; several as one error that lists them all."""
    return problems[0] if len(problems) == 1 else RecipeProblems(problems)


def _model_problems(path: Path, lines: dict[tuple[str | int, ...], int], errors: list[Any]) -> list[RecipeError]:
    """Every schema error of a recipe as its own RecipeError, a misspelt key first (it also explains the
    `missing` error of the key it was meant to be, which is then not repeated)."""
    recipe = Recipe(path, RecipeModel.model_construct(), lines)
    misspelt = [e for e in errors if e["type"] == "extra_forbidden"]
    problems: list[RecipeError] = []
    explained: set[tuple[Any, ...]] = set()
    for error in misspelt + [e for e in errors if e["type"] != "extra_forbidden"]:
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            if tuple(error["loc"]) in explained:
                continue
            message, fix = f"`{loc[-1]}` is missing", f"add it; {GUIDE}"
        elif error["type"] == "extra_forbidden":
            parent = tuple(error["loc"][:-1])
            missing = [e["loc"][-1] for e in errors if e["type"] == "missing" and tuple(e["loc"][:-1]) == parent]
            close = difflib.get_close_matches(str(loc[-1]), [str(m) for m in missing], n=1)
            if close:
                explained.add(parent + (close[0],))
            message = f"unknown field `{loc[-1]}`"
            fix = f"did you mean `{close[0]}`?" if close else f"check its spelling; {GUIDE}"
        else:
            fix = GUIDE
        problems.append(recipe.error(message, fix, *loc))
    return problems


def _docs(model: RecipeModel) -> list[tuple[tuple[str | int, ...], str, list[tuple[str, str]], bool]]:
    """(field path, text, written lines, first line is qganb's own head) of every doc in the recipe."""
    out: list[tuple[tuple[str | int, ...], str, list[tuple[str, str]], bool]] = [
        (("doc",), model.doc, doc_layout.text_lines(model.doc), False)]
    structs: list[tuple[tuple[str | int, ...], StructType]] = [(("types", i), t) for i, t in enumerate(model.types)]
    if model.returns is not None:
        out.append((("returns", "doc"), model.returns.doc, doc_layout.returns_lines(model.returns.doc), True))
        if model.returns.struct is not None:
            structs.append((("returns", "struct"), model.returns.struct))
    for i, a in enumerate(model.arguments):
        out.append((("arguments", i, "doc"), a.doc, doc_layout.member_lines(a.name, a.doc), True))
    for base, struct in structs:
        out.append((base + ("doc",), struct.doc, doc_layout.text_lines(struct.doc), False))
        for j, f in enumerate(struct.fields):
            out.append((base + ("fields", j, "doc"), f.doc, doc_layout.member_lines(f.name, f.doc), True))
    return out


def _check_docs(recipe: Recipe) -> None:
    """No written doc line may open a QAPI section: qganb writes those from `since`, `returns.doc`, members."""
    for where, text, lines, has_head in _docs(recipe.model):
        found = doc_layout.first_section_start(text, lines, has_head)
        if found is not None:
            line, word = found
            raise RecipeError(
                recipe.path, recipe.value_line(where, line), ".".join(map(str, where)),
                f"line {line} of the doc would start a written doc line with `{word}` once wrapped to "
                f"{doc_layout.WIDTH} columns, and QAPI reads that as a new section",
                "reword it (e.g. 'note that ...', or no colon after the word); qganb writes `Since:`, "
                "`Returns:` and each `@member:` itself from `since`, `returns.doc` and the members' `doc`")


MARKER = re.compile(r"qganb\s+recipe\s+\S+:\s+(begin|end)\b")


def _check_markers(recipe: Recipe) -> None:
    """qganb finds its blocks in the tree by their marker lines: a copy inside a block would cut it short."""
    impl = recipe.model.implementation
    texts = [(where, text) for where, text, _, _ in _docs(recipe.model)]
    texts += [(("implementation", key), text) for key, text in
              (("helpers", impl.helpers), ("posix", impl.posix), ("windows", impl.windows)) if text is not None]
    for where, text in texts:
        match = MARKER.search(text)
        if match is not None:
            line = text.count("\n", 0, match.start()) + 1
            raise RecipeError(
                recipe.path, recipe.value_line(where, line), ".".join(map(str, where)),
                f"{' '.join(match.group(0).split())!r} is qganb's block marker text, which apply and validate "
                "use to find the generated block in the tree", "reword it")


def _check_clashes(recipe: Recipe) -> None:
    """Two members that are the same C identifier cannot coexist in one struct or argument list."""
    model = recipe.model
    groups: list[tuple[tuple[str | int, ...], str, list[Member]]] = [
        (("arguments",), f"arguments of {model.command!r}", model.arguments)]
    groups += [(("types", i, "fields"), f"struct {t.name!r}", t.fields) for i, t in enumerate(model.types)]
    if model.returns is not None and model.returns.struct is not None:
        groups.append((("returns", "struct", "fields"), f"struct {model.returns.struct.name!r}",
                       model.returns.struct.fields))
    for base, where, members in groups:
        clash = _first_clash([m.name for m in members])
        if clash is not None:
            index, name, earlier = clash
            raise recipe.error(f"{where}: {name!r} clashes with {earlier!r} (both are `{c_name(name)}` in C)",
                               "rename one of them", *base, index, "name")


def _check_type_references(recipe: Recipe) -> None:
    """Every type a recipe names must be a builtin, one of its own types, or look like a schema type.

    A CamelCase name may come from the tree's own schema or from another applied recipe: only
    `qganb.recipes.plan`, which knows the tree, can tell, and it refuses the ones that exist nowhere.
    """
    # Kept apart from the pydantic validators because the error needs the recipe's line map.
    known = BUILTIN_TYPES | {t.name for t in recipe.model.all_types}
    unknown = {n for n in recipe_type_references(recipe.model) - known if not TYPE_NAME.fullmatch(n)}
    if unknown:
        name = sorted(unknown)[0]
        where = find_type_use(recipe, name)
        raise recipe.error(
            f"unknown type {name!r}",
            f"use a QAPI builtin ({', '.join(sorted(BUILTIN_TYPES))}), a CamelCase type of the tree's schema "
            f"or of another recipe, or define {name!r} under `types`",
            *where,
        )


def recipe_type_references(model: RecipeModel) -> set[str]:
    names = {a.element_type for a in model.arguments}
    for t in model.all_types:
        names |= {f.element_type for f in t.fields}
    if model.returns is not None and model.returns.list_of is not None:
        names.add(model.returns.list_of)
    return names


def find_type_use(recipe: Recipe, name: str) -> tuple[str | int, ...]:
    model = recipe.model
    for i, a in enumerate(model.arguments):
        if a.element_type == name:
            return ("arguments", i, "type")
    for i, t in enumerate(model.types):
        for j, f in enumerate(t.fields):
            if f.element_type == name:
                return ("types", i, "fields", j, "type")
    if model.returns is not None and model.returns.struct is not None:
        for j, f in enumerate(model.returns.struct.fields):
            if f.element_type == name:
                return ("returns", "struct", "fields", j, "type")
    return ("returns", "list")


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecipeError(path, None, None, f"cannot read the recipe: {exc.strerror}", "check the path") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(path, None, None, "not a text file (not UTF-8)",
                          f"a recipe is a YAML text file; {GUIDE}") from exc
    return parse_recipe(text, path)


def load_recipes(paths: Sequence[str | Path]) -> list[Recipe]:
    """Every recipe, or one error listing the problems of all of them (files are independent)."""
    recipes: list[Recipe] = []
    problems: list[RecipeError] = []
    for path in paths:
        try:
            recipes.append(load_recipe(path))
        except RecipeProblems as exc:
            problems += exc.problems
        except RecipeError as exc:
            problems.append(exc)
    seen: dict[str, Path] = {}
    for r in recipes:
        if r.command in seen:
            problems.append(r.error(f"{r.command!r} is also declared by {seen[r.command]}",
                                    "give each recipe its own command name", "command"))
        seen[r.command] = r.path
    if problems:
        raise _all_of(problems)
    return recipes
