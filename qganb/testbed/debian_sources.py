"""Fetches upstream QEMU tarballs from Debian source packages through a private apt configuration.

Debian's `qemu` source packages carry upstream QEMU as their `orig` tarball. apt is pointed at
files under qganb's cache (sources list, lists, archives), so the host's apt sources are never
edited and nothing here needs the host's `deb-src` lines.
"""

from __future__ import annotations

import functools
import getpass
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qganb.digests import sha256_of
from qganb.errors import CommandFailed, SourceDownloadFailed, UnknownQemuVersion
from qganb.process import captured, output_of, require_tool, run
from qganb.testbed.catalog import SERIES_SUITES

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

def check_series(series: str) -> str:
    if series not in SERIES_SUITES:
        raise UnknownQemuVersion(
            f"QEMU {series!r} has no fixture source",
            f"choose one of {', '.join(SERIES_SUITES)} (the versions Debian's source packages carry)",
        )
    return series


@dataclass(frozen=True)
class OrigTarball:
    """The upstream tarball of one Debian `qemu` source package."""

    series: str
    source_version: str  # e.g. 1:7.2+dfsg-7+deb12u18
    filename: str  # e.g. qemu_7.2+dfsg.orig.tar.xz
    sha256: str
    size: int


def upstream_of(source_version: str) -> str:
    """`1:7.2+dfsg-7+deb12u18` -> `7.2`; `1:10.0.13+ds-0+deb13u1` -> `10.0.13`."""
    no_epoch = source_version.split(":", 1)[-1]
    no_revision = no_epoch.rsplit("-", 1)[0]
    return re.split(r"[+~]", no_revision, maxsplit=1)[0]


def in_series(source_version: str, series: str) -> bool:
    upstream = upstream_of(source_version)
    return upstream == series or upstream.startswith(series + ".")


def parse_showsrc(text: str) -> list[OrigTarball]:
    """Every (version, orig tarball) pair in `apt-cache showsrc qemu` output."""
    found: list[OrigTarball] = []
    for paragraph in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        current = None
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t") and current:
                fields[current] += "\n" + line.strip()
            elif ":" in line:
                current, _, value = line.partition(":")
                fields[current] = value.strip()
        if fields.get("Package") != "qemu" or "Version" not in fields:
            continue
        for entry in fields.get("Checksums-Sha256", "").splitlines():
            parts = entry.split()
            if len(parts) == 3 and re.fullmatch(r"qemu_.+\.orig\.tar\.(xz|bz2|gz)", parts[2]):
                found.append(OrigTarball("", fields["Version"], parts[2], parts[0], int(parts[1])))
    return found


def compare_debian_versions(a: str, b: str) -> int:
    """dpkg's own ordering, so epochs and `~` sort the way apt sorts them."""
    if a == b:
        return 0
    less = captured(["dpkg", "--compare-versions", a, "lt", b], timeout=30).returncode == 0
    return -1 if less else 1


def newest_in_series(candidates: list[OrigTarball], series: str) -> OrigTarball | None:
    matching = [c for c in candidates if in_series(c.source_version, series)]
    if not matching:
        return None
    def newer(x: OrigTarball, y: OrigTarball) -> int:
        return compare_debian_versions(x.source_version, y.source_version)

    best = max(matching, key=functools.cmp_to_key(newer))
    return OrigTarball(series, best.source_version, best.filename, best.sha256, best.size)


