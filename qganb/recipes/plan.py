"""The edit plan: what recipes change in a QEMU tree, as that version needs them, and writing it.

Everything is computed in memory first (schema, pragma, the tree's own QAPI generator, C code);
files are written only when all of it succeeded, so a bad recipe leaves the tree as it was.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from qganb.errors import RecipeError, TreeError
from qganb.recipes import c_code, has_flags
from qganb.recipes import schema as qapi_schema
from qganb.recipes.model import (
    BUILTIN_TYPES,
    Member,
    Recipe,
    c_name,
    find_type_use,
    recipe_type_references,
)
from qganb.recipes.qapi_types import CStruct, read_structs
from qganb.recipes.qemu_tree import SCHEMA, QemuTree, declarations_in

# The generator takes a second or two; a minute means it is stuck.
QAPI_GEN_TIMEOUT = 120.0


@dataclass(frozen=True)
class AppliedRecipe:
    """Where one recipe landed, so build errors can be mapped back to its YAML."""

    recipe: Recipe
    prototype: c_code.Prototype
    schema_line: int
    schema_origins: dict[int, tuple[str | int, ...]]
    c_file: str
    c_block_line: int  # 1-based line of the block's first line in c_file
    c_block: c_code.CBlock
    windows_file: str | None

    def recipe_line_for(self, path: str, line: int) -> tuple[int, str] | None:
        """Map a line of the generated C back to (recipe line, recipe field)."""
        if path != self.c_file:
            return None
        offset = line - self.c_block_line
        block = self.c_block
        if block.body_start <= offset < block.body_start + block.body_lines:
            first = self.recipe.body_first_line("posix")
            return first + offset - block.body_start, "implementation.posix"
        if block.helpers_start is not None and block.helpers_start <= offset < block.helpers_start + block.helpers_lines:
            first = self.recipe.body_first_line("helpers")
            return first + offset - block.helpers_start, "implementation.helpers"
        if 0 <= offset < block.text.count("\n"):
            return self.recipe.line_of("implementation"), "implementation (generated code)"
        return None


@dataclass
class EditPlan:
    tree: QemuTree
    originals: dict[str, str]
    files: dict[str, str]
    applied: list[AppliedRecipe] = field(default_factory=list)
    header: str = ""

    @property
    def changed(self) -> list[str]:
        return sorted(p for p, text in self.files.items() if text != self.originals[p])

    def diff(self) -> str:
        """A unified diff of the planned change, with a/ b/ paths as `git diff` writes them."""
        chunks: list[str] = []
        for path in self.changed:
            chunks.extend(difflib.unified_diff(
                self.originals[path].splitlines(keepends=True), self.files[path].splitlines(keepends=True),
                f"a/{path}", f"b/{path}"))
        return "".join(chunks)

    def write(self) -> list[str]:
        """Write the changed files into the tree; all or nothing."""
        base = self.tree.root
        done: list[tuple[Path, str]] = []
        try:
            for rel in self.changed:
                target = base / rel
                old = target.read_text(encoding="utf-8") if target.exists() else None
                _atomic_write(target, self.files[rel])
                done.append((target, old if old is not None else ""))
        except OSError as exc:
            for target, old in reversed(done):
                _atomic_write(target, old)
            raise TreeError(f"writing {exc.filename} failed: {exc.strerror}; the tree was restored",
                            "check permissions and free space, then apply again") from exc
        return self.changed


def _atomic_write(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if target.exists():
            shutil.copymode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(tree: QemuTree, rel: str) -> str:
    path = tree.root / rel
    if not path.is_file():
        raise TreeError(f"{path} is missing", f"QEMU {tree.version_text} should have it; use a complete tree")
    return path.read_text(encoding="utf-8")


def _qganb_spans(text: str) -> list[tuple[int, int, str]]:
    spans = []
    for m in re.finditer(r"^# qganb recipe (\S+): begin", text, re.M):
        span = qapi_schema.block_span(text, m.group(1), "#")
        if span:
            spans.append((span[0], span[1], m.group(1)))
    return spans


def _check_names(tree: QemuTree, schema: str, recipes: list[Recipe]) -> None:
    """Refuse commands and types that upstream, or another recipe, already declares."""
    spans = _qganb_spans(schema)
    ours = {r.command for r in recipes}
    upstream: dict[str, int] = {}
    other_recipes: dict[str, str] = {}
    for decl in declarations_in(schema):
        offset = decl.offset
        inside = next((cmd for start, end, cmd in spans if start <= offset < end), None)
        if inside is None:
            upstream[decl.name] = decl.line
        elif inside not in ours:
            other_recipes[decl.name] = inside
    type_owner: dict[str, Recipe] = {}
    for r in recipes:
        if r.command in upstream:
            raise r.error(
                f"{r.command!r} already exists upstream in QEMU {tree.version_text} ({SCHEMA} line {upstream[r.command]})",
                "choose another name; a recipe must not redefine an existing command", "command")
        if r.command in other_recipes:
            raise r.error(f"{r.command!r} is already declared by the applied recipe for {other_recipes[r.command]!r}",
                          "choose another name", "command")
        for i, t in enumerate(r.model.all_types):
            where = ("types", i, "name") if t in r.model.types else ("returns", "struct", "name")
            if t.name in upstream:
                raise r.error(f"type {t.name!r} already exists upstream in QEMU {tree.version_text} "
                              f"({SCHEMA} line {upstream[t.name]})", "rename the type", *where)
            if t.name in other_recipes:
                raise r.error(f"type {t.name!r} is already declared by the applied recipe for "
                              f"{other_recipes[t.name]!r}", "rename the type", *where)
            if t.name in type_owner:
                raise r.error(f"type {t.name!r} is also declared by {type_owner[t.name].path}",
                              "rename one of them", *where)
            type_owner[t.name] = r
    known = BUILTIN_TYPES | set(upstream) | set(other_recipes) | set(type_owner)
    for r in recipes:
        for name in sorted(recipe_type_references(r.model) - known):
            raise r.error(f"unknown type {name!r} (not a builtin, not in this recipe, not in QEMU "
                          f"{tree.version_text}'s qga schema)", "define it under `types` or use a builtin",
                          *find_type_use(r, name))


@dataclass(frozen=True)
class GeneratedHeaders:
    commands: str  # qga-qapi-commands.h: the command prototypes
    types: str  # qga-qapi-types.h: the struct members


def run_qapi_gen(tree: QemuTree, schema_text: str) -> tuple[GeneratedHeaders, str | None]:
    """Run the tree's own generator on `schema_text`: (generated headers, error text or None).

    A schema the generator accepted once is not run again: the edit loop changes C bodies far more
    often than declarations. The key covers the schema and the generator's own sources.
    """
    cache = _qapi_cache_file(tree, schema_text)
    types_cache = cache.with_suffix(".types.h")
    if cache.is_file() and types_cache.is_file():
        return GeneratedHeaders(cache.read_text(encoding="utf-8"), types_cache.read_text(encoding="utf-8")), None
    with tempfile.TemporaryDirectory(prefix="qganb-qapi-") as tmp:
        schema = Path(tmp) / "qga" / "qapi-schema.json"
        schema.parent.mkdir()
        schema.write_text(schema_text, encoding="utf-8")
        out = Path(tmp) / "out"
        # -B: no __pycache__ written into the user's tree.
        argv = [sys.executable, "-B", str(tree.qapi_gen()), "-o", str(out), "-p", "qga-", str(schema)]
        try:
            done = subprocess.run(argv, cwd=tree.root, capture_output=True, text=True, check=False,
                                  timeout=QAPI_GEN_TIMEOUT)
        except subprocess.TimeoutExpired:
            return GeneratedHeaders("", ""), (f"the tree's QAPI generator ({tree.qapi_gen()}) did not finish within "
                        f"{QAPI_GEN_TIMEOUT:g} s; check that the tree's scripts/qapi is intact")
        if done.returncode != 0:
            return GeneratedHeaders("", ""), (done.stderr or done.stdout).replace(str(schema), SCHEMA).strip()
        headers = GeneratedHeaders((out / "qga-qapi-commands.h").read_text(), (out / "qga-qapi-types.h").read_text())
    cache.parent.mkdir(parents=True, exist_ok=True)
    # The types header first: the commands header's presence is what marks a complete entry.
    for target, text in ((types_cache, headers.types), (cache, headers.commands)):
        partial = target.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    return headers, None


def _qapi_cache_file(tree: QemuTree, schema_text: str) -> Path:
    from qganb import paths

    digest = hashlib.sha256(f"{sys.version}\0{schema_text}".encode())
    generator = [tree.qapi_gen(), *sorted((tree.root / "scripts" / "qapi").glob("*.py"))]
    for path in generator:
        stat = path.stat()
        digest.update(f"\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return paths.cache_dir() / "qapi-gen" / f"{digest.hexdigest()}.h"


def _qapi_error(tree: QemuTree, message: str, blocks: list[tuple[Recipe, int, qapi_schema.SchemaBlock]]) -> Exception:
    for match in re.finditer(rf"{re.escape(SCHEMA)}:(\d+)(?::\d+)?:\s*(.*)", message):
        line, text = int(match.group(1)), match.group(2)
        for recipe, start, block in blocks:
            offset = line - start
            if offset in block.origins:
                origin = block.origins[offset]
                return recipe.error(f"QEMU {tree.version_text}'s QAPI generator rejects it: {text}",
                                    "fix this field of the recipe", *origin)
    first = message.splitlines()[-1] if message else "no output"
    return TreeError(f"QEMU {tree.version_text}'s QAPI generator fails on {SCHEMA}: {first}",
                     "the tree's schema is broken before any recipe; restore it from the git baseline")


def plan_edits(tree: QemuTree, recipes: list[Recipe]) -> EditPlan:
    """Compute every file change for `recipes` on `tree` without writing anything."""
    linux, windows = tree.linux_source, tree.windows_source
    originals = {SCHEMA: _read(tree, SCHEMA), linux: _read(tree, linux), windows: _read(tree, windows)}
    plan = EditPlan(tree, originals, dict(originals))
    schema = originals[SCHEMA]
    _check_names(tree, schema, recipes)

    blocks: list[tuple[Recipe, int, qapi_schema.SchemaBlock]] = []
    for r in recipes:
        block = qapi_schema.render_block(r, tree)
        schema, _ = qapi_schema.put_block(schema, r.command, block.text, "#")
        needs = r.model.returns is not None and r.model.returns.needs_pragma
        schema = qapi_schema.set_pragma_entry(schema, tree.returns_pragma, r.command, needs)
    for r in recipes:  # line numbers are final only once every block and pragma entry is in
        block = qapi_schema.render_block(r, tree)
        span = qapi_schema.block_span(schema, r.command, "#")
        assert span is not None
        blocks.append((r, schema.count("\n", 0, span[0]) + 1, block))
    plan.files[SCHEMA] = schema

    headers, error = run_qapi_gen(tree, schema)
    if error is not None:
        raise _qapi_error(tree, error, blocks)
    plan.header = headers.commands

    structs = read_structs(headers.types)
    for r, schema_line, block in blocks:
        proto = c_code.parse_prototype(headers.commands, r.c_command)
        _check_c_names(tree, r, proto, structs)
        _check_result_flags(tree, r, proto, structs)
        setters = has_flags.result_flag_setters(r.c_command.removeprefix("qmp_"), proto.return_type, structs)
        c_block = c_code.render_linux_block(r, proto, guard_linux=not tree.uses_if_conditions, setters=setters)
        text, c_line = qapi_schema.put_block(plan.files[linux], r.command, c_block.text, "/*")
        plan.files[linux] = text
        windows_file = None
        if not tree.uses_if_conditions or r.model.implementation.windows is not None:
            text, _ = qapi_schema.put_block(plan.files[windows], r.command,
                                            c_code.render_windows_block(r, proto, setters), "/*")
            plan.files[windows] = text
            windows_file = windows
        plan.applied.append(AppliedRecipe(r, proto, schema_line, block.origins, linux, c_line, c_block, windows_file))
    # C line numbers shift when an earlier block grows; recompute them from the final text.
    plan.applied = [
        _relocate(a, plan.files[linux]) for a in plan.applied
    ]
    return plan


def _check_c_names(tree: QemuTree, recipe: Recipe, proto: c_code.Prototype, structs: dict[str, CStruct]) -> None:
    """The generated C names must be the ones the recipe's C and qganb's checks use.

    They differ when the tree's generator protects fewer words than qganb assumes (QEMU 5.2 leaves
    `linux` as it is, and GCC defines `linux` as 1): such a member cannot be used on that tree.
    """
    groups: list[tuple[tuple[str | int, ...], list[Member], set[str]]] = [
        (("arguments",), recipe.model.arguments, proto.param_names())]
    for i, t in enumerate(recipe.model.all_types):
        base: tuple[str | int, ...] = ("types", i, "fields") if t in recipe.model.types \
            else ("returns", "struct", "fields")
        struct = structs.get(t.name)
        fields = {m.name for m in struct.members} if struct is not None else set()
        if fields:  # an unreadable struct is left to the compiler rather than guessed at
            groups.append((base, t.fields, fields))
    for where, members, emitted in groups:
        for index, member in enumerate(members):
            wanted = c_name(member.name)
            if wanted in emitted:
                continue
            plain = member.name.replace("-", "_")
            got = f"`{plain}`" if plain in emitted else "something else"
            raise recipe.error(
                f"QEMU {tree.version_text}'s QAPI generator names it {got} in C, not `{wanted}`, and "
                f"`{plain}` is a macro or keyword there, so the generated code cannot work",
                f"rename it; QEMU {tree.version_text} cannot have a member called {member.name!r}",
                *where, index, "name")


def _check_result_flags(tree: QemuTree, recipe: Recipe, proto: c_code.Prototype,
                        structs: dict[str, CStruct]) -> None:
    """Refuse `->has_x` for a member whose flag this tree's generator no longer emits (QEMU 8.0 and
    later, optional str and struct members): the line would not compile, and qganb sets these flags
    itself on older trees, so the recipe never needs it."""
    impl = recipe.model.implementation
    for key, text in (("helpers", impl.helpers), ("posix", impl.posix), ("windows", impl.windows)):
        if text is None:
            continue
        for line, member, struct in has_flags.stale_flag_uses(text, proto.return_type, structs):
            raise RecipeError(
                recipe.path, recipe.value_line(("implementation", key), line), f"implementation.{key}",
                f"line {line} uses `has_{member}`, which QEMU {tree.version_text}'s {struct} does not have: "
                f"from QEMU 8.0 an optional str or struct member is present exactly when its pointer is not NULL",
                f"remove the has_{member} line; qganb sets has_ flags from the pointers on QEMU before 8.0, "
                "so the body works on every version without it")


def _relocate(applied: AppliedRecipe, text: str) -> AppliedRecipe:
    span = qapi_schema.block_span(text, applied.recipe.command, "/*")
    assert span is not None
    line = text.count("\n", 0, span[0]) + 1
    return AppliedRecipe(applied.recipe, applied.prototype, applied.schema_line, applied.schema_origins,
                         applied.c_file, line, applied.c_block, applied.windows_file)


def apply_recipes(tree_root: str | Path, recipes: list[Recipe]) -> EditPlan:
    """Apply `recipes` to the tree in place. Applying the same recipes again changes nothing."""
    tree = QemuTree(tree_root)
    plan = plan_edits(tree, recipes)
    plan.write()
    return plan
