"""What a Debian root really supplies of an RPM's requirements, read from its own files: this host
is a Debian system like the dnf guest's image, so its root stands in for the image here."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.errors import TestbedError
from qganb.process import run
from qganb.rpm import build_host
from qganb.testbed import guest, system_provides

HOST_ROOT = Path("/")


def rpm_requiring(workdir: Path, *requirements: str) -> Path:
    spec = workdir / "needy.spec"
    spec.write_text("\n".join([
        "Name: needy", "Version: 1", "Release: 1", "Summary: requires what it is told to", "License: MIT",
        "AutoReqProv: no", *(f"Requires: {r}" for r in requirements), "", "%description", "A test package.", "",
        "%files", ""]))
    top = workdir / "rpmbuild"
    run(["rpmbuild", "-bb", *build_host.rpmbuild_host_args(top), spec], log_path=workdir / "rpmbuild.log")
    return next((top / "RPMS").rglob("*.rpm"))


@pytest.mark.fixture_build
def test_every_open_requirement_of_the_stock_agent_is_backed_by_a_file_of_the_root() -> None:
    stock = guest.stock_agent_rpm()
    wanted = system_provides.open_requirements(stock)
    assert "libglib-2.0.so.0()(64bit)" in wanted and "/bin/sh" in wanted
    assert not [r for r in wanted if r.startswith(("rpmlib(", "config(qemu-guest-agent)"))]
    provided = {p.name: p for p in system_provides.find_provides(HOST_ROOT, [stock])}
    assert sorted(provided) == wanted
    glib = provided["libglib-2.0.so.0()(64bit)"]
    assert glib.version is None and glib.evidence.startswith("elfdeps --provides /")
    assert (HOST_ROOT / glib.evidence.split(" /", 1)[1]).exists()
    units = provided["systemd-units"]
    assert units.version == system_provides.debian_version(HOST_ROOT, "systemd")
    assert "systemd-units = " + str(units.version) in system_provides.provides_spec(list(provided.values()), "12")


def test_what_the_root_cannot_back_is_refused_by_name(tmp_path: Path) -> None:
    needy = rpm_requiring(tmp_path, "libc.so.6(GLIBC_9.99)(64bit)", "libqganb-nowhere.so.1()(64bit)",
                          "/usr/bin/qganb-nowhere", "qganb-unknown-capability", "libc.so.6(GLIBC_2.34)(64bit)")
    with pytest.raises(TestbedError) as refused:
        system_provides.find_provides(HOST_ROOT, [needy])
    message = str(refused.value)
    assert "libc.so.6(GLIBC_9.99)(64bit) (not provided by /usr/lib/x86_64-linux-gnu/libc.so.6)" in message
    assert "libqganb-nowhere.so.1()(64bit) (no libqganb-nowhere.so.1)" in message
    assert "/usr/bin/qganb-nowhere (no such file)" in message
    assert "qganb-unknown-capability (qganb does not know what supplies it on Debian)" in message
    assert "GLIBC_2.34" not in message, "what the root does supply is not listed as missing"


def test_paths_are_resolved_inside_the_root_even_through_absolute_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (root / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").write_text("loader")
    (root / "lib").symlink_to("usr/lib")
    (root / "lib64").mkdir()
    (root / "lib64/ld-linux-x86-64.so.2").symlink_to("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    (root / "etc").mkdir()
    (root / "etc/passwd").symlink_to("/etc/hostname")  # exists on the host, not in this root
    found = system_provides.in_image(root, "/lib64/ld-linux-x86-64.so.2")
    assert found == root / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert system_provides.in_image(root, "/etc/passwd") is None
    assert system_provides.in_image(root, "/usr/../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") == found
