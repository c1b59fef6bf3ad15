"""Generates the C side of a recipe around the exact prototype the tree's QAPI generator emits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qganb.errors import TreeError
from qganb.recipes.has_flags import ResultFlagSetters
from qganb.recipes.model import INTEGER_RANGES, INTEGER_TYPES, Member, Recipe, c_name
from qganb.recipes.schema import begin_marker, end_marker

UNSIGNED = {"uint8", "uint16", "uint32", "uint64", "size"}


@dataclass(frozen=True)
class Prototype:
    return_type: str
    name: str
    params: list[tuple[str, str]]  # (C type, name), without Error **errp

    @property
    def declaration(self) -> str:
        params = ", ".join(f"{t}{'' if t.endswith('*') else ' '}{n}" for t, n in self.params)
        params = f"{params}, Error **errp" if params else "Error **errp"
        ret = self.return_type
        return f"{ret}{'' if ret.endswith('*') else ' '}{self.name}({params})"

    @property
    def failure_return(self) -> str:
        if self.return_type == "void":
            return "return;"
        if self.return_type.endswith("*"):
            return "return NULL;"
        if self.return_type == "bool":
            return "return false;"
        return "return 0;"

    def param_names(self) -> set[str]:
        return {n for _, n in self.params}


def parse_prototype(header: str, function: str) -> Prototype:
    """Find `function`'s declaration in a generated qga-qapi-commands.h."""
    match = re.search(rf"^(?P<ret>[A-Za-z_][\w \*]*?)\s*\b{re.escape(function)}\((?P<params>[^)]*)\);", header, re.M)
    if match is None:
        raise TreeError(f"the QAPI generator emitted no prototype for {function}",
                        "check that the schema entry was applied (qganb recipe apply)")
    params: list[tuple[str, str]] = []
    for raw in match.group("params").split(","):
        raw = " ".join(raw.split())
        m = re.fullmatch(r"(?P<type>.*?[\s\*])(?P<name>\w+)", raw)
        if m is None:
            raise TreeError(f"cannot read parameter {raw!r} of {function}", "report this as a qganb bug")
        ctype, name = m.group("type").strip(), m.group("name")
        if name == "errp":
            continue
        params.append((ctype.replace(" *", " *").replace("* ", "*"), name))
    ret = " ".join(match.group("ret").split())
    return Prototype(ret, function, params)


