"""What rpmbuild needs on this build host beyond the spec itself.

Debian's rpm has no systemd macros and Debian 12's meson is too old for QEMU 10, so builds get
a macro file and a Python that carries meson 1.5. On a Fedora/EL host nothing extra is added.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from qganb import file_lock, paths
from qganb.errors import CommandFailed, ToolMissing
from qganb.process import captured, require_tool, run
from qganb.rpm import build_requires

MESON_VERSION = "1.5.0"
SYSTEM_PYTHON = "/usr/bin/python3"


def rpm_defines(macro: str) -> bool:
    """True when the host's rpm defines `macro`."""
    require_tool("rpm", "rpm")
    out = captured(["rpm", "--eval", f"%{{?{macro}:yes}}"], timeout=60)
    return out.stdout.strip() == "yes"


def host_macro_file() -> Path:
    return Path(str(resources.files("qganb.rpm").joinpath("debian-host.macros")))


def meson_python(log_path: Path | None = None) -> Path:
    """A Python interpreter that can import meson >= 1.5, made once in qganb's cache."""
    venv = paths.cache_dir() / "buildtools" / f"meson-{MESON_VERSION}"
    python = venv / "bin" / "python3"
    marker = venv / ".complete"
    if marker.is_file():
        return python
    # `venv --clear` under another process's build would pull its interpreter away: one maker at a time.
    with file_lock.held(venv.with_name(venv.name + ".lock")):
        if not marker.is_file():
            _make_meson_venv(venv, python, log_path)
            marker.touch()
    return python


def _make_meson_venv(venv: Path, python: Path, log_path: Path | None) -> None:
    base = SYSTEM_PYTHON if Path(SYSTEM_PYTHON).exists() else sys.executable
    try:
        run([base, "-m", "venv", "--clear", venv], log_path=log_path)
        run([python, "-m", "pip", "install", "--quiet", f"meson=={MESON_VERSION}", "pycotap"], log_path=log_path)
    except CommandFailed as exc:
        raise ToolMissing(
            f"could not create the meson {MESON_VERSION} build venv at {venv}",
            "QEMU 10 needs meson >= 1.5: make sure PyPI is reachable (or install meson >= 1.5 for "
            "/usr/bin/python3) and retry",
        ) from exc


def rpmbuild_host_args(topdir: Path, *, dist: str | None = None, log_path: Path | None = None) -> list[str]:
    """The rpmbuild options that make a distro-style qemu-guest-agent spec build on this host."""
    args = ["--define", f"_topdir {topdir}"]
    if dist is not None:
        args += ["--define", f"dist {dist}"]
    if not rpm_defines("_unitdir"):
        args += ["--load", str(host_macro_file())]
    if not rpm_defines("__python3"):
        # Specs configure QEMU >= 8.1 with --python=%{__python3}; that Python must carry meson.
        args += ["--define", f"__python3 {meson_python(log_path)}"]
    return args


def needs_nodeps() -> bool:
    """Debian's rpm database knows none of the host's packages, so rpm cannot check BuildRequires
    there (qganb checks them with dpkg instead, see build_requires). An EL/Fedora host's can."""
    family = build_requires.host_family()
    if family != "unknown":
        return family == "debian"
    # Neither: rpm can check only when its database knows the package that owns the shell.
    return captured(["rpm", "-q", "--whatprovides", "/bin/sh"], timeout=60).returncode != 0
