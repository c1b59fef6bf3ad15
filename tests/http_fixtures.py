"""A local HTTP(S) server on 127.0.0.1 for fetch tests: Range requests, redirects, and a mode that
drops mid-file. HTTPS uses a throwaway self-signed certificate made by `openssl`."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, Path] = {}  # read at each request, so a test can change a file between fetches
    drop_first_at: dict[str, int] = {}  # path -> byte count after which the first GET hangs up
    redirects: dict[str, str] = {}  # path -> absolute URL answered with a 302
    requests: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.files.get(self.path)
        data = path.read_bytes() if path is not None else None
        self.requests.append((self.path, self.headers.get("Range")))
        if self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if data is None:
            self.send_error(404)
            return
        start = 0
        if (rng := self.headers.get("Range")) and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        cut = self.drop_first_at.pop(self.path, None)
        if cut is not None:
            self.wfile.write(data[start:cut])
            self.wfile.flush()
            self.connection.shutdown(2)  # hang up halfway, as a flaky mirror does
            return
        self.wfile.write(data[start:])

    def log_message(self, *args: object) -> None:
        pass


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, made with openssl; trust it with SSL_CERT_FILE=certificate."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@contextmanager
def serve(files: dict[str, Path], drop_first_at: dict[str, int] | None = None, *,
          redirects: dict[str, str] | None = None,
          tls: tuple[Path, Path] | None = None) -> Iterator[tuple[str, list]]:
    handler = type("Handler", (_Handler,), {
        "files": dict(files),
        "drop_first_at": dict(drop_first_at or {}),
        "redirects": dict(redirects or {}),
        "requests": [],
    })
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()
