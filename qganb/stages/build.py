"""The build stage: rpmbuild -bb and -bs of the spec stage's spec in the run's build topdir, with
the log streamed live (see qganb.rpm.rpmbuild). Before it, the spec's BuildRequires are checked
on this host (and installed with `install_builddeps`, see qganb.rpm.build_requires)."""

from __future__ import annotations

from qganb.errors import QganbError
from qganb.process import LineSink
from qganb.rpm import build_host, build_requires
from qganb.rpm.compiler_cache import one_build_of
from qganb.rpm.rpmbuild import build_rpms, dist_of
from qganb.stages.records import BuildRecord, DiffRecord, FetchRecord, SpecRecord
from qganb.stages.run_dir import RunDir


def run(run_dir: RunDir, *, nodeps: bool | None = None, install_builddeps: bool = False,
        on_line: LineSink | None = None, say: LineSink | None = None) -> BuildRecord:
    """Build the RPMs. Missing BuildRequires are reported to `say` as a warning (the build may still
    pass), or installed first with `install_builddeps`; a configure that stops on one names it."""
    fetched = run_dir.load(FetchRecord)
    spec = run_dir.load(SpecRecord)
    patch = run_dir.load(DiffRecord)
    log = run_dir.log("build")
    log.write_text("")
    dist = dist_of(fetched.release)
    rpm_args = build_host.rpmbuild_host_args(run_dir.build_topdir, dist=dist, log_path=log)
    tell = say if say is not None else on_line
    try:
        build_requires.prepare_build_requires(spec.spec, rpm_args, install=install_builddeps, log=log,
                                              on_line=on_line, say=tell)
    except QganbError as exc:
        if install_builddeps:
            raise
        # Without --install-builddeps the check only informs: rpmbuild is the judge of the build.
        if tell is not None:
            tell(f"warning: the BuildRequires check could not run ({exc}); building anyway")
    with one_build_of(fetched.sha256, on_wait=tell):
        packages = build_rpms(spec.spec, run_dir.build_topdir, dist=dist,
                              nodeps=build_host.needs_nodeps() if nodeps is None else nodeps,
                              log=log, on_line=on_line, patch_name=patch.path.name)
    record = BuildRecord(packages, str(log))
    run_dir.record(record)
    return record
