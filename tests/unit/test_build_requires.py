"""BuildRequires on a Debian build host: the table against Debian 12's real package index, specs read
by the real rpmspec, dpkg's view of this host, and configure failures from real meson runs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from qganb.errors import CommandFailed, MissingBuildDependency, RpmQueryFailed
from qganb.rpm import build_requires as br
from qganb.rpm.build_requires import Capability


def _debian_12() -> bool:
    info = br.os_release()
    return info.get("ID") == "debian" and info.get("VERSION_ID") == "12"


needs_debian_12 = pytest.mark.skipif(not _debian_12(), reason="checks against Debian 12's package index")


def _write_spec(path: Path, build_requires: list[str]) -> Path:
    lines = ["Name: t", "Version: 1", "Release: 1", "Summary: t", "License: MIT"]
    lines += [f"BuildRequires: {entry}" for entry in build_requires]
    path.write_text("\n".join(lines + ["%description", "t", ""]))
    return path


def _dpkg_installed(package: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package], capture_output=True, text=True)
    return done.stdout == "installed"


@needs_debian_12
def test_every_table_entry_maps_to_packages_debian_12_has() -> None:
    packages = sorted({p for eq in br.DEBIAN_PACKAGES.values() for p in eq.packages})
    done = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages], capture_output=True, text=True)
    shown = {line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if line.startswith("Package:")}
    assert set(packages) - shown == set(), done.stderr
    assert len(br.DEBIAN_PACKAGES) >= 80
    # The entries without a package say why nothing is needed.
    assert all(eq.note for eq in br.DEBIAN_PACKAGES.values() if not eq.packages)


def test_the_centos7_set_maps_as_verified_in_the_field_notes() -> None:
    centos7 = ["zlib-devel", "glib2-devel", "systemd", "systemd-devel", "python", "systemtap-sdt-devel",
               "perl-podlators", "texinfo", "gperftools-devel"]
    mapped = {name: br.debian_equivalent(Capability(name)) for name in centos7}
    assert {name: eq.packages for name, eq in mapped.items() if eq} == {
        "zlib-devel": ("zlib1g-dev",), "glib2-devel": ("libglib2.0-dev",), "systemd": ("systemd",),
        "systemd-devel": ("libudev-dev",), "python": ("python-is-python3",),
        "systemtap-sdt-devel": ("systemtap-sdt-dev",), "perl-podlators": ("perl",), "texinfo": ("texinfo",),
        "gperftools-devel": ("libgoogle-perftools-dev",)}


def test_pkgconfig_names_resolve_through_the_package_that_ships_the_module() -> None:
    assert br.debian_equivalent(Capability("pkgconfig(glib-2.0)", ">=", "2.56")).packages == ("libglib2.0-dev",)
    assert br.debian_equivalent(Capability("pkgconfig(libseccomp)")).packages == ("libseccomp-dev",)
    assert br.debian_equivalent(Capability("pkgconfig(no-such-module)")) is None
    assert br.debian_equivalent(Capability("python27-devel")) is None


def test_rpmspec_output_is_read_plain_versioned_and_rich(tmp_path: Path) -> None:
    spec = _write_spec(tmp_path / "t.spec", [
        "gcc, make >= 4", "meson >= 0.61.3", "pkgconfig(glib-2.0) >= 2.56", "(python3-devel or python36-devel)",
        "(liburing-devel >= 0.3 if kernel-headers)", "((libseccomp-devel and libcap-ng-devel) or libselinux-devel)",
        "%{_bindir}/pod2man"])
    requirements = {r.text: r for r in br.spec_build_requires(spec)}
    assert set(requirements) == {
        "gcc", "make >= 4", "meson >= 0.61.3", "pkgconfig(glib-2.0) >= 2.56", "(python3-devel or python36-devel)",
        "(liburing-devel >= 0.3 if kernel-headers)", "((libseccomp-devel and libcap-ng-devel) or libselinux-devel)",
        "/usr/bin/pod2man"}, "rpm itself expanded the macro and split the comma list"
    assert requirements["meson >= 0.61.3"].choices == ((Capability("meson", ">=", "0.61.3"),),)
    assert requirements["pkgconfig(glib-2.0) >= 2.56"].choices == ((Capability("pkgconfig(glib-2.0)", ">=", "2.56"),),)
    assert requirements["(python3-devel or python36-devel)"].choices == (
        (Capability("python3-devel"),), (Capability("python36-devel"),))
    conditional = requirements["(liburing-devel >= 0.3 if kernel-headers)"]
    assert conditional.conditional and conditional.choices == ((Capability("liburing-devel", ">=", "0.3"),),)
    assert requirements["((libseccomp-devel and libcap-ng-devel) or libselinux-devel)"].choices == (
        (Capability("libseccomp-devel"), Capability("libcap-ng-devel")), (Capability("libselinux-devel"),))


def test_a_spec_rpmspec_cannot_read_is_an_error_in_rpms_words(tmp_path: Path) -> None:
    spec = tmp_path / "broken.spec"
    spec.write_text("Name: t\nVersion: 1\nRelease: 1\nSummary: t\nLicense: MIT\n%if\n")
    with pytest.raises(RpmQueryFailed, match=r"rpmspec cannot read the BuildRequires of broken.spec: error:"):
        br.spec_build_requires(spec)


def test_an_unbalanced_rich_entry_is_refused() -> None:
    with pytest.raises(RpmQueryFailed, match=r"cannot read the BuildRequires entry '\(gcc or'"):
        br.parse_requirement("(gcc or")


@needs_debian_12
def test_dpkg_says_what_is_missing_and_the_apt_command_installs_exactly_that(tmp_path: Path) -> None:
    absent = "libnfs-devel"
    assert not _dpkg_installed("libnfs-dev"), "this test needs a host without libnfs-dev"
    assert _dpkg_installed("gcc") and _dpkg_installed("libglib2.0-dev")
    spec = _write_spec(tmp_path / "t.spec", [
        "gcc", "pkgconfig(glib-2.0) >= 2.56", absent, "(libnfs-devel or glib2-devel)", "python27-devel",
        "systemd-rpm-macros", "meson >= 99.0", "/usr/bin/no-such-tool-qganb"])
    check = br.check_on_debian(br.spec_build_requires(spec))
    assert check.missing == {absent: ("libnfs-dev",)}
    assert check.missing_packages == ["libnfs-dev"]
    assert check.install_argv() == ["apt-get", "install", "-y", "--no-install-recommends", "libnfs-dev"]
    assert sorted(check.unmapped) == ["/usr/bin/no-such-tool-qganb", "python27-devel"]
    assert [(t.requirement, t.package) for t in check.too_old] == [("meson >= 99.0", "meson")]
    assert check.satisfied["(libnfs-devel or glib2-devel)"] == ("libglib2.0-dev",), "either choice will do"
    assert check.satisfied["systemd-rpm-macros"] == ()
    warning = "\n".join(check.warning_lines())
    assert "libnfs-devel: libnfs-dev" in warning
    assert "apt-get install -y --no-install-recommends libnfs-dev" in warning
    assert "cannot map to Debian packages (check them by hand): /usr/bin/no-such-tool-qganb, python27-devel" in warning


@needs_debian_12
def test_a_spec_whose_requirements_are_installed_gives_no_warning(tmp_path: Path) -> None:
    spec = _write_spec(tmp_path / "t.spec", ["gcc", "make", "glib2-devel", "meson >= 0.61.3", "ninja-build"])
    check = br.check_on_debian(br.spec_build_requires(spec))
    assert check.clean and check.warning_lines() == []


def test_versions_compare_on_the_upstream_part_of_debians() -> None:
    assert br.upstream_version("1:7.2+dfsg-7+deb12u18") == "7.2"
    assert br.upstream_version("1.0.1-5") == "1.0.1"
    assert br.version_satisfies("1.0.1-5", ">=", "0.61.3")
    assert not br.version_satisfies("1.0.1-5", ">=", "1.5.0")


def test_the_host_family_comes_from_os_release(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n')
    assert br.host_family(release) == "rpm"
    release.write_text("ID=fedora\nVERSION_ID=41\n")
    assert br.host_family(release) == "rpm"
    release.write_text("ID=ubuntu\nID_LIKE=debian\n")
    assert br.host_family(release) == "debian"
    assert br.host_family() == ("debian" if Path("/etc/debian_version").exists() else br.host_family())


# --- configure failures, from real meson runs --------------------------------------------------

def _meson_setup(project: Path, meson_build: str, *options: str) -> str:
    """meson's own output for a project that stops on a dependency (looked up with pkg-config only,
    as QEMU's meson.build does: a cmake lookup takes minutes on a loaded host)."""
    if shutil.which("meson") is None:
        pytest.skip("meson is not installed")
    project.mkdir()
    (project / "meson.build").write_text(meson_build)
    (project / "meson_options.txt").write_text("option('seccomp', type: 'feature', value: 'auto')\n")
    done = subprocess.run(["meson", "setup", str(project / "build"), *options], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stdout
    return done.stdout + done.stderr


def test_meson_dependency_not_found_names_the_spec_entry_and_debian_package(tmp_path: Path) -> None:
    assert not _dpkg_installed("libnfs-dev")
    said = _meson_setup(tmp_path / "p", "project('t', 'c')\n"
                        "opt = dependency('libcap-ng-qganb-absent', required: false, method: 'pkg-config')\n"
                        "nfs = dependency('libnfs', version: '>=1.9.3', method: 'pkg-config')\n")
    miss = br.configure_miss(said)
    assert miss is not None and (miss.kind, miss.name) == ("dependency", "libnfs")
    assert miss.message.startswith('Dependency "libnfs" not found')
    spec = _write_spec(tmp_path / "t.spec", ["gcc", "pkgconfig(libnfs) >= 1.9.3"])
    found = br.explain_miss(miss, br.spec_build_requires(spec))
    assert (found.rpm_name, found.spec_entry, found.debian) == ("libnfs-devel", "pkgconfig(libnfs) >= 1.9.3",
                                                                ("libnfs-dev",))


def test_meson_feature_enabled_without_its_library_is_recognised(tmp_path: Path) -> None:
    if _dpkg_installed("libseccomp-dev"):
        pytest.skip("libseccomp-dev is installed here, so meson finds it")
    said = _meson_setup(tmp_path / "p", "project('t', 'c')\n"
                        "dep = dependency('libseccomp', required: get_option('seccomp'), method: 'pkg-config')\n", "-Dseccomp=enabled")
    miss = br.configure_miss(said)
    assert miss is not None and miss.name == "libseccomp"
    found = br.explain_miss(miss, [br.parse_requirement("libseccomp-devel >= 2.3.0")])
    assert found.spec_entry == "libseccomp-devel >= 2.3.0" and found.debian == ("libseccomp-dev",)


def test_meson_version_too_low_is_recognised(tmp_path: Path) -> None:
    said = _meson_setup(tmp_path / "p", "project('t', 'c')\ndep = dependency('glib-2.0', version: '>=99.0', method: 'pkg-config')\n")
    miss = br.configure_miss(said)
    assert miss is not None and miss.name == "glib-2.0"
    found = br.explain_miss(miss, [br.parse_requirement("pkgconfig(glib-2.0) >= 99.0")])
    assert found.rpm_name == "glib2-devel" and found.spec_entry == "pkgconfig(glib-2.0) >= 99.0"


def test_a_meson_error_that_is_not_a_dependency_is_left_alone(tmp_path: Path) -> None:
    said = _meson_setup(tmp_path / "p", "project('t', 'c')\n"
                        "opt = dependency('libseccomp-qganb-absent', required: false, method: 'pkg-config')\n"
                        "error('the tree is not configured for this host')\n")
    assert "found: NO" in said
    assert br.configure_miss(said) is None


def test_the_error_names_the_entry_and_the_install_command(tmp_path: Path) -> None:
    said = _meson_setup(tmp_path / "p", "project('t', 'c')\nnfs = dependency('libnfs', method: 'pkg-config')\n")
    miss = br.configure_miss(said)
    assert miss is not None
    found = br.explain_miss(miss, [br.parse_requirement("libnfs-devel")])
    failure = CommandFailed(["rpmbuild", "-bb", "t.spec"], 1, said.splitlines()[-5:])
    error = MissingBuildDependency(failure, miss.message, found.spec_entry, found.rpm_name, list(found.debian),
                                   ["apt-get", "install", "-y", "--no-install-recommends", *found.debian])
    assert str(error).startswith("configure stopped on a missing build dependency (the spec's BuildRequires: "
                                 'libnfs-devel): Dependency "libnfs" not found')
    assert "install libnfs-dev: `apt-get install -y --no-install-recommends libnfs-dev`" in str(error)
    assert "exit status: 1" in error.details()


@pytest.mark.skipif(os.geteuid() != 0, reason="switches to the nobody user with setpriv")
def test_an_ordinary_user_gets_sudo_n_or_a_clear_error(tmp_path: Path) -> None:
    script = ("from qganb.rpm import build_requires as br\n"
              "from qganb.errors import BuildDepsNotInstallable\n"
              "try:\n"
              "    print(br.privileged(['apt-get', 'install', '-y', 'libnfs-dev'], 'build dependencies'))\n"
              "except BuildDepsNotInstallable as exc:\n"
              "    print('error:', exc)\n")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "env", f"PYTHONPATH={root}", "/usr/bin/python3", "-c", script],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    if shutil.which("sudo"):
        assert done.stdout.strip() == "['sudo', '-n', 'apt-get', 'install', '-y', 'libnfs-dev']"
    else:
        assert done.stdout.strip() == ("error: installing build dependencies needs root, and qganb runs as an "
                                       "ordinary user without sudo; run as root: apt-get install -y libnfs-dev")
    assert br.privileged(["apt-get", "install", "x"], "x") == ["apt-get", "install", "x"], "root runs it as is"


def test_a_library_capability_is_one_name() -> None:
    requirement = br.parse_requirement("libtcmalloc.so.4()(64bit)")
    assert [[c.name for c in choice] for choice in requirement.choices] == [["libtcmalloc.so.4()(64bit)"]]
