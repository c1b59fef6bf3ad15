"""`qganb rollout`: the builds to every host of an Ansible inventory, through ansible-runner.

Ansible supplies the inventory, the connections, forks, serial batches, max_fail_percentage and
check mode; each host runs qganb's one install transaction (qganb.fleet.agent_install). This
module writes the playbook into the rollout's directory, runs it, follows each host's progress
and turns Ansible's events into the report (rollout.json).

`run` is the pipeline's rollout stage (notebook 09-rollout, `qganb run --inventory`): the run's
build and recipes, with the report in the run directory and its record in the manifest.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qganb.errors import RolloutError
from qganb.fleet.builds import read_builds
from qganb.fleet.playbook import COLLECTION_ROOT, INSTALL_TASK, TARGET_TASK, parse_serial, rollout_playbook, write_playbook
from qganb.fleet.report import HostOutcome, RolloutReport
from qganb.process import LineSink
from qganb.stages.install import InstallOptions, agent_rpm_of
from qganb.stages.records import BuildRecord, EditRecord, RolloutRecord
from qganb.stages.run_dir import RunDir

# Host keys are verified, always: StrictHostKeyChecking=yes comes first, and ssh takes an option's
# first value. Keep-alives notice a dead link in ~15 s, as qganb's own client does.
SSH_ARGS = ("-C -o ControlMaster=auto -o ControlPersist=60s -o BatchMode=yes -o StrictHostKeyChecking=yes "
            "-o ServerAliveInterval=5 -o ServerAliveCountMax=3")


@dataclass
class RolloutOptions:
    serial: str = "1,25%,100%"
    max_fail_percentage: int = 0
    forks: int = 10
    check: bool = False
    limit: str | None = None
    install: InstallOptions = field(default_factory=InstallOptions)


def _install_arguments(options: InstallOptions) -> dict[str, Any]:
    return {"installer": options.installer, "flags": options.extra_flags, "unblock": options.unblock,
            "allow_downgrade": options.allow_downgrade, "reinstall": options.reinstall,
            "known_rpms": [str(p) for p in options.known_rpms]}


class _Follower:
    """Prints each host's progress lines as its action plugin appends them to <log_dir>/<host>.log."""

    def __init__(self, log_dir: Path, say: LineSink) -> None:
        self.log_dir, self.say = log_dir, say
        self.offsets: dict[Path, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="qganb-rollout-follow", daemon=True)

    def _poll(self) -> None:
        for path in sorted(self.log_dir.glob("*.log")):
            if path.name.endswith(".guest.log"):
                continue
            with path.open() as log:
                log.seek(self.offsets.get(path, 0))
                text = log.read()
            complete, _, _ = text.rpartition("\n")
            if complete:
                self.offsets[path] = self.offsets.get(path, 0) + len((complete + "\n").encode())
                for line in complete.splitlines():
                    self.say(f"  {path.stem}: {line.split(' ', 1)[-1]}")

    def _loop(self) -> None:
        while not self.stop.wait(0.5):
            self._poll()

    def __enter__(self) -> _Follower:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._poll()


