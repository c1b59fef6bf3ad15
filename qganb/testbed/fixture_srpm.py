"""Builds qemu-guest-agent fixture src.rpms from real QEMU sources, cached by a content key.

The key covers everything that goes into the src.rpm (orig tarball digest, preparation, spec
text, extra sources), so asking again returns the cached file at once and any change rebuilds.
A build happens in a scratch directory and is moved into place whole: the cache never holds a
half-written src.rpm under its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from qganb import file_lock, paths
from qganb.errors import CommandFailed, FixtureBuildFailed
from qganb.process import LineSink, require_tool, run
from qganb.rpm import build_host
from qganb.rpm.query import nevra_of
from qganb.testbed import fixture_specs, qemu_source
from qganb.testbed.source_origin import orig_tarball

FIXTURE_FORMAT = 1
SPEC_NAME = "qemu-guest-agent.spec"


@dataclass(frozen=True)
class FixtureSrpm:
    path: Path
    style: str
    series: str
    version: str  # upstream QEMU version, e.g. 7.2.0
    nevra: str
    dist: str
    source_version: str  # the Debian source package it was built from
    key: str

    @classmethod
    def load(cls, directory: Path) -> FixtureSrpm:
        data = json.loads((directory / "fixture.json").read_text())
        return cls(path=directory / data.pop("filename"), **data)


def fixture_key(style: str, source: qemu_source.PreparedSource, spec: str, extra: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    h.update(f"{FIXTURE_FORMAT}\n{style}\n{source.directory.name}\n".encode())
    h.update(spec.encode())
    for name in sorted(extra):
        h.update(name.encode() + b"\0" + extra[name] + b"\0")
    return h.hexdigest()[:16]


def build_fixture_srpm(series: str, style: str, *, refresh: bool = False, source: str | None = None,
                       on_line: LineSink | None = None) -> FixtureSrpm:
    """The fixture src.rpm for QEMU `series` packaged in `style`, built when not cached.

    `source` locates an upstream tarball (series no Debian suite carries); see source_origin."""
    spec_style = fixture_specs.check_style(style)
    cache = paths.cache_dir()
    orig, orig_path = orig_tarball(series, refresh=refresh, source=source, on_line=on_line)
    prepared = qemu_source.prepare(orig, orig_path, cache / "qemu")

    spec = fixture_specs.render_spec(spec_style, prepared)
    extra = fixture_specs.render_sources(spec_style, prepared)
    key = fixture_key(style, prepared, spec, extra)
    fixtures = cache / "fixtures"
    final = fixtures / f"{style}-{series}-{key}"
    if (final / "fixture.json").is_file():
        return FixtureSrpm.load(final)
    with file_lock.held(cache / "locks" / f"{final.name}.lock", on_wait=on_line,
                        what=f"another build of the {style} fixture for QEMU {series}"):
        if (final / "fixture.json").is_file():
            return FixtureSrpm.load(final)
        return _build(series, style, spec_style, prepared, spec, extra, key, final, on_line)


def _build(series: str, style: str, spec_style: fixture_specs.SpecStyle, prepared: qemu_source.PreparedSource,
           spec: str, extra: dict[str, bytes], key: str, final: Path, on_line: LineSink | None) -> FixtureSrpm:
    require_tool("rpmbuild", "rpm")
    fixtures = final.parent
    fixtures.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".build-{style}-{series}-", dir=fixtures))
    try:
        topdir = scratch / "rpmbuild"
        sources = topdir / "SOURCES"
        sources.mkdir(parents=True)
        (topdir / "SPECS").mkdir()
        os.link(prepared.tarball, sources / prepared.tarball.name)
        for patch in prepared.patches:
            shutil.copyfile(prepared.patch_path(patch), sources / patch.filename)
        for name, data in extra.items():
            (sources / name).write_bytes(data)
            if name.endswith(".sh"):
                (sources / name).chmod(0o755)
        spec_path = topdir / "SPECS" / SPEC_NAME
        spec_path.write_text(spec, encoding="utf-8")

        argv: list[str | Path] = ["rpmbuild", "-bs", "--nodeps",
                *build_host.rpmbuild_host_args(topdir, dist=spec_style.dist),
                # Reproducible headers: build time and host come from the spec, not the clock.
                "--define", "source_date_epoch_from_changelog 1",
                "--define", "use_source_date_epoch_as_buildtime 1",
                "--define", "_buildhost qganb-fixtures",
                spec_path]
        try:
            run(argv, log_path=scratch / "rpmbuild.log", on_line=on_line)
        except CommandFailed as exc:
            raise FixtureBuildFailed(
                f"rpmbuild -bs of the {style} fixture for QEMU {series} failed (exit {exc.returncode}): "
                f"{_first_error(exc.tail)}",
                "this is a qganb bug in the fixture spec; report it with `qganb testbed srpm` output",
            ) from exc
        built = list((topdir / "SRPMS").glob("*.src.rpm"))
        if len(built) != 1:
            raise FixtureBuildFailed(f"rpmbuild -bs produced {len(built)} src.rpms, expected one",
                                     "report this as a qganb bug")
        nevra = str(nevra_of(built[0]))

        staging = scratch / "result"
        staging.mkdir()
        os.replace(built[0], staging / built[0].name)
        (staging / SPEC_NAME).write_text(spec, encoding="utf-8")
        record = FixtureSrpm(staging / built[0].name, style, series, prepared.version, nevra,
                             spec_style.dist, prepared.source_version, key)
        fields = asdict(record)
        fields["filename"] = Path(fields.pop("path")).name
        (staging / "fixture.json").write_text(json.dumps(fields, indent=2) + "\n")
        try:
            os.replace(staging, final)
        except OSError:
            if not (final / "fixture.json").is_file():  # not a concurrent twin: a real error
                raise
        return FixtureSrpm.load(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _first_error(tail: list[str]) -> str:
    for line in tail:
        if line.startswith("error:"):
            return line
    return tail[-1] if tail else "no output"
