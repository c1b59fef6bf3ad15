"""A spec's BuildRequires on this build host: read by rpm, mapped to Debian packages, checked, installed.

On Debian, rpm's database is empty, so rpmbuild runs with --nodeps and a missing library only shows
up when configure stops. This module reads the BuildRequires the way rpmbuild sees them
(`rpmspec -q --buildrequires`), maps each name to the Debian packages that provide the same files,
asks dpkg which are installed, and installs the missing ones with apt-get when asked. On an EL or
Fedora host rpm checks BuildRequires itself and `dnf builddep` (or `yum-builddep`) installs them.
It also reads a failed configure's log for the dependency it stopped on.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qganb.errors import BuildDepsNotInstallable, CommandFailed, RpmQueryFailed
from qganb.process import LineSink, captured, require_tool, run


@dataclass(frozen=True)
class DebianEquivalent:
    """The Debian 12 packages that give a build what an rpm BuildRequires name gives it."""

    packages: tuple[str, ...]
    pkgconfig: tuple[str, ...] = ()  # pkg-config modules it ships (meson's dependency names)
    features: tuple[str, ...] = ()  # QEMU configure feature names (pre-meson "User requested feature X")
    note: str = ""


def _eq(*packages: str, pkgconfig: Sequence[str] = (), features: Sequence[str] = (),
        note: str = "") -> DebianEquivalent:
    return DebianEquivalent(tuple(packages), tuple(pkgconfig), tuple(features), note)


# rpm BuildRequires name -> Debian 12 packages. The names that qemu-guest-agent and qemu-kvm specs
# use on EL7, EL8, EL9 and Fedora; pkgconfig(...) names resolve through the `pkgconfig` column.
DEBIAN_PACKAGES: dict[str, DebianEquivalent] = {
    # compilers and build tools
    "gcc": _eq("gcc"),
    "gcc-c++": _eq("g++"),
    "make": _eq("make"),
    "meson": _eq("meson", note="Debian 12 has meson 1.0; qganb configures QEMU >= 8.1 with its own "
                 "meson 1.5 venv through %{__python3}"),
    "ninja-build": _eq("ninja-build"),
    "bison": _eq("bison"),
    "flex": _eq("flex"),
    "git": _eq("git"),
    "git-core": _eq("git"),
    "pkgconfig": _eq("pkgconf"),
    "pkgconf-pkg-config": _eq("pkgconf"),
    "pkgconf": _eq("pkgconf"),
    "binutils": _eq("binutils"),
    "diffutils": _eq("diffutils"),
    "findutils": _eq("findutils"),
    "tar": _eq("tar"),
    "gettext": _eq("gettext"),
    "glibc-devel": _eq("libc6-dev"),
    "glibc-static": _eq("libc6-dev"),
    "kernel-headers": _eq("linux-libc-dev"),
    "sparse": _eq("sparse", features=["sparse"]),
    "systemtap": _eq("systemtap"),
    "systemtap-sdt-devel": _eq("systemtap-sdt-dev"),
    "systemtap-sdt-dtrace": _eq("systemtap-sdt-dev"),
    # Python and Perl
    "python": _eq("python-is-python3", note="EL7's python is 2.7; QEMU 2.12's build runs under Python 3 too"),
    "python3": _eq("python3"),
    "python3-devel": _eq("python3-dev"),
    "python3-setuptools": _eq("python3-setuptools"),
    "python3-sphinx": _eq("python3-sphinx"),
    "python3-sphinx_rtd_theme": _eq("python3-sphinx-rtd-theme"),
    "python3-tomli": _eq("python3-tomli"),
    "perl": _eq("perl"),
    "perl-podlators": _eq("perl", note="pod2man and pod2text come with Debian's perl"),
    "perl-Test-Harness": _eq("perl"),
    "perl-generators": _eq(note="rpm's Perl dependency generators; nothing to install on Debian"),
    "texinfo": _eq("texinfo", features=["docs"]),
    # systemd: its rpm macros come from qganb's debian-host.macros
    "systemd": _eq("systemd"),
    "systemd-units": _eq("systemd"),
    "systemd-rpm-macros": _eq(note="qganb loads its own systemd macros (debian-host.macros) on Debian"),
    "systemd-devel": _eq("libudev-dev", pkgconfig=["libudev"],
                         note="qemu-ga uses the libudev part of systemd-devel"),
    "libudev-devel": _eq("libudev-dev", pkgconfig=["libudev"]),
    # libraries qemu-ga and its QEMU tree link
    "glib2-devel": _eq("libglib2.0-dev", pkgconfig=["glib-2.0", "gio-2.0", "gio-unix-2.0", "gobject-2.0",
                                                     "gthread-2.0", "gmodule-2.0", "gmodule-no-export-2.0"]),
    "zlib-devel": _eq("zlib1g-dev", pkgconfig=["zlib"]),
    "gperftools-devel": _eq("libgoogle-perftools-dev", pkgconfig=["libtcmalloc", "libtcmalloc_minimal", "libprofiler"],
                            features=["tcmalloc"]),
    "jemalloc-devel": _eq("libjemalloc-dev", pkgconfig=["jemalloc"], features=["jemalloc"]),
    "libattr-devel": _eq("libattr1-dev", features=["ATTR"]),
    "libcap-ng-devel": _eq("libcap-ng-dev", pkgconfig=["libcap-ng"], features=["cap_ng"]),
    "libseccomp-devel": _eq("libseccomp-dev", pkgconfig=["libseccomp"], features=["seccomp"]),
    "liburing-devel": _eq("liburing-dev", pkgconfig=["liburing"], features=["linux-io-uring"]),
    "libselinux-devel": _eq("libselinux1-dev", pkgconfig=["libselinux"]),
    "libblkid-devel": _eq("libblkid-dev", pkgconfig=["blkid"]),
    "libaio-devel": _eq("libaio-dev", features=["linux AIO"]),
    "numactl-devel": _eq("libnuma-dev", pkgconfig=["numa"], features=["numa"]),
    "libfdt-devel": _eq("libfdt-dev", pkgconfig=["libfdt"]),
    "pixman-devel": _eq("libpixman-1-dev", pkgconfig=["pixman-1"], features=["pixman"]),
    "gnutls-devel": _eq("libgnutls28-dev", pkgconfig=["gnutls"], features=["gnutls"]),
    "nettle-devel": _eq("nettle-dev", pkgconfig=["nettle", "hogweed"], features=["nettle"]),
    "libgcrypt-devel": _eq("libgcrypt20-dev", pkgconfig=["libgcrypt"], features=["gcrypt"]),
    "libtasn1-devel": _eq("libtasn1-6-dev", pkgconfig=["libtasn1"]),
    "libzstd-devel": _eq("libzstd-dev", pkgconfig=["libzstd"]),
    "lzo-devel": _eq("liblzo2-dev", features=["liblzo2"]),
    "snappy-devel": _eq("libsnappy-dev", features=["libsnappy"]),
    "bzip2-devel": _eq("libbz2-dev", features=["libbzip2"]),
    "libcurl-devel": _eq("libcurl4-gnutls-dev", pkgconfig=["libcurl"], features=["curl"]),
    "libssh-devel": _eq("libssh-dev", pkgconfig=["libssh"]),
    "libiscsi-devel": _eq("libiscsi-dev", pkgconfig=["libiscsi"], features=["libiscsi"]),
    "librbd-devel": _eq("librbd-dev", features=["rados block device"]),
    "libxml2-devel": _eq("libxml2-dev", pkgconfig=["libxml-2.0"], features=["libxml2"]),
    "xfsprogs-devel": _eq("xfslibs-dev", features=["xfs"]),
    "cyrus-sasl-devel": _eq("libsasl2-dev", features=["vnc-sasl"]),
    "libpng-devel": _eq("libpng-dev", pkgconfig=["libpng"], features=["vnc-png"]),
    "libjpeg-devel": _eq("libjpeg-dev", features=["vnc-jpeg"]),
    "ncurses-devel": _eq("libncurses-dev", pkgconfig=["ncursesw", "ncurses"], features=["curses"]),
    "libusbx-devel": _eq("libusb-1.0-0-dev", pkgconfig=["libusb-1.0"], features=["libusb"]),
    "usbredir-devel": _eq("libusbredirparser-dev", pkgconfig=["libusbredirparser-0.5"], features=["usb-redir"]),
    "spice-server-devel": _eq("libspice-server-dev", pkgconfig=["spice-server"]),
    "spice-protocol": _eq("libspice-protocol-dev", pkgconfig=["spice-protocol"]),
    "SDL2-devel": _eq("libsdl2-dev", pkgconfig=["sdl2"], features=["sdl"]),
    "gtk3-devel": _eq("libgtk-3-dev", pkgconfig=["gtk+-3.0"], features=["gtk"]),
    "libxkbcommon-devel": _eq("libxkbcommon-dev", pkgconfig=["xkbcommon"], features=["xkbcommon"]),
    "alsa-lib-devel": _eq("libasound2-dev", pkgconfig=["alsa"]),
    "pulseaudio-libs-devel": _eq("libpulse-dev", pkgconfig=["libpulse"]),
    "libepoxy-devel": _eq("libepoxy-dev", pkgconfig=["epoxy"]),
    "libdrm-devel": _eq("libdrm-dev", pkgconfig=["libdrm"]),
    "mesa-libgbm-devel": _eq("libgbm-dev", pkgconfig=["gbm"]),
    "virglrenderer-devel": _eq("libvirglrenderer-dev", pkgconfig=["virglrenderer"]),
    "libcacard-devel": _eq("libcacard-dev", pkgconfig=["libcacard"], features=["smartcard"]),
    "capstone-devel": _eq("libcapstone-dev", pkgconfig=["capstone"], features=["capstone"]),
    "libslirp-devel": _eq("libslirp-dev", pkgconfig=["slirp"]),
    "libbpf-devel": _eq("libbpf-dev", pkgconfig=["libbpf"]),
    "fuse3-devel": _eq("libfuse3-dev", pkgconfig=["fuse3"]),
    "daxctl-devel": _eq("libdaxctl-dev", pkgconfig=["libdaxctl"]),
    "rdma-core-devel": _eq("libibverbs-dev", "librdmacm-dev"),
    "libpmem-devel": _eq("libpmem-dev", pkgconfig=["libpmem"]),
    "keyutils-libs-devel": _eq("libkeyutils-dev"),
    "libcap-devel": _eq("libcap-dev", pkgconfig=["libcap"]),
    "dbus-daemon": _eq("dbus-daemon"),
    "libnfs-devel": _eq("libnfs-dev", pkgconfig=["libnfs"], features=["libnfs"]),
}

# pkg-config module -> the rpm name whose Debian equivalent ships it.
PKGCONFIG_OWNERS: dict[str, str] = {module: name for name, eq in DEBIAN_PACKAGES.items() for module in eq.pkgconfig}
FEATURE_OWNERS: dict[str, str] = {feature: name for name, eq in DEBIAN_PACKAGES.items() for feature in eq.features}


# --- what the spec asks for -----------------------------------------------------------------------

@dataclass(frozen=True)
class Capability:
    """One rpm dependency atom: `meson >= 0.61.3`, `pkgconfig(glib-2.0)`, `/usr/bin/pod2man`."""

    name: str
    operator: str = ""
    version: str = ""

    def __str__(self) -> str:
        return f"{self.name} {self.operator} {self.version}" if self.operator else self.name


@dataclass(frozen=True)
class Requirement:
    """One BuildRequires entry as rpm prints it. `choices` is its disjunctive form: any one choice
    satisfies it, and a choice needs every capability in it. `conditional` marks an `if`/`unless`
    entry, taken here as if its condition held."""

    text: str
    choices: tuple[tuple[Capability, ...], ...]
    conditional: bool = False


_TOKEN = re.compile(r"\(|\)|[^\s()]+(?:\([^\s()]*\))*")  # libtcmalloc.so.4()(64bit) is one name
_OPERATORS = {"<", "<=", "=", ">=", ">", "=="}
_BOOLEAN = {"and", "or", "if", "unless", "else", "with", "without"}


class _RichParser:
    def __init__(self, text: str) -> None:
        self.tokens = _TOKEN.findall(text)
        self.at = 0
        self.conditional = False

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end")
        self.at += 1
        return token

    def term(self) -> list[list[Capability]]:
        token = self.take()
        if token == "(":
            inner = self.expression()
            if self.take() != ")":
                raise ValueError("expected )")
            return inner
        if token in _BOOLEAN or token == ")":
            raise ValueError(f"unexpected {token!r}")
        if self.peek() in _OPERATORS:
            operator = self.take()
            return [[Capability(token, ">=" if operator == "==" else operator, self.take())]]
        return [[Capability(token)]]

    def expression(self) -> list[list[Capability]]:
        left = self.term()
        while self.peek() in _BOOLEAN:
            op = self.take()
            right = self.term()
            if op == "or":
                left = left + right
            elif op in ("and", "with"):
                left = [a + b for a in left for b in right]
            elif op in ("if", "unless"):
                # `A if B [else C]`: A when B holds; Debian cannot say, so A is asked for (or C).
                self.conditional = True
                if self.peek() == "else":
                    self.take()
                    left = left + self.term()
            # `A without B`: A is what must be installed
        return left


def parse_requirement(text: str) -> Requirement:
    """A BuildRequires line as `rpmspec -q --buildrequires` prints it, plain or rich."""
    parser = _RichParser(text.strip())
    try:
        choices = parser.expression()
        if parser.peek() is not None:
            raise ValueError(f"unexpected {parser.peek()!r}")
    except ValueError as exc:
        raise RpmQueryFailed(f"cannot read the BuildRequires entry {text!r}: {exc}",
                             "report the spec line; qganb reads plain, versioned and rich (and/or/if) entries") from exc
    return Requirement(text.strip(), tuple(tuple(choice) for choice in choices), parser.conditional)


def parse_buildrequires_output(output: str) -> list[Requirement]:
    return [parse_requirement(line) for line in output.splitlines() if line.strip()]


def spec_build_requires(spec: Path, rpm_args: Sequence[str] = ()) -> list[Requirement]:
    """The spec's BuildRequires as rpm evaluates them with `rpm_args` (the build's --define/--load)."""
    require_tool("rpmspec", "rpm")
    done = captured(["rpmspec", "-q", "--buildrequires", *rpm_args, spec], timeout=120)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        raise RpmQueryFailed(f"rpmspec cannot read the BuildRequires of {spec.name}: "
                             + (errors[0] if errors else done.stderr.strip()[-200:]),
                             "check the spec with `rpmspec -P`")
    return parse_buildrequires_output(done.stdout)


def srpm_build_requires(srpm: Path) -> list[Requirement]:
    """A src.rpm's BuildRequires, as its header records them (rpm's own rpmlib() entries left out)."""
    require_tool("rpm", "rpm")
    done = captured(["rpm", "-qp", "--requires", srpm], timeout=120)
    if done.returncode != 0:
        raise RpmQueryFailed(f"rpm cannot read the BuildRequires of {srpm.name}: {done.stderr.strip()[-200:]}",
                             "check that the src.rpm is intact")
    return [r for r in parse_buildrequires_output(done.stdout) if not r.text.startswith("rpmlib(")]


# --- the build host -------------------------------------------------------------------------------

def os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def host_family(path: Path = Path("/etc/os-release")) -> str:
    """"debian", "rpm" (EL, Fedora and their kin) or "unknown", from os-release's ID and ID_LIKE."""
    info = os_release(path)
    ids = {info.get("ID", ""), *info.get("ID_LIKE", "").split()}
    if ids & {"debian", "ubuntu"}:
        return "debian"
    if ids & {"fedora", "rhel", "centos", "rocky", "almalinux", "ol", "amzn", "suse", "opensuse"}:
        return "rpm"
    if Path("/etc/debian_version").exists():
        return "debian"
    if Path("/etc/redhat-release").exists():
        return "rpm"
    return "unknown"


