"""The fetch stage against a real local HTTP server, with real rpm -K checks on fixture src.rpms."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from qganb.errors import FetchError
from qganb.stages import fetch
from qganb.stages.fetch import fetch_srpm
from qganb.stages.records import FetchRecord
from qganb.stages.run_dir import RunDir
from qganb.testbed.fixture_srpm import build_fixture_srpm
from tests.http_fixtures import self_signed_certificate, serve


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


def test_a_part_that_fails_verification_is_deleted(fixture_srpm: Path, cache: Path, tmp_path: Path) -> None:
    # A mirror first serves a damaged file, then the right one at the same URL: the second fetch must
    # start from zero, not resume onto the damaged bytes.
    served = tmp_path / "served.src.rpm"
    served.write_bytes(fixture_srpm.read_bytes()[:200_000])
    with serve({"/x.src.rpm": served}) as (url, requests):
        with pytest.raises(FetchError, match="is corrupt or truncated"):
            fetch_srpm(url + "/x.src.rpm", insecure=True)
        assert list(cache.rglob("*.part")) == [], "the damaged download is not kept for a resume"
        served.write_bytes(fixture_srpm.read_bytes())
        result = fetch_srpm(url + "/x.src.rpm", insecure=True)
    assert requests == [("/x.src.rpm", None)] * 2, "a fresh download, no Range onto the damaged part"
    assert result.path.read_bytes() == fixture_srpm.read_bytes()


def test_https_redirect_to_http_is_refused(fixture_srpm: Path, cache: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the throwaway certificate, nothing else changes
    digest = hashlib.sha256(fixture_srpm.read_bytes()).hexdigest()
    with serve({"/x.src.rpm": fixture_srpm}) as (plain, plain_requests):
        with serve({}, redirects={"/x.src.rpm": plain + "/x.src.rpm"}, tls=(cert, key)) as (secure, _):
            with pytest.raises(FetchError, match=r"https://127\.0\.0\.1:\d+/x\.src\.rpm redirects to "
                               r"http://127\.0\.0\.1:\d+/x\.src\.rpm, which drops TLS; refused"):
                fetch_srpm(secure + "/x.src.rpm", sha256=digest)
    assert plain_requests == [], "nothing was fetched over the downgraded connection"
    assert list(cache.rglob("*.src.rpm")) == [] and list(cache.rglob("*.part")) == []


def test_https_fetch_works_with_a_trusted_certificate(fixture_srpm: Path, cache: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    digest = hashlib.sha256(fixture_srpm.read_bytes()).hexdigest()
    with serve({"/x.src.rpm": fixture_srpm}, tls=(cert, key)) as (url, _):
        assert fetch_srpm(url + "/x.src.rpm", sha256=digest).sha256 == digest


def test_an_unsigned_download_needs_sha256_or_insecure(fixture_srpm: Path, cache: Path) -> None:
    with serve({"/x.src.rpm": fixture_srpm}) as (url, _):
        with pytest.raises(FetchError, match=r"x\.src\.rpm is not signed, and no --sha256 was given; .*its %prep runs "
                           r"on this host.*--sha256 .*--insecure"):
            fetch_srpm(url + "/x.src.rpm")
        assert list(cache.rglob("*.src.rpm")) == [] and list(cache.rglob("*.part")) == []
        insecure = fetch_srpm(url + "/x.src.rpm", insecure=True)
    assert "not signed" in insecure.signature and insecure.path.is_file()


@pytest.fixture()
def signed_srpm(fixture_srpm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """(a copy of the fixture signed with a throwaway gpg key, that key's public half). HOME moves to
    tmp_path so rpm's keyring (~/.rpmdb on Debian) starts empty and the test's key never leaves it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    # gpg-agent's sockets live in GNUPGHOME, and a socket path has at most 107 bytes: a deep tmp_path
    # (the suite's scratch on /dev/shm) is too long for them, so the keyring gets a short directory.
    gnupg = Path(tempfile.mkdtemp(prefix="qganb-gpg-", dir="/tmp"))
    monkeypatch.setenv("GNUPGHOME", str(gnupg))
    try:
        yield _signed_copy(fixture_srpm, tmp_path, gnupg)
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True, check=False, timeout=60)
        shutil.rmtree(gnupg, ignore_errors=True)


def _signed_copy(fixture_srpm: Path, tmp_path: Path, gnupg: Path) -> tuple[Path, Path]:
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "qganb test <qganb-test@localhost>",
                    "rsa2048", "sign", "never"], check=True, capture_output=True, timeout=120)
    signed = tmp_path / "signed.src.rpm"
    signed.write_bytes(fixture_srpm.read_bytes())
    subprocess.run(["rpmsign", "--addsign", "--define", "__gpg /usr/bin/gpg", "--define", "_gpg_name qganb test",
                    "--define", f"_gpg_path {gnupg}", str(signed)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    public = tmp_path / "key.asc"
    public.write_bytes(subprocess.run(["gpg", "--armor", "--export", "qganb test"], check=True,
                                      capture_output=True, timeout=60).stdout)
    return signed, public


def test_a_signed_download_needs_a_known_key(signed_srpm: tuple[Path, Path], cache: Path) -> None:
    signed, public = signed_srpm
    with serve({"/s.src.rpm": signed}) as (url, _):
        with pytest.raises(FetchError, match=r"s\.src\.rpm is signed with key [0-9a-f]+, which rpm does not know, "
                           r"and no --sha256 was given; .*rpm --import"):
            fetch_srpm(url + "/s.src.rpm")
        assert list(cache.rglob("*.src.rpm")) == [] and list(cache.rglob("*.part")) == []
        subprocess.run(["rpm", "--import", str(public)], check=True, capture_output=True, timeout=60)
        result = fetch_srpm(url + "/s.src.rpm")
    assert result.signature == "signed, signature OK"


def test_a_local_path_is_taken_unsigned_without_a_checksum(fixture_srpm: Path, cache: Path) -> None:
    # The user chose that file on this host: no download to distrust.
    assert "not signed" in fetch_srpm(str(fixture_srpm)).signature
