"""Streams an http(s) URL into a `.part` file, resuming with a Range request after a dropped
connection. What the file is, and whether to trust it, is the caller's business (a digest, rpm -K)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from qganb.errors import DownloadFailed
from qganb.process import LineSink

CHUNK = 1 << 16
ATTEMPTS = 4


def _say(on_line: LineSink | None, text: str) -> None:
    if on_line is not None:
        on_line(text)


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except from https to anything else: that would drop TLS mid-download."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        old = urllib.parse.urlparse(req.full_url).scheme
        new = urllib.parse.urlparse(urllib.parse.urljoin(req.full_url, newurl)).scheme
        if old == "https" and new != "https":
            raise DownloadFailed(f"{req.full_url} redirects to {newurl}, which drops TLS; refused",
                                 "use a URL that stays on https, or download the file yourself and give its path")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(url: str, part: Path, on_line: LineSink | None = None) -> None:
    """Stream `url` into `part`, resuming from its current size after a broken connection."""
    last_error: Exception | None = None
    for attempt in range(1, ATTEMPTS + 1):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.build_opener(_NoDowngrade).open(request, timeout=30) as response:
                if have and response.status != 206:
                    have = 0  # the server ignored Range: start again
                length = response.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                if have:
                    _say(on_line, f"resuming at {have} bytes (attempt {attempt})")
                got = have
                next_report = 0
                with open(part, "ab" if have else "wb") as out:
                    while True:
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        got += len(chunk)
                        if total and got * 10 // total >= next_report:
                            _say(on_line, f"downloaded {got * 100 // total:3d}% ({got} of {total} bytes)")
                            next_report = got * 10 // total + 1
                if total is not None and got < total:
                    raise ConnectionError(f"connection closed after {got} of {total} bytes")
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # asked past the end: the part is complete already
                return
            raise DownloadFailed(f"downloading {url} failed: HTTP {exc.code} {exc.reason}",
                                 "check the URL") from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last_error = exc
            _say(on_line, f"download interrupted: {getattr(exc, 'reason', exc)}")
    raise DownloadFailed(f"downloading {url} failed after {ATTEMPTS} attempts: {last_error}",
                         "check the network path to the server and try again: the download resumes")