class _Events:
    """Ansible's events, as ansible-runner hands them over, turned into host outcomes."""

    def __init__(self, report: RolloutReport, started: float, say: LineSink) -> None:
        self.report, self.started, self.say = report, started, say
        self.hosts: dict[str, HostOutcome] = {}
        self.batch = 0
        self.stdout_tail: list[str] = []

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if event.get("stdout"):
            self.stdout_tail = (self.stdout_tail + event["stdout"].splitlines())[-30:]
        task, host = data.get("task", ""), data.get("host")
        now = round(time.monotonic() - self.started, 1)
        if kind == "runner_on_ok" and task == TARGET_TASK and host:
            self.hosts.setdefault(host, HostOutcome(host))
        elif kind == "playbook_on_task_start" and data.get("name", task) == INSTALL_TASK:
            self.batch += 1
            self.say(f"batch {self.batch}{' (canary)' if self.batch == 1 else ''}")
        elif kind == "runner_on_start" and task == INSTALL_TASK and host:
            outcome = self.hosts.setdefault(host, HostOutcome(host))
            outcome.batch, outcome.started, outcome.status = self.batch, now, "running"
        elif kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable") and task == INSTALL_TASK and host:
            self._ended(self.hosts.setdefault(host, HostOutcome(host, batch=self.batch)), kind, data.get("res", {}), now)
        return True

    def _ended(self, outcome: HostOutcome, kind: str, res: dict[str, Any], now: float) -> None:
        outcome.ended = now
        if kind == "runner_on_unreachable" or "status" not in res:
            # Ansible's own failure, before qganb's code ran (or a fault in it): its message is all there is.
            outcome.status = "unreachable" if kind == "runner_on_unreachable" else "failed"
            outcome.message = " ".join(str(res.get("msg", "")).split())
            if res.get("exception"):
                outcome.details["exception"] = str(res["exception"])[-2000:]
        else:
            outcome.status = res["status"]
            outcome.before, outcome.after, outcome.build = res.get("before"), res.get("after"), res.get("build")
            outcome.message, outcome.fix = res.get("msg", ""), res.get("fix", "")
            verify = res.get("verify")
            outcome.verify = "" if not verify else "passed" if verify.get("passed") else "FAILED"
            outcome.details = {k: res[k] for k in ("verify", "check", "seconds", "details", "seconds_total", "uri",
                                                   "domain") if res.get(k) is not None}
        self.say(f"{outcome.host}: {outcome.status}" + (f" ({outcome.before} -> {outcome.after})"
                 if outcome.status == "installed" else "") + (f"; verify {outcome.verify}" if outcome.verify else "")
                 + (f"; {outcome.message}" if outcome.message else ""))


DEFAULT_COLLECTIONS = "~/.ansible/collections:/usr/share/ansible/collections"  # ansible-core's default


def _environment(directory: Path) -> dict[str, str]:
    here = str(Path(sys.executable).parent)
    package_root = str(Path(__file__).resolve().parents[2])
    settings: dict[str, str] = {}
    # ansible-playbook runs in the rollout's project directory: an ansible.cfg where qganb was
    # started would not be found there, so it is named.
    if "ANSIBLE_CONFIG" not in os.environ and Path("ansible.cfg").is_file():
        settings["ANSIBLE_CONFIG"] = str(Path("ansible.cfg").resolve())
    return {
        **settings,
        # qganb's collection first, the operator's collections (inventory and connection plugins) after.
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(
            [str(COLLECTION_ROOT), os.environ.get("ANSIBLE_COLLECTIONS_PATH") or DEFAULT_COLLECTIONS]),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": SSH_ARGS,
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(directory / "ansible-tmp"),
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        # ansible-playbook from this environment, and qganb importable in its workers.
        "PATH": here + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p),
    }


def _scrub_environment(command_file: Path) -> None:
    """ansible-runner records the whole environment of ansible-playbook (tokens and passwords of the
    operator's shell included) beside its output: keep the command, drop the environment."""
    try:
        recorded = json.loads(command_file.read_text())
    except (OSError, ValueError):
        return
    if isinstance(recorded, dict) and "env" in recorded:
        recorded["env"] = "(removed by qganb: the environment may hold secrets)"
        command_file.write_text(json.dumps(recorded, indent=2) + "\n")


