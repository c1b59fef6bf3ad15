"""The QEMU 2.12 source is an input the user supplies: a path, a directory or a URL, checked against
its pinned sha256, with an exact message when it is missing or wrong. Real files, a real HTTP server."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.errors import SourceDownloadFailed, SourceMissing, UnknownQemuVersion
from qganb.testbed import source_origin
from qganb.testbed.catalog import UPSTREAM_RELEASES
from qganb.testbed.source_origin import check_series, orig_tarball, upstream_tarball
from tests.http_fixtures import serve

RELEASE = UPSTREAM_RELEASES["2.12"]
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / RELEASE.filename


@pytest.fixture()
def cold_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QGANB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(source_origin.SOURCES_ENV, raising=False)
    return tmp_path / "cache"


def test_unknown_series_names_both_kinds_of_source() -> None:
    with pytest.raises(UnknownQemuVersion) as info:
        check_series("3.1")
    assert "2.12, 5.2, 7.2, 10.0" in str(info.value) and "upstream release tarball" in str(info.value)


def test_the_shared_fixtures_directory_is_the_default(cold_cache: Path) -> None:
    orig, path = orig_tarball("2.12")
    assert path == cold_cache / "upstream" / RELEASE.filename
    assert orig.sha256 == RELEASE.sha256 and orig.size == SHARED.stat().st_size
    assert orig.source_version == "2.12.0 (upstream release)"


def test_a_missing_source_says_what_file_and_where_to_put_it(cold_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_origin, "default_sources", lambda: None)  # as in a user's clone: no ../shared
    with pytest.raises(SourceMissing) as info:
        upstream_tarball(RELEASE)
    message = str(info.value)
    assert RELEASE.filename in message and RELEASE.sha256 in message
    assert "--source" in message and source_origin.SOURCES_ENV in message
    assert not (cold_cache / "upstream" / RELEASE.filename).exists()


def test_a_file_with_another_digest_is_refused_and_not_kept(cold_cache: Path, tmp_path: Path) -> None:
    wrong = tmp_path / RELEASE.filename
    wrong.write_bytes(SHARED.read_bytes()[:4096])
    with pytest.raises(SourceDownloadFailed) as info:
        upstream_tarball(RELEASE, str(wrong))
    assert "has sha256" in str(info.value) and RELEASE.sha256 in str(info.value)
    assert list((cold_cache / "upstream").iterdir()) == []


def test_a_url_prefix_is_downloaded_and_checked(cold_cache: Path) -> None:
    with serve({f"/mirror/{RELEASE.filename}": SHARED}) as (base, requests):
        path = upstream_tarball(RELEASE, f"{base}/mirror/")
    assert path.read_bytes()[:6] == b"\xfd7zXZ\x00"
    assert [r[0] for r in requests] == [f"/mirror/{RELEASE.filename}"]
    # Cached: the next call needs no source at all.
    assert upstream_tarball(RELEASE, "/nonexistent") == path


def test_a_url_that_is_not_there_is_a_download_error(cold_cache: Path) -> None:
    with serve({}) as (base, _):
        with pytest.raises(SourceDownloadFailed) as info:
            upstream_tarball(RELEASE, f"{base}/nothing/{RELEASE.filename}")
    assert "HTTP 404" in str(info.value)
