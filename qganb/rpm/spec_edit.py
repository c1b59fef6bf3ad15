"""Adds a patch to an RPM spec so that it applies last, in the spec's own style.

Built on packit's `specfile`: %prep is read through its typed macros (%setup, %patch, %autosetup,
%autopatch), never with regular expressions. The edit happens on a copy that replaces the spec only when every
step succeeded, and every byte the edit does not need to change stays as it was.
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from specfile import Specfile
from specfile.exceptions import SpecfileException
from specfile.prep import AutopatchMacro, AutosetupMacro, PatchMacro, SetupMacro

from qganb.errors import SpecError

SUFFIX = re.compile(r"\.qganb(\d+)$")
CHANGELOG_AUTHOR = "qganb"
CHANGELOG_EMAIL = "qganb@localhost"


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


@dataclass(frozen=True)
class PrepStyle:
    """How a spec's %prep applies patches."""

    automatic: bool  # %autosetup or %autopatch apply every PatchN: by themselves
    git_am: bool  # %autosetup -S git_am: patches must be `git format-patch` output
    listed: bool  # %setup with %patch lines: a new patch needs its own line


def _prep_style_of(spec: Specfile, spec_path: Path) -> PrepStyle:
    with spec.prep() as prep:
        if prep is None:
            raise SpecError(f"{spec_path} has no %prep section", "a spec must unpack and patch its sources in %prep; "
                            "check that this is the package's real spec")
        macros = list(prep.macros)
    automatic = [m for m in macros if isinstance(m, (AutosetupMacro, AutopatchMacro))]
    # `-S %{scm}` is common: compare the expanded value.
    git_am = any(isinstance(m, AutosetupMacro) and m.options.S and spec.expand(str(m.options.S)) == "git_am"
                 for m in automatic)
    listed = any(isinstance(m, (SetupMacro, PatchMacro)) for m in macros)
    return PrepStyle(bool(automatic), git_am, listed)


def prep_style(spec_path: Path) -> PrepStyle:
    """Read %prep through specfile: whether it applies patches by itself, and whether with `git am`."""
    try:
        spec = Specfile(spec_path, sourcedir=spec_path.parent, autosave=False, force_parse=True)
    except SpecfileException as exc:
        raise SpecError(f"{spec_path}: specfile cannot parse it: {exc}",
                        "check that rpm can parse the spec (rpmspec -P SPEC)") from exc
    return _prep_style_of(spec, spec_path)


def changelog_line(text: str) -> str:
    """`text` as one %changelog line that rpm reads back literally.

    rpm expands macros in %changelog while parsing the spec, so `%(cmd)` there would run `cmd`:
    every `%` becomes `%%`. A line break could start a new section, so control characters are refused."""
    bad = next((c for c in text if ord(c) < 0x20 or ord(c) == 0x7f), None)
    if bad is not None:
        raise SpecError(f"changelog text {text!r} has a control character ({bad!r}) that would break the spec",
                        "write it on one line, without tabs or line breaks")
    line = text if text.startswith("-") else f"- {text}"
    return line.replace("%", "%%")


def add_patch_to_spec(spec_path: Path, patch: str, commands: list[str], changelog: str | None = None,
                      date: datetime.date | None = None) -> SpecEdit:
    """Add `patch` (a file name in SOURCES) above every existing patch and apply it last."""
    entry = changelog_line(changelog or f"Add guest agent command(s) {', '.join(commands)} (qganb)")
    original = spec_path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="qganb-spec-") as tmp:
        work = Path(tmp) / spec_path.name
        shutil.copyfile(spec_path, work)
        try:
            spec = Specfile(work, sourcedir=spec_path.parent, autosave=False, force_parse=True)
            style = _prep_style_of(spec, spec_path)
            if not style.automatic and not style.listed:
                raise SpecError(f"{spec_path}: %prep neither uses %setup/%patch nor %autosetup/%autopatch",
                                "qganb cannot tell where the patch would be applied; add it by hand")
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
            if not style.automatic:
                with spec.prep() as prep_section:
                    assert prep_section is not None  # _prep_style_of refused a spec without %prep
                    prep_section.add_patch_macro(P=number, p=1)
                patch_line = f"%patch -P {number} -p1"
            spec.add_changelog_entry(entry,
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
