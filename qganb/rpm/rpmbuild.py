"""rpmbuild -bb and -bs of a spec in its own topdir, with the log streamed and a failure explained.

The spec's own %prep applies every patch again with fuzz 0, which proves a new patch applies on
top of the vendor's. A failure shows the command, the exit status and the last 40 log lines, and
keeps the RPMs of the previous good build.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from qganb.digests import sha256_of
from qganb.errors import BuildFailed, CommandFailed, MissingBuildDependency, QganbError
from qganb.process import LineSink, require_tool, run
from qganb.rpm import build_host, build_requires
from qganb.rpm.compiler_cache import compiler_cache_env, one_build_of
from qganb.rpm.query import nevra_of


@dataclass(frozen=True)
class BuiltPackage:
    path: Path
    nevra: str


def _diagnose(log_text: str, patch_name: str) -> tuple[str, str]:
    failed = re.search(r"hunks? FAILED|Hunk #\d+ FAILED|patch does not apply|Patch failed at|"
                       r"can't find file to patch|malformed patch", log_text)
    if failed:
        applied = re.findall(r"/SOURCES/([^\s']+\.patch)", log_text[: failed.start()])
        culprit = applied[-1] if applied else patch_name
        return (f"{culprit} does not apply in the spec's %prep (patches apply with fuzz 0)",
                "the patch must come from the tree prepped from this very src.rpm: re-run prep, edit and diff")
    if "Failed build dependencies" in log_text:
        return ("rpmbuild stopped on missing BuildRequires",
                "install them (--install-builddeps runs `dnf builddep`), or build with --nodeps")
    return ("rpmbuild failed", "read the last lines of the log above")


def _missing_dependency(failure: CommandFailed, log_text: str, spec: Path,
                        rpm_args: list[str]) -> MissingBuildDependency | None:
    """The error for a configure that stopped on a missing dependency, tied to the spec's (or the
    src.rpm's) BuildRequires and this host's package; None when the build failed for another reason."""
    miss = build_requires.configure_miss(log_text)
    if miss is None:
        return None
    try:
        if spec.name.endswith(".src.rpm"):
            requirements = build_requires.srpm_build_requires(spec)
        else:
            requirements = build_requires.spec_build_requires(spec, rpm_args)
    except QganbError:
        requirements = []  # the message can still name the package, just not the spec's line
    found = build_requires.explain_miss(miss, requirements)
    if build_requires.host_family() == "debian":
        packages = list(found.debian)
        install = ["apt-get", "install", "-y", "--no-install-recommends", *packages] if packages else None
    else:
        packages = [found.rpm_name] if found.rpm_name else []
        install = ["dnf", "install", "-y", *packages] if packages else None
    return MissingBuildDependency(failure, miss.message, found.spec_entry, found.rpm_name, packages, install)


def swap_in(new: Path, final: Path) -> None:
    """Put the directory `new` in place of `final` by rename (same file system): the old one is moved
    aside first and removed only once the new one is in; if the new one cannot move in, it comes back."""
    aside = final.with_name(f".{final.name}.previous")
    if aside.exists():
        shutil.rmtree(aside)
    if final.exists():
        final.rename(aside)
    try:
        new.rename(final)
    except OSError:
        if aside.exists():
            aside.rename(final)
        raise
    shutil.rmtree(aside, ignore_errors=True)


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
            log_text = log.read_text(errors="replace")
            missing = _missing_dependency(exc, log_text, spec, host)
            if missing is not None:
                raise missing from exc
            problem, fix = _diagnose(log_text, patch_name)
            raise BuildFailed(exc, f"{problem}: `rpmbuild {mode}` exited with status {exc.returncode}", fix) from exc
    for final in results:
        swap_in(staging / final.name, final)
    shutil.rmtree(staging, ignore_errors=True)
    built = sorted(results[0].rglob("*.rpm")) + sorted(results[1].glob("*.src.rpm"))
    return [BuiltPackage(p, str(nevra_of(p))) for p in built]


def dist_of(release: str) -> str | None:
    """The %{dist} a vendor built with, read off the Release (`3.el7` -> `.el7`)."""
    match = re.search(r"(\.(el\d+|fc\d+)[^.]*)", release)
    return match.group(1) if match else None


def rebuild_srpm(srpm: Path, topdir: Path, *, log: Path, on_line: LineSink | None = None) -> list[BuiltPackage]:
    """`rpmbuild --rebuild` of a src.rpm as its vendor built it (its own %{dist}), through the compiler
    cache: the binary packages, e.g. the stock build a guest runs before an upgrade."""
    require_tool("rpmbuild", "rpm")
    dist = dist_of(nevra_of(srpm).release)
    deps = ["--nodeps"] if build_host.needs_nodeps() else []
    host = build_host.rpmbuild_host_args(topdir, dist=dist, log_path=log)
    try:
        with one_build_of(sha256_of(srpm), on_wait=on_line):
            run(["rpmbuild", "--rebuild", *deps, *host, srpm],
                env=compiler_cache_env(topdir / "BUILD"), log_path=log, on_line=on_line)
    except CommandFailed as exc:
        log_text = log.read_text(errors="replace")
        missing = _missing_dependency(exc, log_text, srpm, host)
        if missing is not None:
            raise missing from exc
        problem, fix = _diagnose(log_text, srpm.name)
        raise BuildFailed(exc, f"{problem}: `rpmbuild --rebuild {srpm.name}` exited with status {exc.returncode}",
                          fix) from exc
    return [BuiltPackage(p, str(nevra_of(p))) for p in sorted((topdir / "RPMS").rglob("*.rpm"))]
