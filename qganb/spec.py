"""The spec stage: add the new patch to the spec so that it applies last, in the spec's own style.

Built on packit's `specfile`. The edit happens on a copy that replaces the spec only when every
step succeeded, and every byte the edit does not need to change stays as it was.
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from specfile import Specfile
from specfile.exceptions import SpecfileException

from qganb.errors import QganbError
from qganb.run_dir import RunDir

SUFFIX = re.compile(r"\.qganb(\d+)$")
CHANGELOG_AUTHOR = "qganb"
CHANGELOG_EMAIL = "qganb@localhost"


class SpecError(QganbError):
    """The spec cannot take the patch."""


@dataclass(frozen=True)
class SpecEdit:
    spec: Path
    patch_number: int
    patch_line: str | None  # the %patch line added, or None when %autopatch/%autosetup applies it
    release_before: str
    release_after: str
    diff: str
    changed: bool


def bump_release(release: str) -> str:
    """`3%{?dist}` -> `3%{?dist}.qganb1`; `...qganb1` -> `...qganb2`. Epoch and %{?dist} are kept."""
    match = SUFFIX.search(release)
    if match:
        return release[: match.start()] + f".qganb{int(match.group(1)) + 1}"
    return release + ".qganb1"


def _prep_text(spec_text: str) -> str | None:
    match = re.search(r"^%prep\b.*?\n(.*?)(?=^%(build|install|check|files|changelog|package|description|generate_buildrequires)\b|\Z)",
                      spec_text, re.S | re.M)
    return match.group(1) if match else None


def add_patch_to_spec(spec_path: Path, patch: str, commands: list[str], changelog: str | None = None,
                      date: datetime.date | None = None) -> SpecEdit:
    """Add `patch` (a file name in SOURCES) above every existing patch and apply it last."""
    original = spec_path.read_text(encoding="utf-8")
    prep = _prep_text(original)
    if prep is None:
        raise SpecError(f"{spec_path} has no %prep section", "a spec must unpack and patch its sources in %prep; "
                        "check that this is the package's real spec")
    automatic = re.search(r"^\s*%(autosetup|autopatch)\b", prep, re.M) is not None
    if not automatic and re.search(r"^\s*%(setup|patch)\b", prep, re.M) is None:
        raise SpecError(f"{spec_path}: %prep neither uses %setup/%patch nor %autosetup/%autopatch",
                        "qganb cannot tell where the patch would be applied; add it by hand")

    with tempfile.TemporaryDirectory(prefix="qganb-spec-") as tmp:
        work = Path(tmp) / spec_path.name
        shutil.copyfile(spec_path, work)
        try:
            spec = Specfile(work, sourcedir=spec_path.parent, autosave=False, force_parse=True)
            with spec.patches() as patches:
                existing = [p for p in patches if Path(p.location).name == patch]
                numbers = [p.number for p in patches]
            if existing:
                return SpecEdit(spec_path, existing[0].number, None, "", "", "", False)
            number = max(numbers, default=-1) + 1
            with spec.tags() as tags:
                release_before = tags.release.value
                tags.release.value = bump_release(release_before)
                release_after = tags.release.value
            spec.add_patch(patch, number=number,
                           comment=f"qganb: {', '.join(commands)}" if "# For " not in original else
                           f"For qganb - add {', '.join(commands)}")
            patch_line = None
            if not automatic:
                with spec.prep() as prep_section:
                    prep_section.add_patch_macro(P=number, p=1)
                patch_line = f"%patch -P {number} -p1"
            entry = changelog or f"Add guest agent command(s) {', '.join(commands)} (qganb)"
            spec.add_changelog_entry(f"- {entry}" if not entry.startswith("-") else entry,
                                     author=CHANGELOG_AUTHOR, email=CHANGELOG_EMAIL,
                                     timestamp=date or datetime.date.today())
            spec.save()
        except SpecfileException as exc:
            raise SpecError(f"{spec_path}: specfile cannot edit it: {exc}",
                            "check that rpm can parse the spec (rpmspec -P SPEC)") from exc
        edited = work.read_text(encoding="utf-8")
        tmp_target = spec_path.with_name(f".{spec_path.name}.qganb")
        tmp_target.write_text(edited, encoding="utf-8")
        os.replace(tmp_target, spec_path)
    diff = "".join(difflib.unified_diff(original.splitlines(True), edited.splitlines(True),
                                        f"a/{spec_path.name}", f"b/{spec_path.name}"))
    return SpecEdit(spec_path, number, patch_line, release_before, release_after, diff, True)


def build_topdir(run_dir: RunDir) -> Path:
    """The run's rpmbuild topdir for the build: SOURCES linked from prep, SPECS from the pristine spec."""
    prepped = run_dir.stage("prep")
    prep_top = Path(prepped["topdir"])
    top = run_dir.path / "rpmbuild"
    sources = top / "SOURCES"
    sources.mkdir(parents=True, exist_ok=True)
    (top / "SPECS").mkdir(exist_ok=True)
    for src in (prep_top / "SOURCES").iterdir():
        dst = sources / src.name
        if not dst.exists():
            os.link(src, dst)
    return top


def spec_stage(run_dir: RunDir, changelog: str | None = None) -> SpecEdit:
    """Copy the pristine spec from prep and add the diff stage's patch to it (idempotent)."""
    prepped = run_dir.stage("prep")
    patch = run_dir.stage("diff")
    commands = run_dir.stage("edit")["commands"]
    top = build_topdir(run_dir)
    patch_path = Path(patch["path"])
    shutil.copyfile(patch_path, top / "SOURCES" / patch_path.name)
    spec_path = top / "SPECS" / Path(prepped["spec"]).name
    shutil.copyfile(prepped["spec"], spec_path)
    result = add_patch_to_spec(spec_path, patch_path.name, commands, changelog)
    data = asdict(result)
    run_dir.record("spec", data)
    return result
