"""What a guest starts from: `--stock` takes the agent's src.rpm or RPM for the testbed only, and
refuses anything else with the reason. Real rpmbuild for the packages; no guest needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb import errors
from qganb.errors import UsageError
from qganb.process import run
from qganb.rpm import build_host
from qganb.stages.guest_choice import KEEP_STOCK, choose_guest
from qganb.stages.guest_choice import testbed_stock as stock_for_run
from qganb.stages.records import FetchRecord
from qganb.stages.run_dir import RunDir
from qganb.testbed.guest import stock_rpm


def tiny_rpm(workdir: Path, name: str) -> Path:
    spec = workdir / f"{name}.spec"
    spec.write_text(f"Name: {name}\nVersion: 1\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n\n"
                    f"%description\nt\n\n%files\n")
    top = workdir / "rpmbuild"
    run(["rpmbuild", "-bb", *build_host.rpmbuild_host_args(top), spec], log_path=workdir / "rpmbuild.log")
    return next((top / "RPMS").rglob("*.rpm"))


def test_stock_on_a_named_guest_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        choose_guest("root@vm1", "vm1", stock="/tmp/x.src.rpm")
    assert "--stock /tmp/x.src.rpm applies to the testbed only" in str(info.value)


def test_a_stock_path_that_does_not_exist_is_refused_before_the_guest_is_touched(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        choose_guest(stock=str(tmp_path / "missing.rpm"))
    assert "does not exist" in str(info.value)


def test_a_package_that_is_not_the_agent_is_refused(tmp_path: Path) -> None:
    other = tiny_rpm(tmp_path, "not-the-agent")
    with pytest.raises(errors.TestbedError) as info:
        stock_rpm(other)
    assert "not a qemu-guest-agent package" in str(info.value)


def test_an_agent_rpm_is_taken_as_it_is(tmp_path: Path) -> None:
    agent = tiny_rpm(tmp_path, "qemu-guest-agent")
    assert stock_rpm(agent) == agent


def test_a_run_starts_the_testbed_from_its_own_src_rpm_unless_told(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    srpm = tmp_path / "qemu-guest-agent-2.12.0-3.el7.src.rpm"
    run_dir.record(FetchRecord(srpm, "0" * 64, "qemu-guest-agent", "10", "2.12.0", "3.el7", "not signed", str(srpm)))
    assert stock_for_run(run_dir, "", named_guest=False) == str(srpm)
    assert stock_for_run(run_dir, "/other.rpm", named_guest=False) == "/other.rpm"
    assert stock_for_run(run_dir, KEEP_STOCK, named_guest=False) == ""
    assert stock_for_run(run_dir, "", named_guest=True) == ""
