"""The guest-side install script's own checks, run with the host's sh and rpm on a state directory
like the one qganb uploads: the previous package must read, with the guest's rpm, as the installed
one before anything starts; `confirm` releases nothing while the rpm database holds another build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qganb.guest.transaction import SCRIPT, write_argv
from qganb.rpm.query import HEADER_DIGEST_QUERY, NEVRA_QUERY, file_query_argv, query_file

FIXTURE_SPEC = """Name: qganb-probe
Version: 1.0
Release: 1
Summary: a package for the transaction script's checks
License: MIT
BuildArch: noarch
%description
A package for the transaction script's checks.
%files
"""


@pytest.fixture(scope="module")
def small_rpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("rpmbuild")
    spec = top / "probe.spec"
    spec.write_text(FIXTURE_SPEC)
    subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", str(spec)], check=True,
                   capture_output=True)
    return next((top / "RPMS" / "noarch").glob("*.rpm"))


def script(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(SCRIPT), args[0], str(state), *args[1:]], capture_output=True, text=True,
                          timeout=60)


def test_start_refuses_a_previous_package_the_guest_rpm_reads_otherwise(tmp_path: Path, small_rpm: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    query = NEVRA_QUERY.rstrip("\n")
    write_argv(state / "previous.argv", file_query_argv(str(small_rpm), query))
    (state / "previous.expect").write_text("qemu-guest-agent\t10\t7.2.0\t3.el7\tx86_64\n")
    done = script(state, "start")
    assert done.returncode == 4
    assert done.stdout.startswith("previous qganb-probe\t\t1.0\t1\tnoarch"), done.stdout
    # Refused before the lock and the detached apply: nothing ran.
    assert not (state / "pid").exists() and not (state / "log").exists()

    write_argv(state / "previous.argv", file_query_argv(str(tmp_path / "missing.rpm"), query))
    done = script(state, "start")
    assert (done.returncode, done.stdout.strip()) == (4, "previous")


def test_the_previous_check_passes_for_the_very_package(tmp_path: Path, small_rpm: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    query = NEVRA_QUERY.rstrip("\n")
    write_argv(state / "previous.argv", file_query_argv(str(small_rpm), query))
    (state / "previous.expect").write_text(query_file(small_rpm, query).rstrip("\n") + "\n")
    # Only the check: `check_previous` is the whole of what runs before the lock.
    check = subprocess.run(["sh", "-c", f'. /dev/stdin; state={state}; check_previous; echo passed'],
                           input=_functions_only(), capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "passed", check.stdout + check.stderr


def test_confirm_keeps_everything_while_the_database_holds_another_build(tmp_path: Path, small_rpm: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    write_argv(state / "digest.argv", file_query_argv(str(small_rpm), HEADER_DIGEST_QUERY.rstrip("\n")))
    (state / "started").write_text("1 0\n")
    (state / "digest").write_text("0123456789abcdef0123456789abcdef01234567\n")
    done = script(state, "confirm", query_file(small_rpm, HEADER_DIGEST_QUERY).strip())
    assert done.stdout.splitlines()[0] == "digest 0123456789abcdef0123456789abcdef01234567"
    assert state.is_dir() and (state / "started").exists()


def test_argv_words_with_a_newline_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="newline"):
        write_argv(tmp_path / "x.argv", ["rpm", "-q", "--qf", "%{NAME}\n", "x"])


def _functions_only() -> str:
    """The script's function definitions without its dispatch at the end."""
    text = SCRIPT.read_text()
    return text[:text.index('case "$mode" in')]