def privileged(argv: list[str], what: str) -> list[str]:
    """argv as root: itself when qganb runs as root, else behind `sudo -n` (never a password prompt)."""
    if os.geteuid() == 0:
        return argv
    if shutil.which("sudo") is None:
        raise BuildDepsNotInstallable(f"installing {what} needs root, and qganb runs as an ordinary user "
                                      "without sudo", f"run as root: {shlex.join(argv)}")
    return ["sudo", "-n", *argv]


# --- Debian: map, check, install --------------------------------------------------------------------

def debian_equivalent(capability: Capability) -> DebianEquivalent | None:
    """The Debian packages for one capability; None when qganb's table does not know it."""
    if capability.name in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[capability.name]
    match = re.fullmatch(r"pkgconfig\((.+)\)", capability.name)
    if match and match.group(1) in PKGCONFIG_OWNERS:
        return DEBIAN_PACKAGES[PKGCONFIG_OWNERS[match.group(1)]]
    return None


def installed_debian_versions(packages: Sequence[str]) -> dict[str, str]:
    """Installed version of each of `packages` that dpkg knows as installed."""
    if not packages:
        return {}
    require_tool("dpkg-query", "dpkg")
    # dpkg-query exits 1 when some name is unknown, and still prints the others.
    done = captured(["dpkg-query", "-W", "-f=${Package}\t${db:Status-Status}\t${Version}\n", *packages])
    versions: dict[str, str] = {}
    for line in done.stdout.splitlines():
        name, status, version = (line.split("\t") + ["", ""])[:3]
        if status == "installed":
            versions[name.split(":")[0]] = version
    return versions


