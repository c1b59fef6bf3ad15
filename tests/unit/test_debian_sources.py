"""Choosing the Debian source package and orig tarball for a QEMU series."""

import pytest

from qganb.errors import UnknownQemuVersion
from qganb.testbed.debian_sources import (
    PrivateApt,
    check_series,
    in_series,
    newest_in_series,
    parse_showsrc,
    upstream_of,
)

SHOWSRC = """\
Package: qemu
Binary: qemu-system, qemu-utils
Version: 1:7.2+dfsg-7+deb12u15
Checksums-Sha256:
 aaaa 5000 qemu_7.2+dfsg-7+deb12u15.dsc
 bbbb 23523172 qemu_7.2+dfsg.orig.tar.xz
 cccc 100 qemu_7.2+dfsg-7+deb12u15.debian.tar.xz

Package: qemu
Version: 1:7.2+dfsg-7+deb12u18
Checksums-Sha256:
 dddd 5000 qemu_7.2+dfsg-7+deb12u18.dsc
 bbbb 23523172 qemu_7.2+dfsg.orig.tar.xz

Package: qemu
Version: 1:10.0.13+ds-0+deb13u1
Checksums-Sha256:
 eeee 40010016 qemu_10.0.13+ds.orig.tar.xz

Package: qemu-web
Version: 1:10.0.13
Checksums-Sha256:
 ffff 1 qemu_10.0.13.orig.tar.xz
"""


def test_upstream_version_strips_epoch_repack_suffix_and_revision() -> None:
    assert upstream_of("1:7.2+dfsg-7+deb12u18") == "7.2"
    assert upstream_of("1:10.0.13+ds-0+deb13u1") == "10.0.13"
    assert upstream_of("5.2~rc1-1") == "5.2"


def test_series_matching_does_not_confuse_10_0_with_1_0() -> None:
    assert in_series("1:10.0.13+ds-0+deb13u1", "10.0")
    assert not in_series("1:10.0.13+ds-0+deb13u1", "1.0")
    assert not in_series("1:7.20+dfsg-1", "7.2")


def test_newest_source_of_a_series_is_picked_with_dpkg_ordering() -> None:
    parsed = parse_showsrc(SHOWSRC)
    assert [p.filename for p in parsed] == [
        "qemu_7.2+dfsg.orig.tar.xz", "qemu_7.2+dfsg.orig.tar.xz", "qemu_10.0.13+ds.orig.tar.xz",
    ]
    best = newest_in_series(parsed, "7.2")
    assert best is not None
    assert (best.series, best.source_version, best.sha256, best.size) == ("7.2", "1:7.2+dfsg-7+deb12u18", "bbbb", 23523172)
    assert newest_in_series(parsed, "5.2") is None


def test_unknown_series_is_one_line_naming_the_choices() -> None:
    with pytest.raises(UnknownQemuVersion) as info:
        check_series("6.0")
    message = str(info.value)
    assert "\n" not in message
    assert "'6.0'" in message and "5.2, 7.2, 10.0" in message


def test_private_apt_never_points_at_host_configuration(tmp_path) -> None:
    apt = PrivateApt(tmp_path, mirror="http://127.0.0.1:9/debian", security_mirror="http://127.0.0.1:9/sec")
    assert apt.write_config() is True
    assert apt.write_config() is False  # unchanged: the lists stay valid
    options = " ".join(apt.options())
    for key in ("Dir::Etc::SourceList", "Dir::Etc::SourceParts", "Dir::State::Lists", "Dir::Cache"):
        assert f"{key}={tmp_path}" in options
    text = apt.sources_list.read_text()
    assert "deb-src" in text and "bullseye" in text and "bookworm-security" in text and "trixie" in text
    assert "http://127.0.0.1:9/sec bookworm-security" in text