class PrivateApt:
    """apt-get/apt-cache with every state and cache path redirected under `root`."""

    def __init__(self, root: Path, mirror: str | None = None, security_mirror: str | None = None) -> None:
        self.root = root
        self.mirror = mirror or os.environ.get("QGANB_DEBIAN_MIRROR", DEFAULT_MIRROR)
        self.security_mirror = security_mirror or os.environ.get(
            "QGANB_DEBIAN_SECURITY_MIRROR", DEFAULT_SECURITY_MIRROR
        )
        self.sources_list = root / "sources.list"
        self.lists = root / "lists"
        self.archives = root / "archives"
        self.orig_dir = root / "orig"

    def options(self) -> list[str]:
        return [
            "-o", f"Dir::Etc::SourceList={self.sources_list}",
            "-o", f"Dir::Etc::SourceParts={self.root / 'sources.list.d'}",
            "-o", f"Dir::State::Lists={self.lists}",
            "-o", f"Dir::Cache={self.archives}",
            # Downloads land in qganb's cache, which apt's unprivileged `_apt` user cannot write.
            "-o", f"APT::Sandbox::User={getpass.getuser()}",
        ]

    def sources_text(self) -> str:
        lines = ["# Written by qganb: deb-src entries for the QEMU fixture sources only."]
        for series, suites in SERIES_SUITES.items():
            for archive, suite in suites:
                uri = self.security_mirror if archive == "security" else self.mirror
                lines.append(f"deb-src [signed-by={KEYRING}] {uri} {suite} main  # QEMU {series}")
        return "\n".join(lines) + "\n"

    def write_config(self) -> bool:
        """Write the private sources list; True when it changed (so the lists are stale)."""
        for d in (self.root / "sources.list.d", self.lists / "partial", self.archives / "archives" / "partial", self.orig_dir):
            d.mkdir(parents=True, exist_ok=True)
        text = self.sources_text()
        if self.sources_list.is_file() and self.sources_list.read_text() == text:
            return False
        self.sources_list.write_text(text)
        return True

    def has_lists(self) -> bool:
        return any(self.lists.glob("*_Sources*"))

    def update(self) -> None:
        require_tool("apt-get", "apt")
        try:
            run(
                ["apt-get", *self.options(), "--error-on=any", "-q", "update"],
                log_path=self.root / "apt-update.log",
            )
        except CommandFailed as exc:
            raise SourceDownloadFailed(
                f"apt could not read the Debian source indexes from {self.mirror}"
                f" (last line: {exc.tail[-1] if exc.tail else 'none'})",
                "check that the mirror is reachable or set QGANB_DEBIAN_MIRROR to one that is, then retry",
            ) from exc

    def showsrc(self) -> str:
        try:
            return output_of(["apt-cache", *self.options(), "showsrc", "qemu"])
        except CommandFailed:
            return ""

    def resolve(self, series: str, refresh: bool = False) -> OrigTarball:
        """The newest Debian source of this QEMU series; reads the indexes only when needed."""
        check_series(series)
        stale = self.write_config()
        if refresh or stale or not self.has_lists():
            self.update()
        found = newest_in_series(parse_showsrc(self.showsrc()), series)
        if found is None and not refresh:
            self.update()
            found = newest_in_series(parse_showsrc(self.showsrc()), series)
        if found is None:
            raise SourceDownloadFailed(
                f"no `qemu` source package of the {series} series on {self.mirror}",
                "point QGANB_DEBIAN_MIRROR at a full Debian mirror and retry with --refresh",
            )
        return found

    def fetch(self, orig: OrigTarball) -> Path:
        """The orig tarball in the cache, downloaded with `apt-get source` when missing.

        The download happens in a scratch directory and is moved into place only after its
        sha256 matches the index, so a failed download never leaves a file under the final name.
        """
        final = self.orig_dir / orig.filename
        if final.is_file() and sha256_of(final) == orig.sha256:
            return final
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=self.orig_dir))
        try:
            try:
                run(
                    ["apt-get", *self.options(), "-q", "source", "--download-only", "--tar-only",
                     f"qemu={orig.source_version}"],
                    cwd=scratch,
                    log_path=self.root / "apt-download.log",
                )
            except CommandFailed as exc:
                reason = next((line for line in reversed(exc.tail) if line.startswith("E:")), exc.tail[-1] if exc.tail else "")
                raise SourceDownloadFailed(
                    f"downloading qemu={orig.source_version} from {self.mirror} failed: {reason}",
                    "check the network path to the mirror (or QGANB_DEBIAN_MIRROR) and retry",
                ) from exc
            got = scratch / orig.filename
            if not got.is_file():
                raise SourceDownloadFailed(
                    f"apt reported success but {orig.filename} is not in the download",
                    "retry with --refresh so apt re-reads the source indexes",
                )
            digest = sha256_of(got)
            if digest != orig.sha256:
                raise SourceDownloadFailed(
                    f"{orig.filename} has sha256 {digest}, the index says {orig.sha256}",
                    "retry with --refresh; if it persists the mirror serves a bad file",
                )
            os.replace(got, final)
            return final
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