def upstream_version(debian_version: str) -> str:
    """`1:7.2+dfsg-7+deb12u18` -> `7.2`: the part an rpm constraint can be compared with."""
    version = debian_version.split(":", 1)[-1]
    version = version.rsplit("-", 1)[0] if "-" in version else version
    return re.split(r"[+~]", version)[0]


def version_satisfies(installed: str, operator: str, wanted: str) -> bool:
    """dpkg's comparison of an installed Debian version's upstream part with an rpm constraint."""
    relation = {">=": "ge", ">": "gt", "=": "eq", "<=": "le", "<": "lt"}[operator]
    done = captured(["dpkg", "--compare-versions", upstream_version(installed), relation, wanted])
    return done.returncode == 0


def _pkgconfig_has(capability: Capability) -> bool:
    """Whether the host's pkg-config finds a pkgconfig(...) capability (at the asked version)."""
    match = re.fullmatch(r"pkgconfig\((.+)\)", capability.name)
    if match is None or shutil.which("pkg-config") is None:
        return False
    argv = ["pkg-config", "--exists", match.group(1)]
    if capability.operator in (">=", ">"):
        argv = ["pkg-config", f"--atleast-version={capability.version}", match.group(1)]
    return captured(argv).returncode == 0


@dataclass(frozen=True)
class TooOld:
    requirement: str
    package: str
    installed: str
    note: str = ""


