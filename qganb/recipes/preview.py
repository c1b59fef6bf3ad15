"""Notebook-facing previews of what a recipe will do to a tree, computed without writing anything."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from qganb.recipes import schema as qapi_schema
from qganb.recipes.model import Recipe
from qganb.recipes.plan import EditPlan, plan_edits
from qganb.recipes.qemu_tree import SCHEMA, QemuTree


@dataclass(frozen=True)
class RecipePreview:
    qemu_version: str
    schema_entries: dict[str, str]  # command -> its schema block
    prototypes: dict[str, str]  # command -> the C prototype the tree's generator emits
    pragma: str | None
    diff: str

    def as_text(self) -> str:
        parts = [f"QEMU {self.qemu_version}"]
        for command, entry in self.schema_entries.items():
            parts += [f"--- schema entry for {command} ({SCHEMA})", entry.rstrip(),
                      f"--- C prototype for {command}", self.prototypes[command] + ";"]
        if self.pragma:
            parts.append(f"--- pragma: {self.pragma}")
        parts += ["--- diff", self.diff.rstrip()]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        """Rich display in Jupyter: schema, prototype and a coloured diff."""
        out = [f"<h4>QEMU {html.escape(self.qemu_version)}</h4>"]
        for command, entry in self.schema_entries.items():
            out.append(f"<b>{html.escape(command)}</b> — schema entry<pre>{html.escape(entry)}</pre>")
            out.append(f"C prototype<pre>{html.escape(self.prototypes[command])};</pre>")
        if self.pragma:
            out.append(f"<p>{html.escape(self.pragma)}</p>")
        out.append(render_diff_html(self.diff))
        return "\n".join(out)


def render_diff_html(diff: str) -> str:
    colours = {"+": "#e6ffed", "-": "#ffeef0", "@": "#f1f8ff"}
    rows = []
    for line in diff.splitlines():
        colour = colours.get(line[:1], "transparent") if not line.startswith(("+++", "---")) else "#fafbfc"
        rows.append(f'<div style="background:{colour};white-space:pre;font-family:monospace">{html.escape(line)}</div>')
    return "<div>" + "".join(rows) + "</div>"


def preview_recipes(tree_root: str | Path, recipes: list[Recipe]) -> RecipePreview:
    return preview_of_plan(plan_edits(QemuTree(tree_root), recipes))


def preview_of_plan(plan: EditPlan) -> RecipePreview:
    """The preview of a plan already computed (validate keeps the one it applied)."""
    tree = plan.tree
    recipes = [a.recipe for a in plan.applied]
    entries = {r.command: qapi_schema.render_block(r, tree).text for r in recipes}
    protos = {a.recipe.command: a.prototype.declaration for a in plan.applied}
    needing = [r.command for r in recipes if r.model.returns is not None and r.model.returns.needs_pragma]
    pragma = (f"added to '{tree.returns_pragma}': {', '.join(needing)}" if needing else None)
    return RecipePreview(tree.version_text, entries, protos, pragma, plan.diff())
