"""Which of the rollout's builds a host gets: the one made from the same package it runs.

A fleet mixes distro releases (CentOS 7 runs 2.12.0-*.el7, RHEL 9 runs 9.x-*.el9): a build is for a
host when it has the same package name, the same upstream version and the same dist tag as the
package installed there. Among several, the newest (rpm's own comparison) wins.
"""

from __future__ import annotations

import re
from pathlib import Path

from qganb.errors import InstallError
from qganb.rpm.query import Nevra, nevra_of

DIST_TAG = re.compile(r"\.(el\d+|fc\d+|amzn\d+|module_el\d+)")


def dist_tag(release: str) -> str | None:
    """`3.el7.qganb1` -> `el7`, `2.el9_4` -> `el9`, `1.fc40` -> `fc40`; None without one."""
    found = DIST_TAG.search(release)
    return found.group(1).replace("module_", "") if found else None


def _newer(a: Nevra, b: Nevra) -> bool:
    import rpm  # the system's rpm bindings: rpm's own version comparison

    return int(rpm.labelCompare((a.epoch or "0", a.version, a.release), (b.epoch or "0", b.version, b.release))) > 0


def matching_build(installed: Nevra | None, builds: dict[Path, Nevra]) -> Path | None:
    """The build for a host that runs `installed` (None: the package is not there, so none)."""
    if installed is None:
        return None
    fitting = [(path, n) for path, n in builds.items() if n.name == installed.name and n.version == installed.version
               and dist_tag(n.release) == dist_tag(installed.release) and n.arch in (installed.arch, "noarch")]
    best: tuple[Path, Nevra] | None = None
    for path, n in fitting:
        if best is None or _newer(n, best[1]):
            best = (path, n)
    return best[0] if best else None


def describe(builds: dict[Path, Nevra]) -> str:
    return ", ".join(f"{n} ({dist_tag(n.release) or 'no dist tag'})" for n in builds.values())


def read_builds(rpms: list[Path], name: str = "qemu-guest-agent") -> dict[Path, Nevra]:
    """The rollout's binary RPMs by path; each must be a `name` binary package."""
    builds: dict[Path, Nevra] = {}
    for path in rpms:
        if not path.is_file():
            raise InstallError(f"--rpm {path}: no such file", "give the path of a built qemu-guest-agent RPM")
        package = nevra_of(path)
        if package.is_source or package.name != name:
            raise InstallError(f"--rpm {path} is {package}, not a binary {name} package",
                               f"give the {name} RPM the build stage made (runs/<run>/rpmbuild/RPMS/...)")
        builds[path.resolve()] = package
    if not builds:
        raise InstallError("the rollout has no build to install", "give --run DIR or one --rpm PATH per build")
    return builds
