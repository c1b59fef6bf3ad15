"""Where a fixture's QEMU tarball comes from: Debian's source packages for the series Debian
carries, an upstream release tarball pinned by its sha256 for the others (2.12, CentOS 7's).

An upstream tarball is taken from `--source PATH|URL` (a file, or a directory or URL prefix that
holds it), else QGANB_QEMU_SOURCES, else the checkout's sibling `../shared/fixtures` when it exists.
It is copied into qganb's cache only once its digest matches, so every later use is local.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
from pathlib import Path

from qganb import file_lock, paths
from qganb.digests import sha256_of
from qganb.download import download
from qganb.errors import DownloadFailed, SourceDownloadFailed, SourceMissing, UnknownQemuVersion
from qganb.process import LineSink
from qganb.testbed.catalog import UPSTREAM_RELEASES, UpstreamRelease, supported_series
from qganb.testbed.debian_sources import SERIES_SUITES, OrigTarball, PrivateApt

SOURCES_ENV = "QGANB_QEMU_SOURCES"


def check_series(series: str) -> str:
    if series not in SERIES_SUITES and series not in UPSTREAM_RELEASES:
        raise UnknownQemuVersion(
            f"QEMU {series!r} has no fixture source",
            f"choose one of {', '.join(supported_series())} ({', '.join(SERIES_SUITES)} from Debian's source "
            f"packages, {', '.join(UPSTREAM_RELEASES)} from its upstream release tarball)",
        )
    return series


def default_sources() -> Path | None:
    """`../shared/fixtures` beside the checkout, where the project's shared data lives."""
    root = paths.source_checkout()
    candidate = root.parent / "shared" / "fixtures" if root is not None else None
    return candidate if candidate is not None and candidate.is_dir() else None


def _candidate(release: UpstreamRelease, source: str) -> str:
    """`source` names the tarball itself, or a directory / URL prefix holding it."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        return source if parsed.path.endswith(release.filename) else source.rstrip("/") + "/" + release.filename
    local = Path(urllib.parse.unquote(parsed.path)) if parsed.scheme == "file" else Path(source)
    return str(local / release.filename if local.is_dir() else local)


def _missing(release: UpstreamRelease) -> SourceMissing:
    return SourceMissing(
        f"the QEMU {release.version} source ({release.filename}, sha256 {release.sha256}) is not available: "
        f"no --source was given, {SOURCES_ENV} is not set, and there is no ../shared/fixtures beside the checkout",
        f"download the upstream release {release.filename} and pass --source PATH|URL "
        f"(the file or the directory/URL holding it), or set {SOURCES_ENV}",
    )


def upstream_tarball(release: UpstreamRelease, source: str | None = None,
                     on_line: LineSink | None = None) -> Path:
    """The release tarball in qganb's cache, brought in (and checked) from `source` when missing."""
    cache = paths.cache_dir() / "upstream"
    final = cache / release.filename
    if final.is_file() and sha256_of(final) == release.sha256:
        return final
    where = source or os.environ.get(SOURCES_ENV) or (str(d) if (d := default_sources()) else None)
    if where is None:
        raise _missing(release)
    location = _candidate(release, where)
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".upstream-", dir=cache))
    try:
        got = scratch / release.filename
        if urllib.parse.urlparse(location).scheme in ("http", "https"):
            try:
                download(location, got, on_line)
            except DownloadFailed as exc:
                raise SourceDownloadFailed(exc.problem, exc.fix) from exc
        elif Path(location).is_file():
            shutil.copyfile(location, got)
        else:
            raise SourceMissing(f"{location} does not exist (looking for the QEMU {release.version} source "
                                f"{release.filename})", "check --source or " + SOURCES_ENV)
        digest = sha256_of(got)
        if digest != release.sha256:
            raise SourceDownloadFailed(
                f"{location} has sha256 {digest}, but QEMU {release.version}'s {release.filename} has {release.sha256}",
                "give the unmodified upstream release tarball; the file was not kept")
        os.replace(got, final)
        return final
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def orig_tarball(series: str, *, refresh: bool = False, source: str | None = None,
                 on_line: LineSink | None = None) -> tuple[OrigTarball, Path]:
    """The tarball a fixture of QEMU `series` is made from, and where it is on disk."""
    check_series(series)
    # Two processes (a guest's image build and a fixture build, or two test workers) may ask at once:
    # the private apt's lists and the cached downloads are written by one at a time.
    with file_lock.held(paths.cache_dir() / "sources.lock", on_wait=on_line, what="another fetch of QEMU sources"):
        if series in UPSTREAM_RELEASES:
            release = UPSTREAM_RELEASES[series]
            path = upstream_tarball(release, source, on_line)
            return OrigTarball(series, f"{release.version} (upstream release)", release.filename, release.sha256,
                               path.stat().st_size), path
        apt = PrivateApt(paths.cache_dir() / "debian")
        orig = apt.resolve(series, refresh=refresh)
        return orig, apt.fetch(orig)