@dataclass
class DebianCheck:
    """What a spec's BuildRequires need on this Debian host, and what is missing."""

    requirements: list[Requirement]
    satisfied: dict[str, tuple[str, ...]] = field(default_factory=dict)  # entry -> Debian packages (or a note)
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)  # entry -> Debian packages to install
    unmapped: list[str] = field(default_factory=list)  # entries qganb cannot map
    too_old: list[TooOld] = field(default_factory=list)

    @property
    def missing_packages(self) -> list[str]:
        return sorted({p for packages in self.missing.values() for p in packages})

    def install_argv(self) -> list[str]:
        """The apt-get command that installs every missing mapped package (without sudo)."""
        return ["apt-get", "install", "-y", "--no-install-recommends", *self.missing_packages]

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unmapped or self.too_old)

    def warning_lines(self) -> list[str]:
        """What to tell the operator before the build (nothing when every entry is on the host)."""
        lines: list[str] = []
        if self.missing:
            lines.append("warning: BuildRequires missing on this Debian host (rpmbuild runs with --nodeps, so "
                         "configure may stop on them):")
            lines += [f"  {entry}: {' '.join(packages)}" for entry, packages in self.missing.items()]
            lines.append(f"  install them with: {shlex.join(self.install_argv())}  (or pass --install-builddeps)")
        if self.too_old:
            lines.append("warning: BuildRequires installed at a lower version than the spec asks:")
            lines += [f"  {t.requirement}: {t.package} {t.installed}" + (f" ({t.note})" if t.note else "")
                      for t in self.too_old]
        if self.unmapped:
            lines.append("warning: BuildRequires qganb cannot map to Debian packages (check them by hand): "
                         + ", ".join(self.unmapped))
        return lines


