"""Runs the packaging stages in order on one run directory: fetch, prep, edit, diff, spec, build."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qganb.build import BuiltPackage, build_stage
from qganb.diff import diff_stage
from qganb.edit import edit_stage
from qganb.fetch import fetch_srpm
from qganb.prep import prep
from qganb.process import LineSink
from qganb.run_dir import RunDir
from qganb.spec import spec_stage

PACKAGING_STAGES = ("fetch", "prep", "edit", "diff", "spec", "build")


def run_packaging(source: str, recipes: Sequence[str | Path], run_dir: RunDir, *, sha256: str | None = None,
                  nodeps: bool | None = None, on_line: LineSink | None = None,
                  say: LineSink | None = None) -> list[BuiltPackage]:
    """Every packaging stage, each recording its result in the run's manifest."""
    def stage(name: str) -> None:
        if say is not None:
            say(f"== {name}")

    stage("fetch")
    srpm = fetch_srpm(source, run_dir, sha256=sha256, on_line=say)
    stage("prep")
    prepped = prep(srpm, run_dir, nodeps=nodeps, on_line=on_line)
    if say:
        say(f"prepped tree: {prepped.tree} (baseline {prepped.baseline[:12]})")
    stage("edit")
    plan = edit_stage(run_dir, list(recipes))
    if say:
        say("edited: " + ", ".join(plan.changed))
    stage("diff")
    patch = diff_stage(run_dir)
    if say:
        say(f"patch: {patch.path} ({patch.form}, {len(patch.files)} files)")
    stage("spec")
    edit = spec_stage(run_dir)
    if say:
        say(f"spec: Patch{edit.patch_number}, Release {edit.release_before} -> {edit.release_after}")
    stage("build")
    packages = build_stage(run_dir, nodeps=nodeps, on_line=on_line)
    if say:
        for p in packages:
            say(f"built {p.nevra}: {p.path}")
    return packages
