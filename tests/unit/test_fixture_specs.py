"""The fixture specs follow the real distro styles (FIELD-NOTES §4), checked with packit's specfile."""

from pathlib import Path

import pytest
from specfile import Specfile

from qganb.errors import UnknownSpecStyle
from qganb.testbed import fixture_specs
from qganb.testbed.qemu_source import PatchInfo, PreparedSource

PATCHES = (
    PatchInfo("0001-doc.patch", "doc", "fixture#1 - doc", 1),
    PatchInfo("0002-log.patch", "log", "fixture#2 - log", 2),
    PatchInfo("0003-sig.patch", "sig", "fixture#5 - sig", 5),
)


def source(series: str = "7.2", version: str = "7.2.0", blacklist: bool = True, block: bool = True) -> PreparedSource:
    return PreparedSource(Path("/nonexistent"), version, series, "1:x", "0" * 64, blacklist, block, (), PATCHES)


def load(tmp_path: Path, style: str, src: PreparedSource) -> Specfile:
    path = tmp_path / "qemu-guest-agent.spec"
    path.write_text(fixture_specs.render_spec(fixture_specs.check_style(style), src))
    return Specfile(path, sourcedir=tmp_path, force_parse=True)


def test_el7_numbers_patches_with_gaps_and_applies_them_one_by_one(tmp_path: Path) -> None:
    spec = load(tmp_path, "el7", source())
    with spec.patches() as patches:
        assert [p.number for p in patches] == [1, 2, 5]
        assert [p.comments[0].text for p in patches] == ["For fixture#1 - doc", "For fixture#2 - log", "For fixture#5 - sig"]
    with spec.tags() as tags:
        assert tags.epoch.value == "10"
        assert tags.release.value == "3%{?dist}"
    with spec.sections() as sections:
        prep = [line for line in sections.prep if line.strip()]
    assert prep[0] == "%setup -q -n qemu-%{version}"
    assert prep[1:4] == ["%patch1 -p1", "%patch2 -p1", "%patch5 -p1"]
    assert len(prep) > 4, "el7 %prep goes on with more shell after the %patch lines"


def test_el9_uses_autopatch_and_four_digit_numbers(tmp_path: Path) -> None:
    spec = load(tmp_path, "el9", source())
    text = spec.path.read_text()
    assert "Patch0001: 0001-doc.patch" in text and "Patch0003: 0003-sig.patch" in text
    with spec.sections() as sections:
        prep = [line for line in sections.prep if line.strip()]
    assert prep == ["%setup -q -n %{tarball_dir}", "%autopatch -p1"]


def test_fedora_uses_autosetup_git_am_and_unnumbered_patches(tmp_path: Path) -> None:
    spec = load(tmp_path, "fedora", source("10.0", "10.0.13", blacklist=False))
    text = spec.path.read_text()
    assert [line for line in text.splitlines() if line.startswith("Patch")] == [
        "Patch: 0001-doc.patch", "Patch: 0002-log.patch", "Patch: 0003-sig.patch",
    ]
    with spec.sections() as sections:
        assert [line for line in sections.prep if line.strip()] == ["%autosetup -n qemu-%{version} -S git_am"]
    assert "--python=%{__python3}" in text, "QEMU 10 configure finds meson >= 1.5 through --python"


@pytest.mark.parametrize("series", ["5.2", "7.2", "10.0"])
def test_every_series_configures_a_qemu_ga_only_build(tmp_path: Path, series: str) -> None:
    text = fixture_specs.render_spec(fixture_specs.STYLES["el9"], source(series, series + ".0"))
    assert "--enable-guest-agent" in text and "--disable-system" in text
    assert "ninja -C build %{?_smp_mflags} qga/qemu-ga" in text


def test_unit_and_sysconfig_use_the_option_the_tree_has() -> None:
    old = source("5.2", "5.2.0", blacklist=True, block=False)
    new = source("10.0", "10.0.13", blacklist=False, block=True)
    el7_old = fixture_specs.render_sources(fixture_specs.STYLES["el7"], old)
    el7_new = fixture_specs.render_sources(fixture_specs.STYLES["el7"], new)
    assert b"--blacklist=${BLACKLIST_RPC}" in el7_old["qemu-guest-agent.service"]
    assert b"--block-rpcs=${BLACKLIST_RPC}" in el7_new["qemu-guest-agent.service"], "10.0 dropped --blacklist"
    assert el7_old["qemu-ga.sysconfig"].count(b"BLACKLIST_RPC=guest-file-open,") == 1
    fedora = fixture_specs.render_sources(fixture_specs.STYLES["fedora"], new)
    assert b'FILTER_RPC_ARGS="--block-rpcs=guest-file-open,' in fedora["qemu-ga.sysconfig"]
    assert b"  $FILTER_RPC_ARGS \\\n" in fedora["qemu-guest-agent.service"]
    assert "build_configure.sh" in el7_old and "build_configure.sh" not in fedora


def test_unknown_style_names_the_choices() -> None:
    with pytest.raises(UnknownSpecStyle, match="'el8' is unknown; choose one of el7, el9, fedora"):
        fixture_specs.check_style("el8")


def test_the_2_12_spec_is_centos_7s_own_make_build(tmp_path: Path) -> None:
    spec = load(tmp_path, "el7", source("2.12", "2.12.0"))
    with spec.tags() as tags:
        requires = [t.value for t in tags if t.name.lower() == "buildrequires"]
    assert requires == list(fixture_specs.EL7_MAKE_BUILDREQUIRES), "CentOS 7's list, gperftools-devel last"
    text = (tmp_path / "qemu-guest-agent.spec").read_text()
    assert "make -C build %{?_smp_mflags} V=1 qemu-ga" in text and "install -D -p -m 0755 build/qemu-ga " in text
    assert "%{?have_tcmalloc:--enable-tcmalloc}" in text and "--disable-capstone" in text
    assert "%doc README\n" in text and "ninja" not in text and "meson" not in text


def test_2_12_in_another_style_is_refused() -> None:
    with pytest.raises(UnknownSpecStyle, match="QEMU 2.12 is packaged in the el7 style only"):
        fixture_specs.render_spec(fixture_specs.STYLES["el9"], source("2.12", "2.12.0"))