def _debian_packages_of(choice: Sequence[Capability]) -> tuple[str, ...] | None:
    packages: list[str] = []
    for capability in choice:
        if capability.name.startswith("/"):
            continue  # a file: present or not, there is no package to name
        equivalent = debian_equivalent(capability)
        if equivalent is None:
            return None
        packages += [p for p in equivalent.packages if p not in packages]
    return tuple(packages)


def check_on_debian(requirements: Sequence[Requirement]) -> DebianCheck:
    """Map every BuildRequires entry and ask dpkg which of the Debian packages are installed."""
    check = DebianCheck(list(requirements))
    every = sorted({p for r in requirements for c in r.choices if (ps := _debian_packages_of(c)) for p in ps})
    installed = installed_debian_versions(every)
    for requirement in requirements:
        mapped: list[tuple[tuple[Capability, ...], tuple[str, ...]]] = []
        done = False
        for choice in requirement.choices:
            packages = _debian_packages_of(choice)
            files_there = all(Path(c.name).exists() for c in choice if c.name.startswith("/"))
            if packages is None:
                if files_there and all(_pkgconfig_has(c) for c in choice if not c.name.startswith("/")
                                       and debian_equivalent(c) is None):
                    check.satisfied[requirement.text] = ("found by pkg-config",)
                    done = True
                    break
                continue
            if files_there and all(p in installed for p in packages):
                check.satisfied[requirement.text] = packages
                for capability in choice:
                    _note_version(check, requirement, capability, installed)
                done = True
                break
            if files_there:
                mapped.append((choice, packages))
        if done:
            continue
        if mapped:
            check.missing[requirement.text] = tuple(p for p in mapped[0][1] if p not in installed)
        else:
            check.unmapped.append(requirement.text)
    return check


