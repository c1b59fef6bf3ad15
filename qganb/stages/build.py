"""The build stage: rpmbuild -bb and -bs of the spec stage's spec in the run's build topdir, with
the log streamed live (see qganb.rpm.rpmbuild)."""

from __future__ import annotations

from qganb.process import LineSink
from qganb.rpm import build_host
from qganb.rpm.rpmbuild import build_rpms, dist_of
from qganb.stages.records import BuildRecord, DiffRecord, FetchRecord, SpecRecord
from qganb.stages.run_dir import RunDir


def run(run_dir: RunDir, *, nodeps: bool | None = None, on_line: LineSink | None = None) -> BuildRecord:
    fetched = run_dir.load(FetchRecord)
    spec = run_dir.load(SpecRecord)
    patch = run_dir.load(DiffRecord)
    log = run_dir.log("build")
    log.write_text("")
    packages = build_rpms(spec.spec, run_dir.build_topdir, dist=dist_of(fetched.release),
                          nodeps=build_host.needs_nodeps() if nodeps is None else nodeps,
                          log=log, on_line=on_line, patch_name=patch.path.name)
    record = BuildRecord(packages, str(log))
    run_dir.record(record)
    return record