def rollout(inventory: Path, rpms: list[Path], recipes: list[Path], directory: Path,
            options: RolloutOptions | None = None, say: LineSink = print) -> RolloutReport:
    """Run the rollout; the report says how each host ended (it is also saved as rollout.json)."""
    import ansible_runner

    options = options or RolloutOptions()
    if not inventory.exists():
        raise RolloutError(f"inventory {inventory} does not exist", "give the path of an Ansible inventory (INI or YAML)")
    serial = parse_serial(options.serial)
    builds = read_builds(rpms)
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    log_dir = directory / "hosts"
    for old in log_dir.glob("*.log"):
        old.unlink()
    log_dir.mkdir(exist_ok=True)
    (directory / "ansible-tmp").mkdir(exist_ok=True)
    playbook = directory / "project" / "rollout.yml"
    write_playbook(playbook, rollout_playbook(rpms=list(builds), recipes=[p.resolve() for p in recipes],
                                              serial=serial, max_fail_percentage=options.max_fail_percentage,
                                              log_dir=log_dir, install=_install_arguments(options.install),
                                              check=options.check))
    report = RolloutReport(str(inventory.resolve()), [str(n) for n in builds.values()], serial,
                           options.max_fail_percentage, options.check, options.limit, directory=str(directory))
    say(f"{'checking' if options.check else 'rolling out'} {', '.join(report.builds)} with Ansible "
        f"(serial {','.join(str(s) for s in serial)}, max fail {options.max_fail_percentage}%, forks {options.forks})")
    started = time.monotonic()
    events = _Events(report, started, say)
    runner = None
    try:
        with _Follower(log_dir, say):
            runner = ansible_runner.run(
                private_data_dir=str(directory), playbook=str(playbook), inventory=str(inventory.resolve()),
                envvars=_environment(directory), forks=options.forks, limit=options.limit,
                cmdline="--check" if options.check else None, event_handler=events, quiet=True,
                suppress_env_files=True, ident="ansible", rotate_artifacts=1)
    finally:
        # Whatever ended the run (an interrupt included), the report says what is known of each host.
        _scrub_environment(directory / "artifacts" / "ansible" / "command")
        for host in events.hosts.values():
            if host.status == "running":
                host.status, host.message = "outcome unknown", "the rollout ended while this host's install ran"
                host.fix = f"read {log_dir / (host.host + '.log')}; resume with its .pending.json if there is one"
        report.seconds = round(time.monotonic() - started, 1)
        report.ansible_rc = runner.rc if runner is not None else None
        report.hosts = sorted(events.hosts.values(),
                              key=lambda h: (h.batch is None, h.batch or 0, h.started or 0, h.host))
        report.save(directory / "rollout.json")
    assert runner is not None
    if not report.hosts:
        raise RolloutError(
            f"Ansible selected no host or did not run (ansible-playbook exit status {runner.rc}): "
            + (" | ".join(events.stdout_tail[-5:]) or "no output"),
            f"check the inventory ({inventory}) and --limit; Ansible's output is in {directory}/artifacts")
    return report


def testbed_inventory() -> Path:
    """The local testbed fleet's inventory: the rollout stage's default (it exists once that fleet
    has been set up)."""
    from qganb.testbed.guest import testbed_dir

    return testbed_dir() / "fleet" / "inventory.yml"


def run(run_dir: RunDir, inventory: Path, *, options: RolloutOptions | None = None, rpms: list[Path] | None = None,
        say: LineSink = print) -> RolloutRecord:
    """The rollout stage: the build stage's agent RPM, plus `rpms` (builds for the fleet's other
    distro releases), to every host of `inventory`, verifying the edit stage's recipes on each. The
    report goes to rollout/rollout.json in the run directory, its record to the manifest, whether
    or not every host ended well (`record.ok` says)."""
    builds = [agent_rpm_of(run_dir.load(BuildRecord).packages), *(rpms or [])]
    recipes = [Path(p) for p in run_dir.load(EditRecord).recipes]
    directory = run_dir.subdir("rollout")
    report = rollout(inventory, builds, recipes, directory, options, say=say)
    record = RolloutRecord(
        inventory=report.inventory, builds=report.builds, serial=report.serial,
        max_fail_percentage=report.max_fail_percentage, check=report.check, limit=report.limit,
        hosts={h.host: h.status + (", verify FAILED" if h.verify == "FAILED" else "") for h in report.hosts},
        counts=report.counts(), ok=report.ok, stopped=report.stopped, seconds=report.seconds,
        report=directory / "rollout.json", summary=report.summary())
    run_dir.record(record)
    return record
