"""Runs the packaging stages in order on one run directory: fetch, prep, edit, diff, spec, build."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qganb.process import LineSink
from qganb.rpm.rpmbuild import BuiltPackage
from qganb.stages import build, diff, edit, fetch, prep, spec
from qganb.stages.run_dir import RunDir


def run_packaging(source: str, recipes: Sequence[str | Path], run_dir: RunDir, *, sha256: str | None = None,
                  insecure: bool = False,
                  nodeps: bool | None = None, install_builddeps: bool = False, on_line: LineSink | None = None,
                  say: LineSink | None = None) -> list[BuiltPackage]:
    """Every packaging stage, each recording its result in the run's manifest."""
    def tell(text: str) -> None:
        if say is not None:
            say(text)

    tell("== fetch")
    fetch.run(run_dir, source, sha256=sha256, insecure=insecure, on_line=say)
    tell("== prep")
    prepped = prep.run(run_dir, nodeps=nodeps, install_builddeps=install_builddeps, on_line=on_line)
    tell(f"prepped tree: {prepped.tree} (baseline {prepped.baseline[:12]})")
    tell("== edit")
    edited = edit.run(run_dir, list(recipes))
    tell("edited: " + ", ".join(edited.changed))
    tell("== diff")
    patch = diff.run(run_dir)
    tell(f"patch: {patch.path} ({patch.form}, {len(patch.files)} files)")
    tell("== spec")
    specced = spec.run(run_dir)
    tell(f"spec: Patch{specced.patch_number}, Release {specced.release_before} -> {specced.release_after}")
    tell("== build")
    built = build.run(run_dir, nodeps=nodeps, install_builddeps=install_builddeps, on_line=on_line,
                      say=say)
    for p in built.packages:
        tell(f"built {p.nevra}: {p.path}")
    return built.packages
