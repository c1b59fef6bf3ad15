"""`qganb spec add-patch` on specs that are hard the way real ones are, checked with rpmspec -P."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from qganb.rpm.spec_edit import SpecError, add_patch_to_spec, bump_release

HEADER = """\
Name: qemu-kvm
Version: 9.1.0
Release: 16%{?rcrel}%{?dist}%{?cc_suffix}.3
Epoch: 17
Summary: QEMU
License: GPL-2.0-only
Source0: qemu-%{version}.tar.xz
"""


def rhel_like_spec(autopatch: bool) -> str:
    """~300 patches in mixed widths (Patch0001 .. Patch300), as RHEL's qemu-kvm.spec has."""
    tags = []
    for n in range(1, 301):
        name = f"Patch{n:04d}" if n < 100 else f"Patch{n}"
        tags.append(f"# For bz#{100000 + n} - fix {n}\n{name}: kvm-fix-{n}.patch")
    if autopatch:
        prep = "%setup -q -n qemu-%{version}%{?rcstr}\n%autopatch -p1\n"
    else:
        lines = [f"%patch{n} -p1" if n % 2 else f"%patch -P {n} -p1" for n in range(1, 301)]
        prep = "%setup -q -n qemu-%{version}\n" + "\n".join(lines) + "\n# more shell after the patches\ncp -p %{SOURCE0} .\nchmod a-x qemu-%{version}.tar.xz\n"
    return (HEADER + "\n".join(tags) + "\n\n%description\nQEMU.\n\n%prep\n" + prep +
            "\n%build\ntrue\n\n%files\n\n%changelog\n* Mon Jan 05 2026 A <a@b> - 17:9.1.0-16.3\n- Old entry\n")


def applied_order(spec: Path) -> list[str]:
    expanded = subprocess.run(["rpmspec", "-P", str(spec)], capture_output=True, text=True, check=True).stdout
    # One SOURCES/<patch> reference per applied patch, in the order %prep applies them (with the
    # files absent, %autopatch expands to "Cannot read ..." lines: still one per patch, in order).
    return re.findall(r"/SOURCES/([^\s']+\.patch)", expanded)


@pytest.mark.parametrize("autopatch", [False, True], ids=["explicit-patch-lines", "autopatch"])
def test_three_hundred_patches_new_one_applied_last(autopatch: bool, tmp_path: Path) -> None:
    spec = tmp_path / "qemu-kvm.spec"
    original = rhel_like_spec(autopatch)
    spec.write_text(original)
    result = add_patch_to_spec(spec, "qganb-guest-x.patch", ["guest-x"])
    assert result.patch_number == 301
    order = applied_order(spec)
    assert len(order) == 301 and order[-1] == "qganb-guest-x.patch"
    edited = spec.read_text()
    assert "Release: 16%{?rcrel}%{?dist}%{?cc_suffix}.3.qganb1\n" in edited
    if autopatch:
        assert result.patch_line is None and "%patch -P" not in edited
    else:
        # The new line sits right after the last %patch line, before the shell that follows.
        lines = edited.splitlines()
        at = lines.index("%patch -P 300 -p1")
        assert lines[at + 1].startswith("%patch -P") and "301" in lines[at + 1]
        assert lines[at + 2] == "# more shell after the patches"
    # Every other byte stays: only additions and the Release line change.
    removed = [l for l in result.diff.splitlines() if l.startswith("-") and not l.startswith("---")]
    assert removed == ["-Release: 16%{?rcrel}%{?dist}%{?cc_suffix}.3"]


def test_adding_the_same_patch_again_changes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "qemu-kvm.spec"
    spec.write_text(rhel_like_spec(False))
    add_patch_to_spec(spec, "qganb-guest-x.patch", ["guest-x"])
    once = spec.read_text()
    again = add_patch_to_spec(spec, "qganb-guest-x.patch", ["guest-x"])
    assert not again.changed and spec.read_text() == once


def test_release_suffix_counts_rebuilds() -> None:
    assert bump_release("3%{?dist}") == "3%{?dist}.qganb1"
    assert bump_release("3%{?dist}.qganb1") == "3%{?dist}.qganb2"
    assert bump_release("16%{?rcrel}%{?dist}%{?cc_suffix}.3") == "16%{?rcrel}%{?dist}%{?cc_suffix}.3.qganb1"


def test_spec_without_prep_is_refused_and_left_alone(tmp_path: Path) -> None:
    spec = tmp_path / "broken.spec"
    text = HEADER + "Patch1: a.patch\n\n%description\nx\n\n%build\ntrue\n\n%files\n"
    spec.write_text(text)
    with pytest.raises(SpecError, match=r"broken.spec has no %prep section"):
        add_patch_to_spec(spec, "qganb-guest-x.patch", ["guest-x"])
    assert spec.read_text() == text
    done = subprocess.run([sys.executable, "-m", "qganb", "spec", "add-patch", str(spec), "x.patch"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "has no %prep section" in done.stderr
    assert spec.read_text() == text


def test_changelog_text_is_taken_literally_by_rpm(tmp_path: Path) -> None:
    # `%(...)` in a %changelog line is shell that rpm runs while it parses the spec: the text must be escaped.
    marker = tmp_path / "ran"
    spec = tmp_path / "qemu-kvm.spec"
    spec.write_text(rhel_like_spec(autopatch=True))
    text = f"Add %(touch {marker}) and %{{name}} at 100%"
    add_patch_to_spec(spec, "qganb-guest-x.patch", ["guest-x"], changelog=text)
    parsed = subprocess.run(["rpmspec", "-P", str(spec)], capture_output=True, text=True, check=True, timeout=120)
    assert not marker.exists(), "rpm ran the shell in the changelog text"
    assert f"- {text}\n" in parsed.stdout, "rpm reads the text back exactly as given"
    dumped = subprocess.run(["rpmspec", "-q", "--srpm", "--qf", "[%{CHANGELOGTEXT}\\n]", str(spec)],
                            capture_output=True, text=True, check=True, timeout=120)
    assert not marker.exists() and f"- {text}" in dumped.stdout


@pytest.mark.parametrize("text", ["two\nlines", "tab\there", "%prep\nrm -rf /"])
def test_changelog_text_that_could_change_the_spec_is_refused(text: str, tmp_path: Path) -> None:
    spec = tmp_path / "qemu-kvm.spec"
    original = rhel_like_spec(autopatch=True)
    spec.write_text(original)
    with pytest.raises(SpecError, match=r"changelog text .* has a control character .*; write it on one line"):
        add_patch_to_spec(spec, "qganb-guest-x.patch", ["guest-x"], changelog=text)
    assert spec.read_text() == original
