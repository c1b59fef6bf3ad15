"""What a Debian guest image really supplies of an RPM's requirements, found in the image's own
files, and a Provides-only RPM that tells the guest's rpm database so.

Why: the rpm database of a Debian system knows none of Debian's packages. `rpm -i --nodeps`
ignores that, but dnf has no --nodeps: it resolves every requirement against the database and
refuses a package whose libc, glib or /bin/sh "is missing". An EL guest's database gets these
from glibc, glib2, bash and systemd. Here one small package stands in for them, and each of its
Provides is checked against the image first: a shared library's versions are what rpm's own
generator (elfdeps) reads from the very file dnf's package will load, a path must exist, a
capability must have its Debian package and files. A requirement the image cannot back makes the
build fail instead of being declared anyway, so dnf still refuses what this guest could not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from qganb.errors import TestbedError
from qganb.process import output_of, run

PACKAGE = "qganb-debian-provides"
ELFDEPS = "/usr/lib/rpm/elfdeps"
LIBRARY_DIRS = ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib64", "lib64", "usr/lib", "lib")
SONAME_DEPENDENCY = re.compile(r"(?P<soname>[^()\s]+\.so[^()\s]*)\([^()]*\)(\(64bit\))?")
# Requirements that name a capability, not a file: the Debian package that supplies it and the
# files that show it is there.
CAPABILITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    # EL7's name for "systemctl and the unit directory" (EL8 on fold it into systemd).
    "systemd-units": ("systemd", ("/usr/bin/systemctl", "/usr/lib/systemd/system")),
    "systemd": ("systemd", ("/usr/bin/systemctl", "/usr/lib/systemd/system")),
    # glibc's spec declares it: its loader reads DT_GNU_HASH (since glibc 2.5, checked below).
    "rtld(GNU_HASH)": ("libc6", ("/lib64/ld-linux-x86-64.so.2",)),
}
SAFE_NAME = re.compile(r"[A-Za-z0-9_.+/()=:,~-]+")


@dataclass(frozen=True)
class Provided:
    name: str  # the requirement, exactly as the RPM states it
    version: str | None  # for a capability: its Debian package's version, as an rpm EVR
    evidence: str  # where in the image it was found

    def spec_line(self) -> str:
        return f"Provides: {self.name}" + (f" = {self.version}" if self.version else "")


def _query(rpm: Path, tag: str) -> list[str]:
    return output_of(["rpm", "-qp", "--nosignature", "--qf", f"[%{{{tag}}}\\n]", rpm]).split()


def open_requirements(rpm: Path) -> list[str]:
    """The requirements of `rpm` that something on the guest must provide: not rpm's own
    features (rpmlib(...)), not what the package provides itself."""
    own = set(_query(rpm, "PROVIDENAME"))
    return sorted({r for r in _query(rpm, "REQUIRENAME") if not r.startswith("rpmlib(") and r not in own})


def in_image(root: Path, path: str) -> Path | None:
    """`path` as the guest sees it, with symlinks (absolute ones too) resolved inside `root`;
    None when it does not exist there."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            resolved = resolved[:-1]
            continue
        if part == ".":
            continue
        here = root.joinpath(*resolved, part)
        if here.is_symlink():
            hops += 1
            if hops > 40:
                return None
            target = str(here.readlink())
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        if not here.exists():
            return None
        resolved.append(part)
    return root.joinpath(*resolved)


def _library_provides(root: Path, soname: str) -> tuple[str, set[str]] | None:
    """What rpm's own generator says the image's `soname` file provides, and where it is."""
    for directory in LIBRARY_DIRS:
        where = f"/{directory}/{soname}"
        found = in_image(root, where)
        if found is not None and found.is_file():
            out = run([ELFDEPS, "--provides"], input_text=str(found) + "\n", timeout=60).output
            return where, set(out.split())
    return None


def debian_version(root: Path, package: str) -> str | None:
    """The installed version of a Debian package in the image, as an rpm EVR (epoch dropped)."""
    done = run(["dpkg-query", f"--admindir={root / 'var/lib/dpkg'}", "-W", "-f=${Version}", package],
               check=False, timeout=60)
    if not done.succeeded or not done.output.strip():
        return None
    return done.output.strip().rpartition(":")[2] if ":" in done.output else done.output.strip()


