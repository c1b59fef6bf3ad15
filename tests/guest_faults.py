"""Real faults for install tests on the testbed guest: an agent RPM whose qemu-ga exits at start,
a TCP proxy whose connections can be cut mid-install, a running domain without an agent channel,
and putting the stock agent back between tests."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qganb.rpm import build_host
from qganb.agent.transport import wait_for_agent
from qganb.agent.virsh import VirshAgent
from qganb.rpm.query import NEVRA_QUERY, Nevra, nevra_of
from qganb.process import run
from qganb.rpm.payload import extract_payload
from qganb.guest.ssh import RemoteResult, SshClient
from qganb.testbed import guest, libvirt_host

BROKEN_QGA = "#!/bin/sh\necho 'qemu-ga: this build exits at start on purpose (qganb fault test)' >&2\nexit 1\n"


def repackaged_agent_rpm(source: Path, workdir: Path, *, release_suffix: str = "", qemu_ga: str | None = None,
                         marker: str | None = None, release: str | None = None, keep_real_agent: bool = False) -> Path:
    """The files and unit of `source` in a new RPM built by rpmbuild: with a release suffix (or
    another release), a replaced qemu-ga (the real one kept at /usr/libexec/qemu-ga-real when
    asked), and/or an extra marker file (a rebuild with the same NEVRA)."""
    package = nevra_of(source)
    release_override = release
    epoch, version, release, arch = package.epoch, package.version, package.release, package.arch
    payload = extract_payload(source, workdir / "payload")
    if keep_real_agent:
        (payload / "usr/libexec").mkdir(parents=True, exist_ok=True)
        os.replace(payload / "usr/bin/qemu-ga", payload / "usr/libexec/qemu-ga-real")
    if qemu_ga is not None:
        (payload / "usr/bin/qemu-ga").write_text(qemu_ga)
        (payload / "usr/bin/qemu-ga").chmod(0o755)
    if marker is not None:
        (payload / "usr/share/doc/qganb-marker").parent.mkdir(parents=True, exist_ok=True)
        (payload / "usr/share/doc/qganb-marker").write_text(marker)
    files = sorted("/" + str(p.relative_to(payload)) for p in payload.rglob("*") if p.is_file() or p.is_symlink())
    listed = "\n".join(f"%config(noreplace) {f}" if f.startswith("/etc/") else f for f in files)
    spec = workdir / "repackaged.spec"
    spec.write_text(f"""Name: qemu-guest-agent
Epoch: {epoch}
Version: {version}
Release: {release_override or release}{release_suffix}
Summary: qemu-guest-agent repackaged for a qganb install test
License: GPL-2.0-or-later
BuildArch: {arch}
AutoReqProv: no

%description
A fixture for qganb's install tests.

%install
cp -a {payload}/. %{{buildroot}}/

%files
{listed}
""")
    top = workdir / "rpmbuild"
    run(["rpmbuild", "-bb", *build_host.rpmbuild_host_args(top), spec], log_path=workdir / "rpmbuild.log")
    return next((top / "RPMS").rglob("*.rpm"))


def build_broken_agent_rpm(stock: Path, workdir: Path) -> Path:
    """The stock package one release up, with a qemu-ga that exits at once."""
    return repackaged_agent_rpm(stock, workdir, release_suffix=".broken1", qemu_ga=BROKEN_QGA)


def on_testbed(command: list[str], check: bool = True) -> RemoteResult:
    """`command` as root on the testbed, each word quoted for the guest's shell."""
    with SshClient(guest.ssh_target()) as ssh:
        return ssh.run(command, check=check)


def installed_agent() -> str:
    """The NEVRA of the guest's qemu-guest-agent package, or "" when none is installed."""
    done = on_testbed(["rpm", "-q", "--qf", NEVRA_QUERY, "qemu-guest-agent"], check=False)
    return str(Nevra.parse_query(done.stdout)) if done.returncode == 0 else ""


def put_stock_agent_back() -> None:
    """The testbed as `up` leaves it: the stock package, its configuration, its agent answering."""
    if not guest.start_from(guest.stock_agent_rpm()):  # start_from waits for the agent when it changed it
        wait_for_agent(VirshAgent(guest.DOMAIN), timeout=120)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the guest's SSH forward until cut() drops every connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.open = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            self.pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self) -> None:
        """Reset every connection and refuse new ones, like a link that went down."""
        self.open = False
        for a, b in self.pairs:
            for sock in (a, b):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.close()
                except OSError:
                    pass
        self.pairs.clear()

    def reopen(self) -> None:
        """The link is back: accept connections again."""
        self.open = True

    def close(self) -> None:
        self.cut()
        self.server.close()


def known_hosts_for_port(path: Path, port: int) -> Path:
    """The testbed's pinned host key, for another port on 127.0.0.1 (the proxy's)."""
    path.write_text(f"[127.0.0.1]:{port} {guest.current_image().host_public_key}\n")
    return path


@contextmanager
def domain_without_agent_channel(workdir: Path) -> Iterator[str]:
    """A running TCG domain with no disk and no guest agent channel."""
    name = "qganb-no-channel"
    xml = workdir / "no-channel.xml"
    xml.write_text(f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><memballoon model='none'/></devices>
</domain>
""")
    libvirt_host.virsh("create", str(xml))
    try:
        yield name
    finally:
        libvirt_host.virsh("destroy", name, check=False)


def wait_until(predicate, timeout: float, interval: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def fresh_key(workdir: Path) -> Path:
    key = workdir / "other_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
    os.chmod(key, 0o600)
    return key