def _note_version(check: DebianCheck, requirement: Requirement, capability: Capability,
                  installed: dict[str, str]) -> None:
    if capability.operator not in (">=", ">"):
        return  # only minimum versions are checked: Debian's version strings are not rpm's
    equivalent = debian_equivalent(capability)
    if equivalent is None or not equivalent.packages:
        return
    package = equivalent.packages[0]
    if not version_satisfies(installed[package], capability.operator, capability.version):
        check.too_old.append(TooOld(requirement.text, package, installed[package], equivalent.note))


def install_on_debian(check: DebianCheck, *, log: Path | None = None, on_line: LineSink | None = None) -> None:
    """apt-get install the missing mapped packages, as root or through `sudo -n`."""
    if not check.missing_packages:
        return
    require_tool("apt-get", "apt")
    # sudo resets the environment: the frontend setting goes on the command line through env(1).
    argv = privileged(["env", "DEBIAN_FRONTEND=noninteractive", *check.install_argv()], "build dependencies")
    try:
        run(argv, env={"DEBIAN_FRONTEND": "noninteractive"}, log_path=log, on_line=on_line, timeout=1800)
    except CommandFailed as exc:
        raise BuildDepsNotInstallable(
            f"apt-get could not install the missing build dependencies ({', '.join(check.missing_packages)})",
            "read apt's message above; a stale package list needs `apt-get update` first, and `sudo -n` "
            "needs a sudoers rule without a password") from exc


