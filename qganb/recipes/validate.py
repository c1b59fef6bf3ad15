"""Validates recipes on a tree before any RPM exists: QAPI generator, build, and real calls.

The tree itself is never touched. Recipes are applied to a scratch copy kept in qganb's cache, one
per tree, with its own configured build directory: configure runs once, and after a change to a
recipe only the edited files are rewritten, so the rebuild is incremental.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qganb import file_lock, paths
from qganb.agent.local import LocalAgent
from qganb.agent.sandbox import DESCRIPTION, UNSANDBOXED, Sandbox
from qganb.errors import AgentNotConnected, BuildSystemFailed, CommandFailed, ValidationFailed
from qganb.process import LineSink
from qganb.recipes.cases import CaseResult, judge
from qganb.recipes.model import Recipe
from qganb.recipes.plan import EditPlan, plan_edits
from qganb.recipes.qemu_tree import QemuTree
from qganb.recipes.qga_build import QgaBuild, compiler_messages
from qganb.recipes.tree_mirror import Listing, mirror_tree


@dataclass
class ValidationReport:
    tree: str
    qemu_version: str
    commands: list[str]
    configured: bool = False
    build_seconds: float = 0.0
    compiled: list[str] = field(default_factory=list)
    binary: Path | None = None
    cases: list[CaseResult] = field(default_factory=list)
    sandbox: str = UNSANDBOXED  # how the agent ran: said on every run
    # Wall time of each step (plan, mirror, build, cases), for finding where an edit loop's time goes.
    seconds: dict[str, float] = field(default_factory=dict)
    # What was applied to the scratch copy: a preview of it needs no second run of the generator.
    plan: EditPlan | None = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(c.passed for c in self.cases)

    def summary(self) -> str:
        lines = [f"QEMU {self.qemu_version} at {self.tree}: {', '.join(self.commands)}",
                 "  QAPI generator: ok",
                 f"  agent: {self.sandbox}",
                 f"  build: ok ({'configured, ' if self.configured else 'incremental, '}{self.build_seconds:.1f} s)"]
        lines += ["  " + c.line().replace("\n", "\n  ") for c in self.cases]
        failed = sum(not c.passed for c in self.cases)
        lines.append(f"{len(self.cases) - failed} passed, {failed} failed")
        return "\n".join(lines)


def workspace_for(tree: QemuTree) -> Path:
    """Where validate keeps its scratch copy and build of `tree`: in the cache, except for a tree in
    the temporary directory (a test's, a tarball unpacked for a quick look), whose copy and build go
    beside it, and away with it, instead of piling up in the cache under names no later run reuses."""
    key = hashlib.sha256(str(tree.root).encode()).hexdigest()[:16]
    name = f"qemu-{tree.version_text}-{key}"
    temporary = Path(tempfile.gettempdir()).resolve()
    root = tree.root.resolve()
    if root.parent != temporary and root.is_relative_to(temporary):
        return root.parent / f".qganb-validate-{name}"
    return paths.cache_dir() / "validate" / name


@contextlib.contextmanager
def workspace_lock(workspace: Path) -> Iterator[None]:
    """One validate at a time per workspace: a terminal's `qganb recipe validate` and a notebook's
    `%%qga_recipe --validate` on the same tree would otherwise write the same scratch copy and
    build directory at once. Waits for the other one to finish."""
    with file_lock.held(workspace.with_name(workspace.name + ".lock")):
        yield


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _map_diagnostics(output: str, plan: EditPlan, kind: str) -> list[str]:
    """Compiler diagnostics that fall in generated code, as `recipe:line: field: message`."""
    mapped = []
    for path, line, _, message in compiler_messages(output, kind):
        for applied in plan.applied:
            if path.endswith(applied.c_file):
                where = applied.recipe_line_for(applied.c_file, line)
                if where is not None:
                    rline, fieldname = where
                    mapped.append(f"{applied.recipe.path}:{rline}: {fieldname}: {kind}: {message}")
    return mapped


_UNDEFINED = re.compile(r"in function [`'‘](?P<function>\w+)['’]:?\s*$|undefined reference to [`'‘](?P<symbol>\w+)['’]")


def _unresolved_in_recipes(output: str, plan: EditPlan) -> list[str]:
    """ld's `undefined reference` lines from a function a recipe wrote, as `recipe: command: symbol`."""
    ours = {a.recipe.command.replace("-", "_"): a.recipe for a in plan.applied}
    found: list[str] = []
    function = ""
    for line in output.splitlines():
        match = _UNDEFINED.search(line)
        if match is None:
            continue
        if match.group("function"):
            function = match.group("function")
            continue
        recipe = next((r for key, r in ours.items() if key in function), None)
        if recipe is not None:
            found.append(f"{recipe.path}: {recipe.command}: undefined reference to {match.group('symbol')}")
    return list(dict.fromkeys(found))


class SandboxLayers:
    """Where validate's sandbox layers come from and where they go: a new layer per recipe, prepared
    while the build runs, removed before the report is returned. A kernel hands out layers made
    ahead and removes them afterwards (qganb.notebook.recipe_validation)."""

    def new(self) -> Sandbox:
        return Sandbox()

    def done(self, layers: list[Sandbox]) -> None:
        for layer in layers:
            layer.remove()


def validate_recipes(tree_root: str | Path, recipes: list[Recipe], on_line: LineSink | None = None,
                     listing: Listing | None = None, sandbox: bool = True,
                     layers: SandboxLayers | None = None) -> ValidationReport:
    """Apply in a scratch copy, run the tree's QAPI generator, build qemu-ga, and run every verify case,
    the agent in a throwaway sandbox (one per recipe) unless `sandbox` is False.

    `listing`: the tree's listing, when the caller started it early or kept it (see tree_mirror,
    kept_listing); `layers`: where the sandbox layers come from (see SandboxLayers)."""
    tree = QemuTree(tree_root)
    started = time.monotonic()
    plan = plan_edits(tree, recipes)  # raises with the recipe's file and line on QAPI errors
    report = ValidationReport(str(tree.root), tree.version_text, [r.command for r in recipes], plan=plan)
    report.seconds["plan"] = time.monotonic() - started
    supply = layers or SandboxLayers()
    made: list[Sandbox] = []
    try:
        for _ in plan.applied if sandbox else []:
            made.append(supply.new())  # each is prepared while the build runs
        with workspace_lock(workspace_for(tree)):
            _build_and_run(tree, plan, report, made, on_line, listing)
    finally:
        supply.done(made)
    return report


def _build_and_run(tree: QemuTree, plan: EditPlan, report: ValidationReport, layers: list[Sandbox],
                   on_line: LineSink | None, listing: Listing | None) -> None:
    workspace = workspace_for(tree)
    source = workspace / "src"
    start = time.monotonic()
    mirror_tree(tree.root, source, skip=set(plan.files), listing=listing)
    for rel, text in plan.files.items():
        _write_if_changed(source / rel, text)
    report.seconds["mirror"] = time.monotonic() - start
    build = QgaBuild(QemuTree(source), workspace / "build")
    start = time.monotonic()
    try:
        report.configured = build.configure(on_line)
        result = build.build(on_line)
    except CommandFailed as exc:
        output = getattr(build, "last_output", "") or "\n".join(exc.tail)
        mapped = _map_diagnostics(output, plan, "error")
        raw = [f"{p}:{n}: error: {m}" for p, n, _, m in compiler_messages(output, "error")]
        if not mapped and not raw:
            unresolved = _unresolved_in_recipes(output, plan)
            if unresolved:
                # gcc only warns on an undeclared call (no -Werror here); the link is where it stops.
                hints = _map_diagnostics(output, plan, "warning")
                raise ValidationFailed(
                    f"qemu-ga does not link with {', '.join(report.commands)} on QEMU {tree.version_text}:\n  "
                    + "\n  ".join(unresolved + hints),
                    "the recipe's C calls a function this QEMU does not have: declare or write it in the recipe, or "
                    f"call one this version provides (full log: {build.log_path})") from exc
            raise BuildSystemFailed(tree.version_text, exc) from exc
        fix = (f"fix the C in the recipe at the lines shown (full log: {build.log_path})" if mapped else
               "no error is on a line the recipe wrote: if the recipe declares or calls what these lines name, fix "
               f"it there; otherwise this tree does not compile with this host's compiler (full log: {build.log_path})")
        raise ValidationFailed(
            f"qemu-ga does not build with {', '.join(report.commands)} on QEMU {tree.version_text}:\n  "
            + "\n  ".join(mapped or raw),
            fix,
        ) from exc
    report.build_seconds = report.seconds["build"] = time.monotonic() - start
    report.compiled = result.compiled
    report.binary = result.binary
    warnings = _map_diagnostics(build.last_output, plan, "warning")
    if warnings:
        raise ValidationFailed(
            "the generated C compiles with warnings, which fail builds that use -Werror:\n  " + "\n  ".join(warnings),
            "fix the C in the recipe at the lines shown")

    if layers:
        report.sandbox = DESCRIPTION
    start = time.monotonic()
    for index, applied in enumerate(plan.applied):
        report.cases += run_cases_on(applied.recipe, result.binary, layers[index] if layers else None)
    report.seconds["cases"] = time.monotonic() - start


def run_cases_on(recipe: Recipe, binary: Path, sandbox: Sandbox | None) -> list[CaseResult]:
    """Every verify case of `recipe` against `binary` started as a local agent; in a sandbox, each
    passing case's guest-check runs there too, seeing what the command wrote."""
    agent = LocalAgent(binary, sandbox=sandbox)
    agent.env = {k: v.replace("{workdir}", str(agent.workdir)) for k, v in recipe.model.verify.environment.items()}
    results: list[CaseResult] = []
    cases = recipe.model.verify.cases
    with agent:
        client = agent.client()
        client.connect()
        try:
            for index, case in enumerate(cases):
                try:
                    result = judge(recipe, case, client.execute)
                    if sandbox is not None and case.guest_check and result.passed:
                        result = _guest_check(result, case.guest_check, sandbox)
                    results.append(result)
                except AgentNotConnected as exc:
                    time.sleep(0.2)  # let a crashing agent finish dying so its status is known
                    how = agent.exit_description() or "stopped answering"
                    tail = " | ".join(agent.log_tail(5))
                    line = recipe.line_of("verify", "cases", index)
                    results.append(CaseResult(
                        recipe.command, case.name, False, "an answer", f"no answer: the agent {how}",
                        f"{recipe.path}:{line}: this case made qemu-ga crash ({exc.problem})"
                        + (f"; agent log: {tail}" if tail else "")))
                    for rest in cases[index + 1:]:
                        results.append(CaseResult(recipe.command, rest.name, False, "an answer", "not run",
                                                  "an earlier case crashed the agent"))
                    break
        finally:
            client.close()
    return results


def _guest_check(result: CaseResult, check: str, sandbox: Sandbox) -> CaseResult:
    """The case's guest-check, a shell line run as written (nothing formatted into it), in the layer."""
    done = sandbox.run(["sh", "-c", check])
    if done.returncode == 0:
        return result
    said = (done.stderr or done.stdout).strip()
    return CaseResult(result.command, result.case, False, result.expected, result.got,
                      f"guest-check `{check}` exited with status {done.returncode} in the sandbox"
                      + (f": {said.splitlines()[-1]}" if said else ""))


def verify_rpm(rpm: Path, recipes: list[Recipe], sandbox: bool = True) -> list[CaseResult]:
    """Run the recipes' verify cases against the qemu-ga inside a built binary RPM, on this host
    (in a throwaway sandbox per recipe unless `sandbox` is False)."""
    import tempfile

    from qganb.rpm.payload import extract_payload

    with tempfile.TemporaryDirectory(prefix="qganb-rpm-") as tmp:
        root = extract_payload(rpm, Path(tmp))
        binary = next((p for p in (root / "usr/bin/qemu-ga", root / "usr/sbin/qemu-ga") if p.is_file()), None)
        if binary is None:
            raise ValidationFailed(f"{rpm.name} contains no qemu-ga binary", "pass the qemu-guest-agent binary RPM")
        results: list[CaseResult] = []
        for recipe in recipes:
            layer = Sandbox() if sandbox else None
            try:
                results += run_cases_on(recipe, binary, layer)
            finally:
                if layer is not None:
                    layer.remove()
        return results
