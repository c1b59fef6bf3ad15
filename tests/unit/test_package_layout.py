"""The package's layout is its design: import arrows only run down the floors below, and no two
modules import each other, directly or round a circle. Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "qganb"
# Lowest floor first. Rooms on one floor do not import each other.
FLOORS: list[set[str]] = [
    {"errors"},
    {"paths", "digests", "tree_watch", "file_lock"},
    {"process"},
    {"download"},
    {"rpm", "agent"},
    {"recipes", "guest"},
    {"testbed"},
    {"stages"},
    {"fleet"},  # drives the install and verify stages on many hosts; the rollout stage lives here
    {"notebook"},
    {"cli"},
    {"__main__"},
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The qganb modules `path` imports, anywhere in it (the longest known prefix of each name)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name.startswith("qganb.") or name == "qganb":
            found.add(name)
    return found


def _room(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _floor(module: str) -> int:
    room = _room(module)
    return next(i for i, rooms in enumerate(FLOORS) if room in rooms)


def test_every_module_has_a_floor() -> None:
    rooms = {_room(m) for m in _modules()} - {""}
    assert rooms <= set().union(*FLOORS), f"modules outside the floor plan: {rooms - set().union(*FLOORS)}"


def test_imports_run_down_and_never_sideways() -> None:
    modules = _modules()
    wrong = []
    for module, path in modules.items():
        if module == "qganb":
            continue  # the package root only offers `%load_ext qganb`, which loads the magics when asked
        for imported in _imports(path, modules):
            if imported == "qganb" or imported == module:
                continue
            same_room = _room(imported) == _room(module)
            if _floor(imported) > _floor(module) or (_floor(imported) == _floor(module) and not same_room):
                wrong.append(f"{module} -> {imported}")
    assert not wrong, "imports that run up or sideways:\n" + "\n".join(sorted(wrong))


def test_no_import_circles() -> None:
    modules = _modules()
    graph = {m: _imports(p, modules) - {m, "qganb"} for m, p in modules.items() if m != "qganb"}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == 1:
                return path + [module, imported]
            if imported not in state and (circle := visit(imported, path + [module])):
                return circle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (circle := visit(module, [])):
            raise AssertionError("import circle: " + " -> ".join(circle))


def test_stage_modules_share_one_entry_point() -> None:
    from qganb.stages.table import STAGES

    for stage in STAGES:
        path = PACKAGE.parent / (stage.module.replace(".", "/") + ".py")
        assert path.stem == stage.name, f"{stage.module} is not named after its stage"
        tree = ast.parse(path.read_text())
        runs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run"]
        assert len(runs) == 1, f"{path.relative_to(PACKAGE.parent)} has no run() entry point"
        first = runs[0].args.args[0]
        assert first.arg == "run_dir", f"{stage.name}.run takes {first.arg} first, not run_dir"
        returns = ast.unparse(runs[0].returns) if runs[0].returns else ""
        assert returns == stage.record.__name__, f"{stage.name}.run returns {returns}, not {stage.record.__name__}"