# --- EL / Fedora: dnf builddep --------------------------------------------------------------------

def builddep_argv(spec: Path, rpm_args: Sequence[str] = ()) -> list[str]:
    """`dnf builddep` of the spec (or `yum-builddep` where there is no dnf), with rpm's defines."""
    defines = [a for pair in zip(rpm_args[::2], rpm_args[1::2]) if pair[0] == "--define" for a in pair]
    if shutil.which("dnf"):
        return ["dnf", "builddep", "-y", *defines, str(spec)]
    if shutil.which("yum-builddep"):
        return ["yum-builddep", "-y", *defines, str(spec)]
    raise BuildDepsNotInstallable("neither `dnf builddep` nor `yum-builddep` is available on this host",
                                  "install dnf-plugins-core (or yum-utils on EL7), or install the "
                                  "BuildRequires by hand")


def install_with_builddep(spec: Path, rpm_args: Sequence[str] = (), *, log: Path | None = None,
                          on_line: LineSink | None = None) -> None:
    argv = privileged(builddep_argv(spec, rpm_args), "build dependencies")
    try:
        run(argv, log_path=log, on_line=on_line, timeout=1800)
    except CommandFailed as exc:
        raise BuildDepsNotInstallable(f"`{shlex.join(argv)}` failed",
                                      "read its message above: an unreachable repository or a name no "
                                      "enabled repository provides (EL: enable CRB/PowerTools or EPEL)") from exc


def prepare_build_requires(spec: Path, rpm_args: Sequence[str], *, install: bool, log: Path | None = None,
                           on_line: LineSink | None = None, say: LineSink | None = None) -> DebianCheck | None:
    """Before a build: on Debian, check (and with `install`, apt-get install) the spec's mapped
    BuildRequires and tell `say` what is still missing; on an rpm host with `install`, dnf builddep.
    Returns the Debian check, or None on an rpm host."""
    family = host_family()
    if family == "rpm":
        if install:
            install_with_builddep(spec, rpm_args, log=log, on_line=on_line)
        return None
    if family != "debian":
        return None
    check = check_on_debian(spec_build_requires(spec, rpm_args))
    if install and check.missing:
        if say is not None:
            say("installing missing build dependencies: " + " ".join(check.missing_packages))
        install_on_debian(check, log=log, on_line=on_line)
        check = check_on_debian(check.requirements)
    for line in check.warning_lines():
        if say is not None:
            say(line)
        if log is not None:
            with log.open("a", encoding="utf-8") as stream:
                stream.write(line + "\n")
    return check


# --- a configure that stopped on a missing dependency -------------------------------------------

@dataclass(frozen=True)
class ConfigureMiss:
    """What configure (QEMU's own script, or meson) said it could not find."""

    kind: str  # "feature" (QEMU <= 5.1 configure) or "dependency" (meson, a pkg-config name)
    name: str
    message: str  # configure's own words, one line


