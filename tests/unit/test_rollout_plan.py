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


def test_check_mode_checks_every_host_in_one_batch(tmp_path: Path) -> None:
    plays = rollout_playbook(rpms=[Path("/b/a.rpm")], recipes=[], serial=[1, 2], max_fail_percentage=0,
                             log_dir=tmp_path, install={}, check=True)
    play = plays[1]
    assert "serial" not in play and "max_fail_percentage" not in play and play["ignore_errors"] is True
    rollout = rollout_playbook(rpms=[Path("/b/a.rpm")], recipes=[], serial=[1, 2], max_fail_percentage=0,
                               log_dir=tmp_path, install={})[1]
    assert rollout["serial"] == [1, 2] and "ignore_errors" not in rollout
    assert rollout["tasks"][0]["timeout"] > 600  # past the transaction's own limits


def test_the_environment_ansible_runner_records_is_removed(tmp_path: Path) -> None:
    import json

    from qganb.fleet.rollout import _scrub_environment

    command = tmp_path / "command"
    command.write_text(json.dumps({"command": ["ansible-playbook", "x.yml"], "cwd": "/p",
                                   "env": {"AWS_SECRET_ACCESS_KEY": "s3cr3t", "PATH": "/bin"}}))
    _scrub_environment(command)
    assert "s3cr3t" not in command.read_text()
    assert json.loads(command.read_text())["command"] == ["ansible-playbook", "x.yml"]
    _scrub_environment(tmp_path / "absent")  # nothing recorded: nothing to do


def test_the_rollout_keeps_the_operators_collections_and_ansible_cfg(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from qganb.fleet.playbook import COLLECTION_ROOT
    from qganb.fleet.rollout import DEFAULT_COLLECTIONS, _environment

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    monkeypatch.delenv("ANSIBLE_COLLECTIONS_PATH", raising=False)
    assert _environment(tmp_path)["ANSIBLE_COLLECTIONS_PATH"] == f"{COLLECTION_ROOT}:{DEFAULT_COLLECTIONS}"
    assert "ANSIBLE_CONFIG" not in _environment(tmp_path)
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", "/site/collections")
    env = _environment(tmp_path)
    assert env["ANSIBLE_CONFIG"] == str(tmp_path / "ansible.cfg")
    assert env["ANSIBLE_COLLECTIONS_PATH"] == f"{COLLECTION_ROOT}:/site/collections"
    assert "StrictHostKeyChecking=yes" in env["ANSIBLE_SSH_ARGS"]


def test_hosts_kept_at_once_each_get_a_whole_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from qganb.rpm import kept_packages

    source = tmp_path / "a.rpm"
    source.write_bytes(b"x" * 4_000_000)
    monkeypatch.setattr(kept_packages, "_kept_dir", lambda: tmp_path / "kept")
    monkeypatch.setattr(kept_packages, "nevra_of", lambda path: "qemu-guest-agent-7.2.0-3.el7.x86_64")
    with ThreadPoolExecutor(max_workers=6) as pool:
        kept = list(pool.map(lambda _: kept_packages.keep_rpm(source), range(12)))
    assert {k.read_bytes() == source.read_bytes() for k in kept} == {True}
    assert [p.name for p in kept[0].parent.iterdir()] == ["a.rpm"], "no scratch copy left"
