"""A guest whose disk libvirt's QEMU user cannot reach: the error names the disk and the directory
in the way, not libvirtd."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from qganb import errors
from qganb.errors import CommandFailed
from qganb.testbed import libvirt_host

@pytest.fixture()
def open_base() -> Iterator[Path]:
    """A directory every user can enter, under directories every user can enter (pytest's own
    temporary directories are 0700: the closed one would be found above the test's)."""
    base = Path(tempfile.mkdtemp(prefix="qganb-access-", dir="/var/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


# libvirt 9.0's lines for a checkout under a mode-0700 directory (seen from `virsh create`).
def _refusal(disk: Path) -> CommandFailed:
    return CommandFailed(["virsh", "-c", "qemu:///system", "create", "domain.xml"], 1, [
        "error: Failed to create domain from domain.xml",
        f"error: Cannot access storage file '{disk}' (as uid:64055, gid:64055): Permission denied", ""])


def test_the_closed_directory_is_found(open_base: Path) -> None:
    closed = open_base / "home"
    (closed / "qganb" / ".cache").mkdir(parents=True)
    closed.chmod(0o700)
    assert libvirt_host.closed_directory(closed / "qganb" / ".cache" / "overlay.qcow2") == closed
    closed.chmod(0o755)
    assert libvirt_host.closed_directory(closed / "qganb" / ".cache" / "overlay.qcow2") is None


def test_a_refused_disk_names_the_directory_and_the_fix(open_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = open_base / "home"
    (closed / "run").mkdir(parents=True)
    closed.chmod(0o700)
    disk = closed / "run" / "overlay.qcow2"

    def refuse(*args: str, **kwargs: object) -> None:
        raise _refusal(disk)

    monkeypatch.setattr(libvirt_host, "virsh", refuse)
    with pytest.raises(errors.TestbedError) as info:
        libvirt_host.create_domain(closed / "run" / "domain.xml")
    text = str(info.value)
    assert f"cannot open the guest's disk {disk}: {closed} is mode 0700" in text
    assert "uid 64055" in text and f"chmod o+x {closed}" in text and "QGANB_CACHE_DIR" in text


def test_a_refused_backing_file_is_named_too(open_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = open_base / "images"
    closed.mkdir()
    closed.chmod(0o700)
    base = closed / "root.ext4"

    def refuse(*args: str, **kwargs: object) -> None:
        raise CommandFailed(["virsh", "create", "domain.xml"], 1, [
            f"error: Cannot access backing file '{base}' of storage file '{open_base}/overlay.qcow2' "
            "(as uid:64055, gid:64055): Permission denied"])

    monkeypatch.setattr(libvirt_host, "virsh", refuse)
    with pytest.raises(errors.TestbedError) as info:
        libvirt_host.create_domain(open_base / "domain.xml")
    assert f"cannot open the guest's disk {base}: {closed} is mode 0700" in str(info.value)


def test_another_virsh_failure_is_left_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failure = CommandFailed(["virsh", "create", "x"], 1, ["error: failed to connect to the hypervisor"])

    def fail(*args: str, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(libvirt_host, "virsh", fail)
    with pytest.raises(CommandFailed) as info:
        libvirt_host.create_domain(tmp_path / "domain.xml")
    assert info.value is failure