def c_string(text: str, for_format: bool = False) -> str:
    """`text` as a C string literal (escaped; `%` doubled for printf-style formats)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "%" and for_format:
            out.append("%%")
        elif 32 <= byte < 127 and ch != "?":  # '?' escaped: no trigraphs
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _number(value: int | float, integer: bool) -> str:
    if integer:
        if value == -2**63:  # 9223372036854775808LL does not fit before the minus applies
            return "(-9223372036854775807LL - 1)"
        return str(int(value)) + ("ULL" if value >= 2**63 else "LL")
    return repr(float(value))


def _shown(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def constraint_checks(arguments: list[Member], proto: Prototype) -> list[str]:
    """C that rejects out-of-range arguments with error_setg and a message naming the argument."""
    lines: list[str] = []
    fail = proto.failure_return
    for arg in arguments:
        if not arg.has_constraints:
            continue
        var = c_name(arg.name)
        guard = f"has_{var} && " if arg.optional else ""
        if arg.type in INTEGER_TYPES or arg.type == "number":
            integer = arg.type in INTEGER_TYPES
            fmt = '"%g"' if not integer else ('"%" PRIu64' if arg.type in UNSIGNED else '"%" PRId64')
            cast = "" if not integer else ("(uint64_t)" if arg.type in UNSIGNED else "(int64_t)")
            low, high = INTEGER_RANGES.get(arg.type, (None, None))
            tests, words = [], []
            # A bound the C type already guarantees is not compared: it could never fail, and
            # -Wtype-limits warns about it.
            if arg.min is not None and arg.min != low:
                tests.append(f"{var} < {_number(arg.min, integer)}")
            if arg.max is not None and arg.max != high:
                tests.append(f"{var} > {_number(arg.max, integer)}")
            if arg.min is not None and arg.max is not None:
                words.append(f"between {_shown(arg.min)} and {_shown(arg.max)}")
            elif arg.min is not None:
                words.append(f"at least {_shown(arg.min)}")
            elif arg.max is not None:
                words.append(f"at most {_shown(arg.max)}")
            message = c_string(f"'{arg.name}' must be {words[0]}, got ", for_format=True)
            condition = " || ".join(tests)
            lines += [] if not tests else [
                f"    if ({guard}({condition})) {{" if guard else f"    if ({condition}) {{",
                f"        error_setg(errp, {message} {fmt}, {cast}{var});",
                f"        {fail}",
                "    }",
            ]
        if arg.enum is not None:
            enum_test = " && ".join(f"strcmp({var}, {c_string(v)}) != 0" for v in arg.enum)
            message = c_string(f"'{arg.name}' must be one of {', '.join(arg.enum)}; got '", for_format=True)
            lines += [
                f"    if ({guard}{enum_test}) {{",
                f"        error_setg(errp, {message} \"%s'\", {var});",
                f"        {fail}",
                "    }",
            ]
        if arg.pattern is not None:
            message = c_string(f"'{arg.name}' must match {arg.pattern}; got '", for_format=True)
            # \A...\z: the whole value must match, and `$` must not let a trailing newline through.
            whole = c_string(f"\\A(?:{arg.pattern})\\z")
            lines += [
                f"    if ({guard}!g_regex_match_simple({whole}, {var}, 0, 0)) {{",
                f"        error_setg(errp, {message} \"%s'\", {var});",
                f"        {fail}",
                "    }",
            ]
    return lines


def has_flag_preamble(arguments: list[Member], proto: Prototype) -> list[str]:
    """Give the body `has_x` for every optional argument, whatever the QEMU version.

    From 8.0 optional pointer arguments lose their `has_x` parameter (NULL means absent).
    """
    lines = []
    for arg in arguments:
        flag = "has_" + c_name(arg.name)
        if arg.optional and flag not in proto.param_names():
            lines += [f"    bool {flag} = {c_name(arg.name)} != NULL;", f"    (void){flag};"]
    return lines


@dataclass(frozen=True)
class CBlock:
    text: str
    body_start: int  # 0-based line offset of the first body line within text
    body_lines: int
    helpers_start: int | None
    helpers_lines: int


def render_linux_block(recipe: Recipe, proto: Prototype, *, guard_linux: bool,
                       setters: ResultFlagSetters | None = None) -> CBlock:
    """The command's implementation; with `guard_linux`, non-Linux POSIX builds get a stub.

    With `setters`, the body becomes a static function and the command sets the result's has_
    flags after it returns (see `qganb.recipes.has_flags`)."""
    impl = recipe.model.implementation
    lines = [begin_marker(recipe.command, "/*") + " */"]
    if guard_linux:
        lines.append("#if defined(__linux__)")
    lines += [f"#include {inc}" for inc in impl.includes]
    helpers_start = None
    helpers = impl.helpers.rstrip("\n").splitlines() if impl.helpers else []
    if helpers:
        lines.append("")
        helpers_start = len(lines)
        lines += helpers
    lines.append("")
    offset, body = _command_function(recipe, proto, impl.posix, setters)
    body_start = len(lines) + offset
    lines += body
    if guard_linux:
        lines += ["#else", *_stub(recipe, proto, "non-Linux guests"), "#endif"]
    lines.append(end_marker(recipe.command, "/*") + " */")
    return CBlock("\n".join(lines) + "\n", body_start, len(_indent_body(impl.posix)), helpers_start, len(helpers))


def render_windows_block(recipe: Recipe, proto: Prototype, setters: ResultFlagSetters | None = None) -> str:
    impl = recipe.model.implementation
    lines = [begin_marker(recipe.command, "/*") + " */"]
    if impl.windows is not None:
        lines += _command_function(recipe, proto, impl.windows, setters)[1]
    else:
        lines += _stub(recipe, proto, "Windows guests")
    lines.append(end_marker(recipe.command, "/*") + " */")
    return "\n".join(lines) + "\n"


def body_function_name(recipe: Recipe) -> str:
    return f"qganb_{c_name(recipe.command)}_body"


def _command_function(recipe: Recipe, proto: Prototype, body: str,
                      setters: ResultFlagSetters | None) -> tuple[int, list[str]]:
    """(offset of the first body line, lines) of the command: the recipe's body under the tree's
    prototype; with `setters`, in a static function that the command calls before setting flags."""
    inner = proto if setters is None else Prototype(proto.return_type, body_function_name(recipe), proto.params)
    lines = [("static " if setters is not None else "") + inner.declaration, "{"]
    lines += has_flag_preamble(recipe.model.arguments, proto)
    lines += constraint_checks(recipe.model.arguments, proto)
    offset = len(lines)
    lines += _indent_body(body)
    lines.append("}")
    if setters is None:
        return offset, lines
    # Chosen so it cannot shadow an argument.
    result = next(n for n in ("result", "ret", "qganb_result") if n not in proto.param_names())
    forwarded = ", ".join([n for _, n in proto.params] + ["errp"])
    setter_lines = setters.lines()
    head = ["/* QAPI sends an optional member only when its has_ flag is set. Up to QEMU 7.2 every",
            " * optional member has one, from 8.0 only lists and scalars do: the command sets the flag",
            " * of each str, struct and list the body filled in, so one body fits every version. */",
            *setter_lines, ""]
    wrapper = ["", proto.declaration, "{",
               f"    {proto.return_type}{'' if proto.return_type.endswith('*') else ' '}{result} = "
               f"{inner.name}({forwarded});",
               "", f"    {setters.call(result)}", f"    return {result};", "}"]
    return len(head) + offset, head + lines + wrapper


def _stub(recipe: Recipe, proto: Prototype, where: str) -> list[str]:
    message = c_string(f"{recipe.command} is not supported on {where}", for_format=True)
    return [proto.declaration, "{", f"    error_setg(errp, {message});", f"    {proto.failure_return}", "}"]


def _indent_body(body: str) -> list[str]:
    """Keep the author's lines; indent by 4 when the body is written flush left."""
    lines = body.rstrip("\n").splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    if indents and min(indents) == 0:
        return [("    " + line) if line.strip() else "" for line in lines]
    return lines