def find_provides(root: Path, rpms: list[Path]) -> list[Provided]:
    """One Provided for each open requirement of `rpms` that the image at `root` backs; a
    TestbedError naming those it does not."""
    wanted = sorted({r for rpm in rpms for r in open_requirements(rpm)})
    libraries: dict[str, tuple[str, set[str]] | None] = {}
    found: list[Provided] = []
    missing: list[str] = []
    for requirement in wanted:
        if not SAFE_NAME.fullmatch(requirement):
            missing.append(f"{requirement} (not a name qganb writes into a spec)")
        elif requirement.startswith("/"):
            if in_image(root, requirement) is not None:
                found.append(Provided(requirement, None, f"{requirement} exists"))
            else:
                missing.append(f"{requirement} (no such file)")
        elif (match := SONAME_DEPENDENCY.fullmatch(requirement)) is not None:
            soname = match.group("soname")
            if soname not in libraries:
                libraries[soname] = _library_provides(root, soname)
            library = libraries[soname]
            if library is not None and requirement in library[1]:
                found.append(Provided(requirement, None, f"elfdeps --provides {library[0]}"))
            else:
                missing.append(f"{requirement} ({'not provided by ' + library[0] if library else 'no ' + soname})")
        elif requirement in CAPABILITIES:
            package, files = CAPABILITIES[requirement]
            version = debian_version(root, package)
            absent = [f for f in files if in_image(root, f) is None]
            if requirement == "rtld(GNU_HASH)":
                libc = _library_provides(root, "libc.so.6")
                if libc is None or "libc.so.6(GLIBC_2.5)(64bit)" not in libc[1]:
                    absent.append("a glibc >= 2.5")
            if version is None or absent:
                missing.append(f"{requirement} ({'no Debian package ' + package if version is None else ''}"
                               f"{', '.join(absent)})")
            else:
                found.append(Provided(requirement, version, f"Debian {package} {version}: {', '.join(files)}"))
        else:
            missing.append(f"{requirement} (qganb does not know what supplies it on Debian)")
    if missing:
        raise TestbedError("the dnf guest image cannot back these requirements of the stock agent RPM: "
                           + "; ".join(missing),
                           "add the Debian package that supplies them to the image (or teach "
                           "qganb/testbed/system_provides.py where to find them)")
    return found


def provides_spec(provided: list[Provided], version: str) -> str:
    """A spec for a package with no files whose only content is `provided`."""
    return "\n".join([
        f"Name: {PACKAGE}",
        f"Version: {version}",
        "Release: 1",
        "Summary: What this Debian system supplies, declared to its rpm database for dnf",
        "License: MIT",
        "AutoReqProv: no",
        *(p.spec_line() for p in provided),
        "",
        "%description",
        "The rpm database of a Debian system knows none of Debian's packages. This package",
        "declares what the system really supplies (each item checked in the image by qganb),",
        "so that dnf can resolve an RPM's requirements without --nodeps.",
        "",
        "%files",
        "",
    ])


def release_provide(root: Path) -> Provided | None:
    """`system-release(releasever)`, the provide dnf reads $releasever from (as EL's *-release
    packages declare it), from the image's /etc/os-release; else dnf warns on every run that it
    cannot tell the release."""
    found = in_image(root, "/etc/os-release")
    if found is None:
        return None
    for line in found.read_text().splitlines():
        key, _, value = line.partition("=")
        value = value.strip().strip('"')
        if key == "VERSION_ID" and re.fullmatch(r"[0-9][0-9A-Za-z.]*", value):
            return Provided("system-release(releasever)", value, "VERSION_ID in /etc/os-release")
    return None


def build_provides_rpm(root: Path, rpms: list[Path], workdir: Path) -> tuple[Path, list[Provided]]:
    """The Provides-only RPM for the image at `root` and the RPMs it must take; built with rpmbuild."""
    provided = find_provides(root, rpms)
    if (release := release_provide(root)) is not None:
        provided.append(release)
    version_file = in_image(root, "/etc/debian_version")
    version = version_file.read_text().strip() if version_file is not None else "0"
    if not re.fullmatch(r"[0-9][0-9A-Za-z.]*", version):
        version = "0"  # testing/sid say e.g. "trixie/sid"
    spec = workdir / f"{PACKAGE}.spec"
    spec.write_text(provides_spec(provided, version))
    top = workdir / "rpmbuild"
    run(["rpmbuild", "-bb", "--define", f"_topdir {top}", spec], log_path=workdir / "rpmbuild.log", timeout=300)
    return next((top / "RPMS").rglob(f"{PACKAGE}-*.rpm")), provided
