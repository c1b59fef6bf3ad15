"""The rollout's pure parts: batch sizes, which build a host gets, the playbook and the report."""

from pathlib import Path

import pytest
import yaml

from qganb.errors import RolloutError
from qganb.fleet.builds import dist_tag, matching_build
from qganb.fleet.playbook import INSTALL_TASK, parse_serial, rollout_playbook
from qganb.fleet.report import HostOutcome, RolloutReport
from qganb.rpm.query import Nevra


def nevra(text: str) -> Nevra:
    name, version, release, arch = text.split("|")
    return Nevra(name=name, epoch="15", version=version, release=release, arch=arch)


def test_the_first_batch_is_always_the_one_host_canary() -> None:
    assert parse_serial("1,25%,100%") == [1, "25%", "100%"]
    assert parse_serial("1,2") == [1, 2]
    assert parse_serial("5") == [1, 5]
    assert parse_serial(" 50% , 100%") == [1, "50%", "100%"]


@pytest.mark.parametrize("text", ["0", "1,,2", "1,150%", "a", "-1", "1.5"])
def test_a_batch_size_that_is_not_one_is_named(text: str) -> None:
    with pytest.raises(RolloutError, match=r"--serial .*is not a batch size"):
        parse_serial(text)


def test_dist_tags() -> None:
    assert dist_tag("3.el7.qganb1") == "el7"
    assert dist_tag("2.el9_4") == "el9"
    assert dist_tag("1.fc40") == "fc40"
    assert dist_tag("1.module_el8.9.0+3+abc") == "el8"
    assert dist_tag("1") is None


def test_each_host_gets_the_build_of_its_own_package() -> None:
    el7_212 = Path("/b/qemu-guest-agent-2.12.0-3.el7.qganb1.x86_64.rpm")
    el7_72 = Path("/b/qemu-guest-agent-7.2.0-1.el7.qganb1.x86_64.rpm")
    el9_72 = Path("/b/qemu-guest-agent-7.2.0-1.el9.qganb1.x86_64.rpm")
    newer = Path("/b/qemu-guest-agent-7.2.0-1.el7.qganb2.x86_64.rpm")
    builds = {el7_212: nevra("qemu-guest-agent|2.12.0|3.el7.qganb1|x86_64"),
              el7_72: nevra("qemu-guest-agent|7.2.0|1.el7.qganb1|x86_64"),
              el9_72: nevra("qemu-guest-agent|7.2.0|1.el9.qganb1|x86_64")}
    assert matching_build(nevra("qemu-guest-agent|2.12.0|3.el7|x86_64"), builds) == el7_212
    assert matching_build(nevra("qemu-guest-agent|7.2.0|1.el9|x86_64"), builds) == el9_72
    # The same build again (already upgraded once) still matches: the rollout is idempotent.
    assert matching_build(nevra("qemu-guest-agent|7.2.0|1.el7.qganb1|x86_64"), builds) == el7_72
    assert matching_build(nevra("qemu-guest-agent|8.2.0|1.el9|x86_64"), builds) is None
    assert matching_build(nevra("qemu-guest-agent|7.2.0|1.el8|x86_64"), builds) is None
    assert matching_build(None, builds) is None
    builds[newer] = nevra("qemu-guest-agent|7.2.0|1.el7.qganb2|x86_64")
    assert matching_build(nevra("qemu-guest-agent|7.2.0|1.el7|x86_64"), builds) == newer


def test_the_playbook_is_canary_first_with_the_threshold_and_the_host_variables(tmp_path: Path) -> None:
    plays = rollout_playbook(rpms=[Path("/b/a.rpm")], recipes=[Path("/r/x.yaml")], serial=[1, "50%"],
                             max_fail_percentage=30, log_dir=tmp_path, install={"installer": "auto"})
    rollout = yaml.safe_load(yaml.safe_dump(plays))[1]
    assert rollout["serial"] == [1, "50%"] and rollout["max_fail_percentage"] == 30
    (task,) = rollout["tasks"]
    assert task["name"] == INSTALL_TASK
    arguments = task["qganb.fleet.agent_install"]
    assert arguments["domain"] == "{{ qganb_domain | default(inventory_hostname) }}"
    assert arguments["uri"] == "{{ qganb_libvirt_uri | default('qemu:///system') }}"
    with pytest.raises(RolloutError, match="--max-fail-percentage 101"):
        rollout_playbook(rpms=[], recipes=[], serial=[1], max_fail_percentage=101, log_dir=tmp_path, install={})


def test_the_report_counts_table_timeline_and_json_round_trip(tmp_path: Path) -> None:
    report = RolloutReport("inv", ["qemu-guest-agent-7.2.0-1.el7.qganb1.x86_64"], [1, 2], 0, False, None, seconds=60)
    report.hosts = [
        HostOutcome("g1", "installed", 1, "a-1", "a-2", "b", "passed", started=0, ended=20),
        HostOutcome("g2", "rolled back", 2, "a-1", "a-1", "b", "", "the new agent does not answer", started=21,
                    ended=50),
        HostOutcome("g3"),
    ]
    assert not report.ok and report.stopped
    assert report.counts() == {"installed": 1, "rolled back": 1, "not reached": 1}
    assert "stopped" in report.summary()
    table = report.table().splitlines()
    assert table[0].split()[:3] == ["host", "batch", "status"] and "rolled back" in table[2]
    assert "batch 2 g2" in report.timeline() and "<svg" in report.timeline_svg()
    report.save(tmp_path / "rollout.json")
    again = RolloutReport.load(tmp_path / "rollout.json")
    assert again == report
