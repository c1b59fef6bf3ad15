"""The fetch stage against a real local HTTP server, with real rpm -K checks on fixture src.rpms."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from qganb.errors import FetchError
from qganb.stages import fetch
from qganb.stages.fetch import fetch_srpm
from qganb.stages.records import FetchRecord
from qganb.stages.run_dir import RunDir
from qganb.testbed.fixture_srpm import build_fixture_srpm
from tests.http_fixtures import serve


@pytest.fixture(scope="module")
def fixture_srpm() -> Path:
    return build_fixture_srpm("7.2", "el7").path


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QGANB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_http_fetch_resumes_after_a_dropped_connection(fixture_srpm: Path, cache: Path, tmp_path: Path) -> None:
    size = fixture_srpm.stat().st_size
    digest = hashlib.sha256(fixture_srpm.read_bytes()).hexdigest()
    progress: list[str] = []
    with serve({"/x.src.rpm": fixture_srpm}, drop_first_at={"/x.src.rpm": size // 2}) as (url, requests):
        result = fetch.run(RunDir(tmp_path / "run"), url + "/x.src.rpm", sha256=digest, on_line=progress.append)
    assert requests[0] == ("/x.src.rpm", None)
    assert requests[1][1] is not None and requests[1][1].startswith("bytes="), "the second request resumes"
    assert int(requests[1][1][6:].rstrip("-")) > 0
    assert any(line.startswith("resuming at") for line in progress)
    assert any("100%" in line for line in progress)
    assert result.sha256 == digest and result.path.read_bytes() == fixture_srpm.read_bytes()
    assert result.nevra == "qemu-guest-agent-10:7.2.0-3.el7.src"
    assert result.path.parent.name == digest, "cached by digest"
    assert RunDir(tmp_path / "run").load(FetchRecord).nevra == result.nevra


def test_file_url_and_path_give_the_same_cached_file(fixture_srpm: Path, cache: Path) -> None:
    by_path = fetch_srpm(str(fixture_srpm))
    by_url = fetch_srpm(fixture_srpm.as_uri())
    assert by_path == by_url
    assert "digests OK" in by_path.signature


def test_checksum_mismatch_keeps_nothing(fixture_srpm: Path, cache: Path) -> None:
    with serve({"/x.src.rpm": fixture_srpm}) as (url, _):
        with pytest.raises(FetchError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}; check the expected"):
            fetch_srpm(url + "/x.src.rpm", sha256="0" * 64)
    assert list(cache.rglob("*.src.rpm")) == [] and list(cache.rglob("*.part")) == []


def test_truncated_src_rpm_is_refused(fixture_srpm: Path, cache: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.src.rpm"
    truncated.write_bytes(fixture_srpm.read_bytes()[:200_000])
    with pytest.raises(FetchError, match=r"cut.src.rpm is corrupt or truncated: rpm -K says: .*digest: BAD"):
        fetch_srpm(str(truncated))
    garbage = tmp_path / "noise.src.rpm"
    garbage.write_bytes(b"this is not an rpm" * 100)
    with pytest.raises(FetchError, match="noise.src.rpm is corrupt or truncated"):
        fetch_srpm(str(garbage))
    assert list(cache.rglob("*.src.rpm")) == []


def test_binary_rpm_is_refused(cache: Path, tmp_path: Path) -> None:
    top = tmp_path / "rpmbuild"
    spec = tmp_path / "tiny.spec"
    spec.write_text("Name: tiny\nVersion: 1\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n"
                    "%description\nt\n%install\nmkdir -p %{buildroot}/opt\ntouch %{buildroot}/opt/tiny\n"
                    "%files\n/opt/tiny\n")
    subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)], check=True, capture_output=True)
    binary = next(top.rglob("*.rpm"))
    with pytest.raises(FetchError, match=r"is a binary RPM \(tiny-1-1.noarch\), not a source RPM; give the .src.rpm"):
        fetch_srpm(str(binary))


def test_http_error_is_reported(cache: Path) -> None:
    with serve({}) as (url, _):
        with pytest.raises(FetchError, match=r"HTTP 404"):
            fetch_srpm(url + "/missing.src.rpm")
