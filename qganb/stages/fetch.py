"""The fetch stage: get a source RPM from a URL or a path, check it, and cache it by digest.

Downloads stream to a `.part` file and resume with an HTTP Range request after a dropped
connection. Nothing reaches the cache before its sha256 (when given) and rpm's own digests check
out, so a bad download never replaces a good one; a `.part` that fails a check is deleted, so the
next fetch starts afresh instead of resuming onto it. A download's %prep will run on this host, so
it must also carry a signature from a key rpm knows, or match a `--sha256`, unless `insecure`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.parse
from pathlib import Path

from qganb import paths
from qganb.digests import sha256_of
from qganb.download import download
from qganb.errors import DownloadFailed, FetchError, RpmQueryFailed
from qganb.process import LineSink, captured, require_tool
from qganb.rpm.query import Nevra, nevra_of
from qganb.stages.records import FetchRecord
from qganb.stages.run_dir import RunDir


def _say(on_line: LineSink | None, text: str) -> None:
    if on_line is not None:
        on_line(text)


def check_rpm(path: Path, origin: str) -> tuple[Nevra, str]:
    """rpm's digest check and header read: (header fields, signature state). Refuses non-source RPMs."""
    package, signature, _ = _checked_rpm(path, origin)
    return package, signature


def _damaged(report: str) -> bool:
    """rpm -K's words for a file that is not intact: a BAD digest or signature, or no RPM at all."""
    return bool(re.search(r":\s*BAD\b|\bNOT OK\b", report)
                or re.search(r"\bnot an rpm package\b|\bread failed\b|^error:", report, re.M | re.I))


def _checked_rpm(path: Path, origin: str) -> tuple[Nevra, str, str]:
    """check_rpm(), plus rpm -K's own report for the trust decision."""
    require_tool("rpm", "rpm")
    checked = captured(["rpm", "-Kv", path], timeout=300, fix="check the disk and that rpm is not blocked on a lock")
    # The path is taken out first: a file or directory name must not read as a verdict.
    report = (checked.stdout + checked.stderr).replace(str(path), "FILE").strip()
    # rpm's verdicts are upper case (": BAD"); a key ID such as 5336bade must not match.
    if _damaged(report) or (checked.returncode != 0 and "NOKEY" not in report and "NOTTRUSTED" not in report):
        detail = next((line.strip() for line in report.splitlines() if _damaged(line)),
                      report.splitlines()[-1] if report else "no output")
        raise FetchError(f"{origin} is corrupt or truncated: rpm -K says: {detail}",
                         "download it again; if it persists, the server has a damaged file")
    # Every signature must check out: one good and one from an unknown key is not "signed, OK".
    if re.search(r"Signature.*: OK", report) and "NOKEY" not in report and "NOTTRUSTED" not in report:
        signature = "signed, signature OK"
    elif "NOKEY" in report:
        key = re.search(r"key ID ([0-9a-f]+)", report)
        signature = f"signed with key {key.group(1) if key else '?'}, key not imported (rpm --import it to check)"
    else:
        signature = "not signed (digests OK)"
    try:
        package = nevra_of(path)
    except RpmQueryFailed as exc:
        raise FetchError(f"{origin}: {exc.problem}", "download it again; it may be damaged") from exc
    if not package.is_source:
        raise FetchError(f"{origin} is a binary RPM ({package}), not a source RPM",
                         "give the .src.rpm: qganb rebuilds the binary packages from it")
    return package, signature, report


def _require_trust(origin: str, report: str, signature: str) -> None:
    """A download is trusted when rpm checked its signature against a key it knows; else refused."""
    if signature == "signed, signature OK":
        return
    why = ("its %prep runs on this host: give its --sha256 from a source you trust, "
           "or pass --insecure to take it as it is")
    if "NOKEY" in report or "NOTTRUSTED" in report:
        key = re.search(r"key ID ([0-9a-f]+)", report)
        raise FetchError(f"{origin} is signed with key {key.group(1) if key else '(unknown)'}, which rpm does not know, "
                         "and no --sha256 was given; refused",
                         f"import the vendor's key (rpm --import KEY-FILE) if you trust it; {why}")
    raise FetchError(f"{origin} is not signed, and no --sha256 was given; refused", why)


def fetch_srpm(source: str, *, sha256: str | None = None, on_line: LineSink | None = None,
               insecure: bool = False) -> FetchRecord:
    """Fetch `source` (http(s) URL, file: URL or path) into the digest cache, checked.

    A download must match `sha256`, or carry a signature rpm verifies with a key it knows, unless
    `insecure`; a local file is the user's own choice and is taken with rpm's digest check alone."""
    cache = paths.cache_dir() / "srpms"
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    parsed = urllib.parse.urlparse(source)
    scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache))
    try:
        if parsed.scheme in ("http", "https"):
            name = Path(urllib.parse.unquote(parsed.path)).name or "download.src.rpm"
            part = downloads / (hashlib.sha256(source.encode()).hexdigest()[:16] + ".part")
            _say(on_line, f"fetching {source}")
            try:
                download(source, part, on_line)
            except DownloadFailed as exc:
                raise FetchError(exc.problem, exc.fix) from exc
            candidate = part
        else:
            local = Path(urllib.parse.unquote(parsed.path)) if parsed.scheme == "file" else Path(source)
            if not local.is_file():
                raise FetchError(f"{source} does not exist", "check the path or URL")
            name = local.name
            candidate = scratch / name
            shutil.copyfile(local, candidate)
        try:
            digest = sha256_of(candidate)
            if sha256 is not None and digest != sha256.lower():
                raise FetchError(f"{source} has sha256 {digest}, expected {sha256}",
                                 "check the expected checksum; the file was not kept")
            package, signature, report = _checked_rpm(candidate, source)
            if candidate.parent == downloads and sha256 is None and not insecure:
                _require_trust(source, report, signature)
        except FetchError:
            # A part that failed a check is not resumable: the next fetch must start from zero.
            if candidate.parent == downloads:
                candidate.unlink(missing_ok=True)
            raise
        final_dir = cache / digest
        # Named from its header, whatever the URL called it, so a digest has exactly one file.
        final = final_dir / f"{package.name}-{package.version}-{package.release}.src.rpm"
        if not final.is_file():
            staging = scratch / "staging"
            staging.mkdir()
            os.replace(candidate, staging / final.name)
            try:
                os.replace(staging, final_dir)
            except OSError:
                if not final.is_file():
                    raise
        elif candidate.parent == downloads:
            candidate.unlink()
        result = FetchRecord(final, digest, package.name, package.epoch, package.version, package.release,
                             signature, source)
        _say(on_line, f"{result.nevra}: {signature}; cached as {final}")
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(run_dir: RunDir, source: str, *, sha256: str | None = None, on_line: LineSink | None = None,
        insecure: bool = False) -> FetchRecord:
    """The fetch stage: fetch_srpm(), recorded in the run's manifest."""
    record = fetch_srpm(source, sha256=sha256, on_line=on_line, insecure=insecure)
    run_dir.record(record)
    return record
