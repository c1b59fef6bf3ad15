"""libvirt on this host: start virtlogd/libvirtd when they are not running (these machines have no
systemd), and run virsh with argv lists."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from qganb import file_lock
from qganb.agent.transport import DEFAULT_URI
from qganb.agent.virsh import VirshAgent
from qganb.errors import CommandFailed, LibvirtUnavailable, TestbedError
from qganb.process import CommandResult, captured, require_tool, run

SOCKET = Path("/run/libvirt/libvirt-sock")
# Host-wide, not under TMPDIR: every process that may start the daemons must see the same lock
# (the test suite's TMPDIR is its own scratch directory).
_DAEMONS_LOCK = Path("/run/lock" if os.access("/run/lock", os.W_OK) else tempfile.gettempdir()) / "qganb-libvirt-daemons.lock"


def _running(name: str) -> bool:
    return captured(["pgrep", "-x", name], timeout=30).returncode == 0


def ensure_daemons(timeout: float = 30.0) -> None:
    """Start virtlogd and libvirtd (as daemons) unless they run already; wait for libvirtd's socket."""
    require_tool("libvirtd", "libvirt-daemon-system")
    require_tool("virsh", "libvirt-clients")
    # Two processes starting the testbed and the fleet at once would both find libvirtd stopped and
    # the second `libvirtd -d` would fail on the first one's pid file: one checks and starts at a time.
    with file_lock.held(_DAEMONS_LOCK):
        for daemon in ("virtlogd", "libvirtd"):
            if not _running(daemon):
                run([daemon, "-d"], fix=f"start {daemon} by hand to see why it fails")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done = subprocess.run(["virsh", "-c", DEFAULT_URI, "version"], capture_output=True, text=True,
                                  check=False, timeout=10)
        except subprocess.TimeoutExpired:
            continue  # not answering yet: the deadline decides
        if done.returncode == 0:
            return
        time.sleep(0.5)
    raise LibvirtUnavailable(f"libvirtd did not answer on {DEFAULT_URI} within {timeout:g} s",
                             "run `libvirtd -d` as root and check /var/log/libvirt")


def virsh(*args: str, uri: str = DEFAULT_URI, check: bool = True) -> CommandResult:
    return run(["virsh", "-c", uri, *args], check=check, timeout=300,
               fix="check that libvirtd answers (`virsh list --all`)")


# libvirt's words when QEMU, running as its own user, cannot open a disk.
_DENIED = re.compile(r"Cannot access (?:storage|backing) file '(?P<path>[^']+)'(?: of storage file '[^']+')? "
                     r"\(as uid:(?P<uid>\d+), gid:\d+\): Permission denied")


def closed_directory(path: Path) -> Path | None:
    """The first directory above `path` that other users cannot enter (no o+x), or None."""
    for directory in reversed(path.parents):
        try:
            if not directory.stat().st_mode & stat.S_IXOTH:
                return directory
        except OSError:
            return None
    return None


def create_domain(xml: Path, uri: str = DEFAULT_URI) -> None:
    """`virsh create`; a disk that libvirt's QEMU user cannot reach is named, with the directory in
    the way (a checkout in a mode-0700 home, or a mkdtemp directory, is the usual case)."""
    try:
        virsh("create", str(xml), uri=uri)
    except CommandFailed as exc:
        denied = _DENIED.search("\n".join(exc.tail))
        if denied is None:
            raise
        disk = Path(denied.group("path"))
        closed = closed_directory(disk)
        where = (f": {closed} is mode {stat.S_IMODE(closed.stat().st_mode):04o}, other users cannot enter it"
                 if closed else "")
        raise TestbedError(
            f"libvirt's QEMU (uid {denied.group('uid')}) cannot open the guest's disk {disk}{where}",
            (f"`chmod o+x {closed}`, or " if closed else "") + "point QGANB_CACHE_DIR at a directory "
            "libvirt's QEMU user can reach (e.g. under /var/tmp), then start the guest again") from exc


def domain_state(name: str, uri: str = DEFAULT_URI) -> str | None:
    """'running', 'shut off', ... or None when the domain does not exist."""
    done = captured(["virsh", "-c", uri, "domstate", name], timeout=60,
                    fix="check that libvirtd answers (`virsh list --all`)")
    return done.stdout.strip() if done.returncode == 0 else None


def agent_ping(name: str, uri: str = DEFAULT_URI, timeout: int = 5) -> bool:
    return VirshAgent(name, uri=uri).ping(timeout)


def domain_names(uri: str = DEFAULT_URI) -> list[str]:
    """Every domain libvirt knows at `uri`, running or not."""
    done = virsh("list", "--all", "--name", uri=uri)
    return [line.strip() for line in done.output.splitlines() if line.strip()]


def stop_domain(name: str, uri: str = DEFAULT_URI) -> None:
    """Stop `name` and forget it (a transient domain is gone once destroyed; a defined one is undefined)."""
    if domain_state(name, uri) is not None:
        virsh("destroy", name, uri=uri, check=False)
        if domain_state(name, uri) is not None:
            virsh("undefine", name, uri=uri, check=False)
