"""What the testbed can build: QEMU series and spec styles. Plain data with no heavy imports, so
the command line can list the choices without loading the fixture builders."""

from __future__ import annotations

from dataclasses import dataclass

# QEMU series -> the Debian suites whose `qemu` source package carries it (FIELD-NOTES §1).
SERIES_SUITES: dict[str, tuple[tuple[str, str], ...]] = {
    "5.2": (("main", "bullseye"),),
    "7.2": (("main", "bookworm"), ("security", "bookworm-security")),
    "10.0": (("main", "trixie"),),
}


@dataclass(frozen=True)
class UpstreamRelease:
    """A QEMU release no Debian suite here carries: the upstream tarball, pinned by its digest."""

    series: str
    version: str
    filename: str
    sha256: str
    distro: str  # who ships it, for messages


# QEMU series -> the upstream release tarball the user supplies (a path or URL; FIELD-NOTES §1).
UPSTREAM_RELEASES: dict[str, UpstreamRelease] = {
    "2.12": UpstreamRelease("2.12", "2.12.0", "qemu-2.12.0.tar.xz",
                            "272d5882980eb93f0014789d77edfd33a59b99fbc2c392b73ad4ae104d6b497e", "CentOS 7"),
}


@dataclass(frozen=True)
class SpecStyle:
    name: str
    dist: str  # the %{dist} the src.rpm is built with, as the distro's build system would
    epoch: int
    release: int
    blocklist_variable: str
    description: str


STYLES: dict[str, SpecStyle] = {
    "el7": SpecStyle("el7", ".el7", 10, 3, "BLACKLIST_RPC",
                     "CentOS 7: %setup, numbered PatchN tags with gaps, explicit %patchN lines"),
    "el9": SpecStyle("el9", ".el9", 17, 2, "BLOCK_RPCS",
                     "RHEL 9: %setup + %autopatch, four-digit Patch0001 tags"),
    "fedora": SpecStyle("fedora", ".fc41", 2, 1, "FILTER_RPC_ARGS",
                        "Fedora: %autosetup -S git_am, unnumbered Patch: tags in git format-patch form"),
}


def supported_series() -> list[str]:
    return [*UPSTREAM_RELEASES, *SERIES_SUITES]
