"""The build stage: rpmbuild -bb and -bs of the edited spec, with the log streamed live.

The spec's own %prep applies every patch again with fuzz 0, which proves the new patch applies on
top of the vendor's. A failure shows the command, the exit status and the last 40 log lines.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from qganb import build_host
from qganb.compiler_cache import compiler_cache_env
from qganb.errors import CommandFailed, QganbError
from qganb.process import LineSink, output_of, require_tool, run
from qganb.run_dir import RunDir


class BuildFailed(QganbError):
    def __init__(self, failure: CommandFailed, problem: str, fix: str) -> None:
        self.failure = failure
        super().__init__(problem, fix)

    def details(self) -> str:
        return self.failure.details()


@dataclass(frozen=True)
class BuiltPackage:
    path: Path
    nevra: str


def nevra_of(rpm: Path) -> str:
    arch = "src" if rpm.name.endswith(".src.rpm") else "%{ARCH}"
    return output_of(["rpm", "-qp", "--nosignature", "--qf",
                      "%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}." + arch, rpm]).strip()


def _diagnose(log_text: str, patch_name: str) -> tuple[str, str]:
    failed = re.search(r"hunks? FAILED|Hunk #\d+ FAILED|patch does not apply|Patch failed at|"
                       r"can't find file to patch|malformed patch", log_text)
    if failed:
        applied = re.findall(r"/SOURCES/([^\s']+\.patch)", log_text[: failed.start()])
        culprit = applied[-1] if applied else patch_name
        return (f"{culprit} does not apply in the spec's %prep (patches apply with fuzz 0)",
                "the patch must come from the tree prepped from this very src.rpm: re-run prep, edit and diff")
    if "Failed build dependencies" in log_text:
        return ("rpmbuild stopped on missing BuildRequires", "install them or build with nodeps")
    return ("rpmbuild failed", "read the last lines of the log above")


def build_rpms(spec: Path, topdir: Path, *, dist: str | None, nodeps: bool, log: Path,
               on_line: LineSink | None = None, patch_name: str = "the new patch") -> list[BuiltPackage]:
    """rpmbuild -bb then -bs; return the packages built (binary first, then the src.rpm)."""
    require_tool("rpmbuild", "rpm")
    results = topdir / "RPMS", topdir / "SRPMS"
    staging = topdir.parent / "rpmbuild-out"
    # Build into fresh output directories and swap them in afterwards: a failed build keeps the
    # previous good RPMs.
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    host = build_host.rpmbuild_host_args(topdir, dist=dist, log_path=log)
    outputs = ["--define", f"_rpmdir {staging / 'RPMS'}", "--define", f"_srcrpmdir {staging / 'SRPMS'}"]
    deps = ["--nodeps"] if nodeps else []
    env = compiler_cache_env(topdir / "BUILD")
    for mode in ("-bb", "-bs"):
        try:
            run(["rpmbuild", mode, *deps, *host, *outputs, spec], env=env, log_path=log, on_line=on_line)
        except CommandFailed as exc:
            problem, fix = _diagnose(log.read_text(errors="replace"), patch_name)
            raise BuildFailed(exc, f"{problem}: `rpmbuild {mode}` exited with status {exc.returncode}", fix) from exc
    for final in results:
        if final.exists():
            shutil.rmtree(final)
        shutil.move(str(staging / final.name), final)
    shutil.rmtree(staging, ignore_errors=True)
    built = sorted(results[0].rglob("*.rpm")) + sorted(results[1].glob("*.src.rpm"))
    return [BuiltPackage(p, nevra_of(p)) for p in built]


def build_stage(run_dir: RunDir, *, nodeps: bool | None = None, on_line: LineSink | None = None) -> list[BuiltPackage]:
    from qganb.prep import dist_of

    fetched = run_dir.stage("fetch")
    spec = run_dir.stage("spec")
    patch = run_dir.stage("diff")
    topdir = run_dir.path / "rpmbuild"
    log = run_dir.log("build")
    log.write_text("")
    packages = build_rpms(Path(spec["spec"]), topdir, dist=dist_of(fetched["release"]),
                          nodeps=build_host.needs_nodeps() if nodeps is None else nodeps,
                          log=log, on_line=on_line, patch_name=Path(patch["path"]).name)
    run_dir.record("build", {"packages": [{"path": str(p.path), "nevra": p.nevra} for p in packages],
                             "log": str(log)})
    return packages
