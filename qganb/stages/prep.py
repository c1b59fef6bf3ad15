"""The prep stage: unpack the source RPM into the run's own topdir, run %prep, commit a git baseline.

The prepped tree lives in `prep/rpmbuild/BUILD`; the build stage uses a separate topdir, because
rpmbuild's own %prep would otherwise wipe the tree and its baseline.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import git

from qganb import process
from qganb.errors import CommandFailed, MissingBuildRequires, PrepError
from qganb.process import LineSink, require_tool
from qganb.rpm import build_host, build_requires
from qganb.rpm.rpmbuild import dist_of
from qganb.stages.records import FetchRecord, PrepRecord
from qganb.stages.run_dir import RunDir

# Big parts of a QEMU tree that qemu-ga never uses: left out of the baseline commit to keep it
# quick. qga/, qapi/, scripts/, include/ and the build files are always tracked.
UNTRACKED_HEAVY = ["/roms/", "/tests/", "/docs/", "/pc-bios/", "/target/", "/tcg/", "/disas/", "/linux-user/",
                   "/bsd-user/", "/subprojects/", "/dtc/", "/capstone/", "/slirp/", "/meson/"]
BASELINE_AUTHOR = git.Actor("qganb", "qganb@localhost")


def _find_tree(build_dir: Path) -> Path:
    """The prepped QEMU tree under BUILD (one level on rpm 4.18, deeper on 4.20's build dirs)."""
    candidates = sorted(p.parent.parent for p in build_dir.glob("**/qga/qapi-schema.json")
                        if len(p.relative_to(build_dir).parts) <= 5)
    if len(candidates) != 1:
        raise PrepError(f"expected one QEMU tree under {build_dir} after %prep, found {len(candidates)}",
                        "check that the source RPM is a QEMU or qemu-guest-agent package")
    return candidates[0]


def _missing_requires(output: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^\s+(.+?) is needed by ", output, re.M)]


def make_baseline(tree: Path, message: str) -> str:
    """Commit the pristine prepped tree (with GitPython) and return the commit id."""
    if (tree / ".git").exists():
        repo = git.Repo(tree)  # e.g. %autosetup -S git_am made one, with the patches as commits
    else:
        repo = git.Repo.init(tree)
    exclude = Path(repo.git_dir) / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    existing = exclude.read_text() if exclude.exists() else ""
    wanted = [p for p in UNTRACKED_HEAVY if (tree / p.strip("/")).exists() and p not in existing]
    if wanted:
        exclude.write_text(existing + "# qganb: not used by qemu-ga\n" + "\n".join(wanted) + "\n")
    with repo.config_writer() as config:
        config.set_value("user", "name", BASELINE_AUTHOR.name)
        config.set_value("user", "email", BASELINE_AUTHOR.email)
        config.set_value("core", "autocrlf", "false")
        # A QEMU tree is over git's 6700 loose objects: the commit would start a detached `git gc`
        # that repacks the whole tree (a minute of CPU) while the build stage compiles.
        config.set_value("gc", "auto", "0")
    repo.git.add("--all")
    if repo.head.is_valid() and not repo.is_dirty(index=True, untracked_files=True):
        return repo.head.commit.hexsha
    env = {"GIT_AUTHOR_DATE": "2000-01-01T00:00:00+00:00", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+00:00"}
    with repo.git.custom_environment(**env):
        repo.git.commit("--quiet", "--no-verify", "--allow-empty", "-m", message)
    return repo.head.commit.hexsha


def run(run_dir: RunDir, *, nodeps: bool | None = None, install_builddeps: bool = False,
        on_line: LineSink | None = None) -> PrepRecord:
    """The prep stage: rpm -i + rpmbuild -bp of the fetched src.rpm into the run's prep topdir, then
    the baseline commit. Idempotent: a tree prepped from the same src.rpm is kept. With
    `install_builddeps` the spec's BuildRequires are installed first (dnf builddep, or apt-get on
    Debian); without it, an EL/Fedora host lists the missing ones (MissingBuildRequires)."""
    srpm = run_dir.load(FetchRecord)
    recorded = run_dir.loaded(PrepRecord)
    if recorded is not None and recorded.srpm_sha256 == srpm.sha256 and (recorded.tree / ".git").exists():
        repo = git.Repo(recorded.tree)
        if repo.head.commit.hexsha == recorded.baseline or recorded.baseline in [
                c.hexsha for c in repo.iter_commits(max_count=50)]:
            return recorded
    require_tool("rpmbuild", "rpm")
    if nodeps is None:
        nodeps = build_host.needs_nodeps()
    topdir = run_dir.prep_topdir
    if topdir.exists():
        shutil.rmtree(topdir)  # a half-done earlier prep: start clean
    topdir.mkdir(parents=True)
    log = run_dir.log("prep")
    log.write_text("")
    process.run(["rpm", "-i", "--define", f"_topdir {topdir}", srpm.path], log_path=log, on_line=on_line,
                fix="check that the source RPM is intact (the fetch stage verifies it)")
    specs = sorted((topdir / "SPECS").glob("*.spec"))
    if len(specs) != 1:
        raise PrepError(f"{srpm.path.name} holds {len(specs)} spec files, expected one", "check the source RPM")
    host = build_host.rpmbuild_host_args(topdir, dist=dist_of(srpm.release), log_path=log)
    if install_builddeps:
        build_requires.prepare_build_requires(specs[0], host, install=True, log=log, on_line=on_line, say=on_line)
    if not nodeps:
        # -bp does not check BuildRequires; -br does, and lists every missing one.
        try:
            process.run(["rpmbuild", "-br", *host, specs[0]], log_path=log, on_line=on_line)
        except CommandFailed as exc:
            missing = _missing_requires(log.read_text())
            if missing:
                raise MissingBuildRequires(missing) from exc
            raise
    process.run(["rpmbuild", "-bp", "--nodeps", *host, specs[0]], log_path=log, on_line=on_line)
    tree = _find_tree(topdir / "BUILD")
    baseline = make_baseline(tree, f"qganb baseline: {srpm.nevra} after rpmbuild -bp")
    record = PrepRecord(topdir, specs[0], tree, baseline, srpm.nevra, srpm.sha256)
    run_dir.record(record)
    return record
