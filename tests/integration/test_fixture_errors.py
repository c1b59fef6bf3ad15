"""Bad input to `qganb testbed srpm` gives one clear line and leaves the cache consistent."""

from __future__ import annotations

import http.server
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qganb.errors import FixtureBuildFailed
from qganb.testbed import qemu_source
from qganb.testbed.debian_sources import OrigTarball


def qganb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qganb", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_help_lists_the_commands_that_exist() -> None:
    top = qganb("--help")
    assert top.returncode == 0
    for command in ("testbed", "recipe", "package", "spec"):
        assert command in top.stdout
    testbed = qganb("testbed", "--help")
    assert "srpm" in testbed.stdout
    srpm = qganb("testbed", "srpm", "--help")
    for word in ("--qemu", "--style", "5.2, 7.2, 10.0", "el7", "el9", "fedora"):
        assert word in srpm.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (("--qemu", "6.0", "--style", "el7"), "qganb: error: QEMU '6.0' has no fixture source; choose one of 2.12, 5.2, 7.2, 10.0"),
    (("--qemu", "7.2", "--style", "el8"), "qganb: error: spec style 'el8' is unknown; choose one of el7, el9, fedora"),
])
def test_unknown_version_or_style_is_one_clear_line(args: tuple[str, ...], expected: str, tmp_path: Path) -> None:
    done = qganb("testbed", "srpm", *args, env={"QGANB_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert done.stderr.splitlines() == [expected + (" (5.2, 7.2, 10.0 from Debian's source packages, 2.12 from its "
                                                     "upstream release tarball)" if "6.0" in args else "")]
    assert done.stdout == ""


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A mirror that has nothing: every request gets 404."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


class _Dropping(socketserver.BaseRequestHandler):
    """A mirror that accepts the connection and hangs up without answering."""

    def handle(self) -> None:
        self.request.recv(1024)


@pytest.fixture(params=["404", "dropped"])
def broken_mirror(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "404":
        server: socketserver.TCPServer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    else:
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Dropping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/debian"
    server.shutdown()
    server.server_close()


def test_failed_download_is_one_line_and_leaves_no_src_rpm(broken_mirror: str, tmp_path: Path) -> None:
    env = {"QGANB_CACHE_DIR": str(tmp_path), "QGANB_DEBIAN_MIRROR": broken_mirror,
           "QGANB_DEBIAN_SECURITY_MIRROR": broken_mirror}
    done = qganb("testbed", "srpm", "--qemu", "7.2", "--style", "el7", env=env)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"qganb: error: apt could not read the Debian source indexes from {broken_mirror}")
    assert "set QGANB_DEBIAN_MIRROR to one that is, then retry" in lines[0]
    assert list(tmp_path.rglob("*.src.rpm")) == [] and list(tmp_path.rglob("*.orig.tar.*")) == []
    assert not (tmp_path / "fixtures").exists()


def test_corrupt_source_tarball_fails_cleanly(tmp_path: Path) -> None:
    corrupt = tmp_path / "qemu_7.2+dfsg.orig.tar.xz"
    corrupt.write_bytes(b"\xfd7zXZ\x00" + b"not really xz" * 100)
    orig = OrigTarball("7.2", "1:7.2+dfsg-7", corrupt.name, "0" * 64, corrupt.stat().st_size)
    cache = tmp_path / "qemu"
    with pytest.raises(FixtureBuildFailed) as info:
        qemu_source.prepare(orig, corrupt, cache)
    message = str(info.value)
    assert "\n" not in message and "does not unpack" in message and "make clean-cache" in message
    assert list(cache.iterdir()) == [], "no scratch or half-prepared directory is left behind"
