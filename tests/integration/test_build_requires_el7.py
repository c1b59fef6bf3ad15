"""CentOS 7's qemu-guest-agent 2.12 spec on this Debian host: its real BuildRequires mapped to Debian
packages, a real build with --enable-tcmalloc, and the same build with the tcmalloc library made
unavailable (bubblewrap binds /dev/null over it; no host package is removed), where configure stops
and qganb names the spec's entry and the Debian package.
"""

from __future__ import annotations

import glob
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from qganb.rpm import build_requires
from qganb.stages.pipeline import run_packaging
from qganb.stages.records import BuildRecord, PrepRecord
from qganb.stages.run_dir import RunDir
from qganb.testbed.fixture_srpm import build_fixture_srpm

pytestmark = pytest.mark.fixture_build
ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "guest-get-uptime.yaml"
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc*"


def _installed(package: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package], capture_output=True, text=True)
    return done.stdout == "installed"


def _without_tcmalloc(argv: list[str]) -> list[str]:
    """argv run where every libtcmalloc file reads as empty: the linker cannot use it, as on a
    host without libgoogle-perftools-dev. Everything else is the host, writable as usual."""
    masks = [arg for path in sorted(glob.glob(TCMALLOC)) for arg in ("--ro-bind", "/dev/null", path)]
    assert masks, "libgoogle-perftools-dev's libraries are not where Debian 12 puts them"
    # The temporary directory again after the new /dev: the suite's may be on /dev/shm.
    scratch = tempfile.gettempdir()
    return ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--bind", scratch, scratch, *masks,
            "--", *argv]


def test_el7_212_requirements_map_the_build_passes_and_without_tcmalloc_configure_names_gperftools(
        tmp_path: Path) -> None:
    assert _installed("libgoogle-perftools-dev"), "run scripts/bootstrap-host.sh: the el7 2.12 spec needs it"
    fixture = build_fixture_srpm("2.12", "el7")
    run_dir = RunDir(tmp_path / "run")
    said: list[str] = []
    packages = run_packaging(str(fixture.path), [RECIPE], run_dir, say=said.append)

    # The spec's own entries, as rpm reads them (gperftools-devel sits under %if have_tcmalloc).
    spec = run_dir.load(PrepRecord).spec
    check = build_requires.check_on_debian(build_requires.spec_build_requires(spec))
    assert [r.text for r in check.requirements] == [
        "glib2-devel", "gperftools-devel", "perl-podlators", "python", "systemd", "systemd-devel",
        "systemtap-sdt-devel", "texinfo", "zlib-devel"]
    assert check.satisfied["gperftools-devel"] == ("libgoogle-perftools-dev",)
    assert "gperftools-devel" not in check.missing and not check.unmapped
    assert not any("gperftools" in line or "perftools" in line for line in said), said

    log = Path(run_dir.load(BuildRecord).log).read_text()
    assert "--enable-tcmalloc" in log
    assert any(line.split() == ["tcmalloc", "support", "yes"] for line in log.splitlines()), \
        "configure found tcmalloc"
    binary = [p for p in packages if not p.path.name.endswith(".src.rpm")]
    assert binary and binary[0].nevra.endswith(".el7.qganb1.x86_64")

    # The same run, rebuilt through the CLI where the tcmalloc library is unusable.
    done = subprocess.run(_without_tcmalloc([sys.executable, "-m", "qganb", "package", "--srpm", str(fixture.path),
                                             "--recipe", str(RECIPE), "--run", str(run_dir.path)]),
                          capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert done.returncode == 1, done.stdout + done.stderr
    first = next(line for line in done.stderr.splitlines() if line.startswith("qganb: error:"))
    assert first.startswith("qganb: error: configure stopped on a missing build dependency "
                            "(the spec's BuildRequires: gperftools-devel): User requested feature tcmalloc: "
                            "configure was not able to find it (install gperftools devel)"), first
    assert "install libgoogle-perftools-dev: `apt-get install -y --no-install-recommends " \
           "libgoogle-perftools-dev`" in first
    assert "exit status: 1" in done.stderr and "command: rpmbuild -bb" in done.stderr
    assert binary[0].path.exists(), "the previous good RPMs are kept"


def test_without_the_flag_the_missing_ones_are_listed_with_the_apt_command(tmp_path: Path) -> None:
    """The el7 2.12 spec's `python` is python-is-python3 on Debian: when that is not installed, the
    build is told so, with the exact apt-get command, and nothing is installed."""
    if _installed("python-is-python3"):
        pytest.skip("python-is-python3 is installed here: the el7 2.12 spec has nothing missing")
    fixture = build_fixture_srpm("2.12", "el7")
    said: list[str] = []
    log = tmp_path / "build.log"
    check = build_requires.prepare_build_requires(fixture.path.parent / "qemu-guest-agent.spec", [],
                                                  install=False, log=log, say=said.append)
    assert check is not None and check.missing == {"python": ("python-is-python3",)}
    assert said[0].startswith("warning: BuildRequires missing on this Debian host")
    assert "  python: python-is-python3" in said
    assert ("  install them with: apt-get install -y --no-install-recommends python-is-python3  "
            "(or pass --install-builddeps)") in said
    assert log.read_text().splitlines() == said
    assert not _installed("python-is-python3")
    # The src.rpm's header carries the same entries (what a stock rebuild is checked against).
    assert [r.text for r in build_requires.srpm_build_requires(fixture.path)] == [
        r.text for r in check.requirements]
