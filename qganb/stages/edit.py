"""The edit stage: the recipes applied to the prepped tree, always starting from its git baseline."""

from __future__ import annotations

from pathlib import Path

from qganb.recipes.model import load_recipes
from qganb.recipes.plan import apply_recipes
from qganb.stages.records import EditRecord, PrepRecord
from qganb.stages.run_dir import RunDir


def run(run_dir: RunDir, recipe_paths: list[str | Path]) -> EditRecord:
    """Apply recipes to the run's prepped tree, starting from its baseline each time (idempotent)."""
    import git  # imported here: validate and the CLI's start-up do not need GitPython

    prepped = run_dir.load(PrepRecord)
    recipes = load_recipes(list(recipe_paths))
    repo = git.Repo(prepped.tree)
    # Start from the baseline so that re-running with changed recipes leaves no stale edits.
    repo.git.checkout(prepped.baseline, "--", ".")
    repo.git.clean("-fdq")
    plan = apply_recipes(prepped.tree, recipes)
    record = EditRecord(
        recipes=[str(Path(r.path).resolve()) for r in recipes],
        commands=[r.command for r in recipes],
        changed=plan.changed,
        prototypes={a.recipe.command: a.prototype.declaration for a in plan.applied},
        qemu_version=plan.tree.version_text,
    )
    run_dir.record(record)
    return record
