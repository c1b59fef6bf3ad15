"""What each stage records in the run manifest: one typed, versioned record per stage.

Later stages load these records (`RunDir.load(PrepRecord)`), never dictionary keys. A record's
JSON form is its fields, so the manifest stays readable by hand; `VERSION` changes when a
record's fields do, and a manifest written with another version asks for the stage to run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from qganb.rpm.query import Nevra
from qganb.rpm.rpmbuild import BuiltPackage


@dataclass(frozen=True)
class StageRecord:
    STAGE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1


@dataclass(frozen=True)
class FetchRecord(StageRecord):
    """The source RPM, checked and cached by digest."""

    STAGE: ClassVar[str] = "fetch"
    path: Path
    sha256: str
    name: str
    epoch: str | None
    version: str
    release: str
    signature: str  # what rpm -K said about the signature
    source: str = field(default="", compare=False)  # the URL or path it came from: provenance, not identity
    nevra: str = ""

    def __post_init__(self) -> None:
        if not self.nevra:
            object.__setattr__(self, "nevra", str(self.package))

    @property
    def package(self) -> Nevra:
        return Nevra(self.name, self.epoch, self.version, self.release, "src")


@dataclass(frozen=True)
class PrepRecord(StageRecord):
    """The prepped tree and its git baseline."""

    STAGE: ClassVar[str] = "prep"
    topdir: Path
    spec: Path
    tree: Path
    baseline: str  # commit id
    nevra: str
    srpm_sha256: str


@dataclass(frozen=True)
class EditRecord(StageRecord):
    """The recipes applied to the prepped tree."""

    STAGE: ClassVar[str] = "edit"
    recipes: list[str]  # absolute paths
    commands: list[str]
    changed: list[str]
    prototypes: dict[str, str]  # command -> the C prototype the tree's generator emits
    qemu_version: str


@dataclass(frozen=True)
class DiffRecord(StageRecord):
    """The patch made from the edit."""

    STAGE: ClassVar[str] = "diff"
    path: Path
    form: str  # "git diff" or "git format-patch"
    sha256: str
    files: list[str]


@dataclass(frozen=True)
class SpecRecord(StageRecord):
    """The spec that carries the patch."""

    STAGE: ClassVar[str] = "spec"
    spec: Path
    patch_number: int
    patch_line: str | None  # the %patch line added, or None when %autopatch/%autosetup applies it
    release_before: str
    release_after: str
    diff: str
    changed: bool


@dataclass(frozen=True)
class BuildRecord(StageRecord):
    """The binary RPMs and the src.rpm built from the spec."""

    STAGE: ClassVar[str] = "build"
    packages: list[BuiltPackage]
    log: str


@dataclass(frozen=True)
class InstallRecord(StageRecord):
    """What runs on the guest now, and how it got there."""

    STAGE: ClassVar[str] = "install"
    target: str
    domain: str
    uri: str
    previous: str | None
    installed: str
    version: str
    installer: list[str]
    blocked: list[str]
    unblocked: list[str]
    selinux: list[str]
    seconds: dict[str, float]
    log: str
    outcome: str = "installed"  # or "unchanged": the guest already ran this very build, nothing was done


@dataclass(frozen=True)
class VerifyRecord(StageRecord):
    """What the guest's agent answered through libvirt: its commands, then every verify case."""

    STAGE: ClassVar[str] = "verify"
    domain: str
    uri: str
    agent_version: str
    commands: dict[str, bool]  # command -> enabled
    cases: list[dict[str, Any]] = field(default_factory=list)
    passed: bool = False


@dataclass(frozen=True)
class RolloutRecord(StageRecord):
    """The builds rolled out to an Ansible inventory (instead of install and verify on one guest):
    the settings, how each host ended, and where the full report (rollout.json) is."""

    STAGE: ClassVar[str] = "rollout"
    inventory: str
    builds: list[str]  # the NEVRAs offered; each host got the one made from its own package
    serial: list[int | str]  # the batch sizes, canary first: [1, "25%", "100%"]
    max_fail_percentage: int
    check: bool  # Ansible's check mode: pre-checks only, nothing changed
    limit: str | None
    hosts: dict[str, str]  # host -> its status (installed, unchanged, rolled back, failed, ...)
    counts: dict[str, int]  # status -> hosts
    ok: bool  # every host installed, unchanged (or checked) and verified
    stopped: bool  # a batch failed beyond max_fail_percentage: some hosts were not reached
    seconds: float
    report: Path  # rollout.json
    summary: str