_FEATURE = re.compile(r"ERROR: User requested feature (.+?)\n\s+configure was not able to find it\.\n\s+(.+)")
_NOT_PRESENT = re.compile(r"ERROR: (\S+) (?:>= \S+ )?not present\.\n\s+(.+)")
_GLIB_REQUIRED = re.compile(r"ERROR: glib-[\d.]+ gthread-2\.0 is required to compile QEMU")  # 2.12 .. 5.1
_MESON_ERROR = re.compile(r'ERROR: Dependency "([^"]+)" not found(.*)')
_MESON_LOOKUP = re.compile(r"ERROR: Dependency lookup for (\S+) with method .*")
_MESON_NO = re.compile(r"(?:Run-time|Build-time) dependency (\S+) found: NO(.*)")


def configure_miss(log_text: str) -> ConfigureMiss | None:
    """The dependency a failed configure stopped on, read from its output; None when it was something else."""
    match = _FEATURE.search(log_text)
    if match:
        return ConfigureMiss("feature", match.group(1).strip(),
                             f"User requested feature {match.group(1).strip()}: configure was not able to "
                             f"find it ({match.group(2).strip()})")
    match = _GLIB_REQUIRED.search(log_text)
    if match:
        return ConfigureMiss("dependency", "glib-2.0", match.group(0).replace("ERROR: ", ""))
    match = _NOT_PRESENT.search(log_text)
    if match:
        return ConfigureMiss("feature", match.group(1), " ".join(match.group(0).replace("ERROR: ", "").split()))
    errors = list(_MESON_ERROR.finditer(log_text))
    if errors:
        last = errors[-1]
        return ConfigureMiss("dependency", last.group(1), f'Dependency "{last.group(1)}" not found{last.group(2)}')
    lookups = list(_MESON_LOOKUP.finditer(log_text))
    if lookups:
        last = lookups[-1]
        return ConfigureMiss("dependency", last.group(1), last.group(0).strip())
    # Other meson errors name the dependency in their own words: tie them to its "found: NO" line.
    error = list(re.finditer(r"^(?:\S+: )?ERROR: (.+)$", log_text, re.M))
    if error:
        said = error[-1].group(1)
        for found in reversed(list(_MESON_NO.finditer(log_text))):
            if re.search(rf"(?<![\w-]){re.escape(found.group(1))}(?![\w-])", said):
                return ConfigureMiss("dependency", found.group(1), f"{found.group(0).strip()}: {said.strip()}")
    return None


@dataclass(frozen=True)
class MissingDependency:
    """A configure miss tied to the spec's BuildRequires entry and the package that provides it."""

    miss: ConfigureMiss
    rpm_name: str | None  # the BuildRequires name that provides it (None: qganb does not know)
    spec_entry: str | None  # the spec's own entry for it, when the spec declares one
    debian: tuple[str, ...]


def _rpm_name_of(miss: ConfigureMiss) -> str | None:
    if miss.kind == "dependency":
        return PKGCONFIG_OWNERS.get(miss.name)
    if miss.name in FEATURE_OWNERS:
        return FEATURE_OWNERS[miss.name]
    # "Install gperftools devel" -> gperftools-devel, when the table knows that name
    remedy = re.search(r"\binstall (?:the )?(\S+?)[ -]devel\b", miss.message, re.I)
    if remedy and f"{remedy.group(1)}-devel" in DEBIAN_PACKAGES:
        return f"{remedy.group(1)}-devel"
    return None


def explain_miss(miss: ConfigureMiss, requirements: Sequence[Requirement]) -> MissingDependency:
    rpm_name = _rpm_name_of(miss)
    entry = None
    for requirement in requirements:
        names = {c.name for choice in requirement.choices for c in choice}
        wanted = {rpm_name} if rpm_name else set()
        if miss.kind == "dependency":
            wanted.add(f"pkgconfig({miss.name})")
        if names & wanted:
            entry = requirement.text
            break
    equivalent = DEBIAN_PACKAGES.get(rpm_name) if rpm_name else None
    if equivalent is None and miss.kind == "dependency" and entry is not None:
        equivalent = debian_equivalent(Capability(f"pkgconfig({miss.name})"))
    return MissingDependency(miss, rpm_name, entry, equivalent.packages if equivalent else ())
