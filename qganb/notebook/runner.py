"""`qganb run`: the stage notebooks executed headless with papermill into one run directory.

A run takes one route through the stage table: fetch ... build, then install and verify on one
guest; or, given an inventory, the fleet rollout instead of those two. Parameters are checked
strictly against each notebook's `parameters` cell before any stage runs (papermill itself only
warns about unknown ones). Each stage's cell output streams to the terminal and to
`logs/<stage>.notebook.log`; the first failing cell stops the run with its error and the log tail,
and `--from STAGE` resumes there. The end writes `report.html`.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qganb import paths
from qganb.errors import ParameterError, RunnerError, StageFailed
from qganb.notebook.display import STREAM_ENV
from qganb.process import LineSink
from qganb.stages.records import EditRecord, RolloutRecord, VerifyRecord
from qganb.stages.run_dir import RunDir
from qganb.stages.table import GUEST_ONLY, STAGE_NAMES, route, stage_before, stage_named

if TYPE_CHECKING:
    from qganb.notebook.kernels import KernelsAhead


def notebooks_dir() -> Path:
    root = paths.source_checkout()
    if root is None or not (root / "notebooks").is_dir():
        raise RunnerError("the stage notebooks are not next to this qganb", "run qganb from its project checkout")
    return root / "notebooks"


def notebook_of(stage: str) -> Path:
    return notebooks_dir() / stage_named(stage).notebook


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    import papermill

    return dict(papermill.inspect_notebook(str(notebook)))


@dataclass
class RunPlan:
    stages: list[str]
    parameters: dict[str, dict[str, Any]]  # stage -> the parameters it gets
    inventory: str = ""  # given: the fleet route, the rollout to its hosts instead of install and verify

    @property
    def fleet(self) -> bool:
        return bool(self.inventory)


def _off_route(option: str, stage: str, fleet: bool) -> ParameterError:
    stages = ", ".join(s.name for s in route(fleet=fleet))
    replaced = " and ".join(GUEST_ONLY)
    if fleet:
        return ParameterError(f"{option} {stage}: a run with --inventory has no {stage} stage (the rollout replaces "
                              f"{replaced})", f"drop --inventory to {stage} on one guest, or pick one of: {stages}")
    return ParameterError(f"{option} {stage}: the {stage} stage runs only with --inventory (it replaces {replaced})",
                          f"give --inventory INVENTORY, or pick one of: {stages}")


def plan_run(values: dict[str, Any], *, given: set[str] | None = None, from_stage: str = STAGE_NAMES[0],
             until_stage: str | None = None) -> RunPlan:
    """Which stages run with which parameters. A non-empty `inventory` value takes the fleet route
    (the rollout after build); without one, the run installs and verifies on one guest, as it
    always has. `until_stage` defaults to the route's last stage. Every parameter a planned notebook
    declares must have a value here, and every name in `given` (what the user passed with -p) must
    be declared by some stage notebook: a typo is an error, not a silently ignored value."""
    inventory = str(values.get("inventory") or "")
    fleet = bool(inventory)
    on_route = [s.name for s in route(fleet=fleet)]
    until_stage = until_stage or on_route[-1]
    for option, stage in (("--from", from_stage), ("--until", until_stage)):
        if stage not in STAGE_NAMES:
            raise ParameterError(f"{option} {stage!r} is not a stage", f"pick one of: {', '.join(STAGE_NAMES)}")
        if stage not in on_route:
            raise _off_route(option, stage, fleet)
    first, last = on_route.index(from_stage), on_route.index(until_stage)
    if first > last:
        raise ParameterError(f"--from {from_stage} comes after --until {until_stage}", "swap them")
    declared = {stage: declared_parameters(notebook_of(stage)) for stage in STAGE_NAMES}
    every = sorted({name for names in declared.values() for name in names})
    unknown = sorted((given or set()) - set(every))
    if unknown:
        raise ParameterError(f"unknown parameter(s): {', '.join(unknown)}", f"the stage notebooks take: {', '.join(every)}")
    stages = on_route[first:last + 1]
    parameters: dict[str, dict[str, Any]] = {}
    for stage in stages:
        missing = sorted(set(declared[stage]) - set(values))
        if missing:
            raise ParameterError(f"{notebook_of(stage).name} declares parameter(s) qganb run has no value for: "
                                 f"{', '.join(missing)}", "give them with -p NAME=VALUE")
        parameters[stage] = {k: values[k] for k in declared[stage]}
    return RunPlan(stages, parameters, inventory)


class _TeeLog:
    """A file-like sink for papermill's stdout_file: lines go to the terminal and the stage log."""

    def __init__(self, path: Path, on_line: LineSink | None) -> None:
        self.file = path.open("w", encoding="utf-8")
        self.on_line = on_line
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self.pending = ""

    def write(self, text: str) -> int:
        self.file.write(text)
        self.file.flush()
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.tail.append(line)
            if self.on_line is not None:
                self.on_line(line)
        return len(text)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        if self.pending:
            self.write("\n")
        self.file.close()


class LogFollower:
    """Follows the file the stages' long commands append their log lines to (display.LogTail),
    passing each complete line to `on_line` from a background thread while a stage runs, and
    keeping the last lines for the error report of a failed stage."""

    def __init__(self, path: Path, on_line: LineSink | None) -> None:
        self.path = path
        self.on_line = on_line
        self.tail: collections.deque[str] = collections.deque(maxlen=30)
        path.write_text("")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="qganb-log-follower", daemon=True)

    def __enter__(self) -> LogFollower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _follow(self) -> None:
        pending = ""
        with self.path.open(encoding="utf-8", errors="replace") as stream:
            while True:
                stopping = self._stop.is_set()  # read once more after the stop, then end
                pending += stream.read()
                *lines, pending = pending.split("\n")
                for line in lines:
                    self._take(line)
                if stopping:
                    break
                self._stop.wait(0.1)
        if pending:
            self._take(pending)

    def _take(self, line: str) -> None:
        self.tail.append(line)
        if self.on_line is not None:
            self.on_line(line)


@dataclass
class RunResult:
    run_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
    report: Path | None = None
    verification: VerifyRecord | None = None  # when the verify stage ran in this run
    rollout: RolloutRecord | None = None  # when the rollout stage ran in this run


def run_stages(plan: RunPlan, run_dir: RunDir, *, say: LineSink = print, on_line: LineSink | None = None) -> RunResult:
    """Execute the planned notebooks in order into `run_dir/notebooks/`; stop at the first failure."""
    from qganb.notebook.kernels import KernelsAhead

    result = RunResult(run_dir.path, _load_timings(run_dir))
    before = stage_before(plan.stages[0], fleet=plan.fleet)
    if before is not None:
        run_dir.load(before.record)  # the stage before, on this run's route, must have run
    out_dir = run_dir.subdir("notebooks")
    sockets = Path(tempfile.mkdtemp(prefix="qganb-k"))  # the kernels' sockets and the log stream
    # Long commands inside a stage (rpmbuild) append their log to a file this process follows. The
    # kernels inherit the variable; it is put back afterwards (`%qga_run` runs inside a kernel).
    stream = sockets / "stream.log"
    previous_stream = os.environ.get(STREAM_ENV)
    os.environ[STREAM_ENV] = str(stream)
    kernels = KernelsAhead(sockets, notebooks_dir())
    try:
        _run_each(plan, run_dir, result, kernels, out_dir, stream, say, on_line)
    finally:
        kernels.close()
        shutil.rmtree(sockets, ignore_errors=True)
        if previous_stream is None:
            os.environ.pop(STREAM_ENV, None)
        else:
            os.environ[STREAM_ENV] = previous_stream
    from qganb.notebook.report import write_report

    if "verify" in plan.stages:
        from qganb.stages.verify import recorded_verification

        result.verification = recorded_verification(run_dir)
    if RolloutRecord.STAGE in plan.stages:
        result.rollout = run_dir.loaded(RolloutRecord)
    result.report = write_report(run_dir, result.timings)
    return result


def _run_each(plan: RunPlan, run_dir: RunDir, result: RunResult, kernels: KernelsAhead, out_dir: Path,
              stream: Path, say: LineSink, on_line: LineSink | None) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from qganb.notebook.kernels import ENGINE

    for number, stage in enumerate(plan.stages, 1):
        notebook = notebook_of(stage)
        output = out_dir / notebook.name
        say(f"[{number}/{len(plan.stages)}] {stage}: {notebook.name}")
        log = _TeeLog(run_dir.log(f"{stage}.notebook"), on_line)
        started = time.monotonic()
        km = kernels.take(more=number < len(plan.stages))
        follower = LogFollower(stream, on_line)
        try:
            with follower:
                papermill.execute_notebook(str(notebook), str(output), parameters=plan.parameters[stage],
                                           cwd=str(notebook.parent), kernel_name="python3", progress_bar=False,
                                           log_output=False, stdout_file=log, stderr_file=log,
                                           report_mode=False, engine_name=ENGINE, km=km)
        except PapermillExecutionError as exc:
            log.close()
            result.timings[stage] = round(time.monotonic() - started, 1)
            _save_timings(run_dir, result.timings, failed=stage)
            # The end of the long command's log (rpmbuild's), then what the notebook itself printed.
            tail = list(follower.tail) + list(log.tail)
            raise StageFailed(stage, output, exc.exec_count, exc.ename, exc.evalue, tail[-40:],
                              run_dir.path, resume=["--inventory", plan.inventory] if plan.fleet else []) from exc
        finally:
            kernels.stop(km)  # normally nbclient has already shut it down
        log.close()
        result.timings[stage] = round(time.monotonic() - started, 1)
        _save_timings(run_dir, result.timings)
        say(f"      done in {result.timings[stage]:.1f} s")


def _load_timings(run_dir: RunDir) -> dict[str, float]:
    path = run_dir.path / "timings.json"
    return json.loads(path.read_text())["stages"] if path.is_file() else {}


def _save_timings(run_dir: RunDir, timings: dict[str, float], failed: str | None = None) -> None:
    (run_dir.path / "timings.json").write_text(json.dumps({"stages": timings, "failed": failed}, indent=2) + "\n")


def _absolute_if_local(value: str | None) -> str:
    """Local paths, made absolute: the notebooks run with notebooks/ as their working directory."""
    if value and Path(value).exists():
        return str(Path(value).resolve())
    return value or ""


@dataclass
class RunRequest:
    """What the operator asked `qganb run` for: the notebooks' parameters and which stages."""

    values: dict[str, Any]  # notebook parameter -> value (recipes None: resume them from the run)
    given: set[str] = field(default_factory=set)  # names passed with -p: each must be some notebook's
    run: str = ""  # the run directory; empty: a new one under runs/
    from_stage: str = STAGE_NAMES[0]
    until_stage: str = ""  # empty: the route's last stage (verify, or rollout with an inventory)
    # Install the spec's missing BuildRequires in prep and build (notebook parameter install_builddeps).
    install_builddeps: bool = False


def start_run(request: RunRequest, *, say: LineSink = print, on_line: LineSink | None = None) -> RunResult:
    """Plan the run, refusing bad parameters before any directory exists, then run its stages.

    Without recipes, a run resumed after its edit stage takes the recipes that stage applied."""
    values = dict(request.values)
    values["install_builddeps"] = bool(values.get("install_builddeps", False)) or request.install_builddeps
    for name in ("srpm", "identity", "known_hosts", "stock"):
        values[name] = _absolute_if_local(values.get(name))
    if inventory := values.get("inventory"):
        if not Path(inventory).exists():
            raise ParameterError(f"--inventory {inventory}: no such file or directory",
                                 "give the path of an Ansible inventory (INI or YAML)")
        values["inventory"] = str(Path(inventory).resolve())
    if values.get("rpms"):
        values["rpms"] = [str(Path(p).resolve()) for p in values["rpms"]]
    existing = RunDir(request.run) if request.run and Path(request.run).is_dir() else None
    if values.get("recipes") is None:
        edited = existing.loaded(EditRecord) if existing is not None and request.from_stage != STAGE_NAMES[0] else None
        if edited is None:
            raise ParameterError("qganb run needs at least one --recipe", "add --recipe recipes/NAME.yaml")
        values["recipes"] = edited.recipes
    else:
        values["recipes"] = [str(Path(r).resolve()) for r in values["recipes"]]
    # The parameters are checked first: only a run whose parameters are right gets a directory.
    plan_run({**values, "run_dir": ""}, given=request.given, from_stage=request.from_stage,
             until_stage=request.until_stage or None)
    run_dir = existing or (RunDir(request.run) if request.run else RunDir.create())
    plan = plan_run({**values, "run_dir": str(run_dir.path)}, given=request.given, from_stage=request.from_stage,
                    until_stage=request.until_stage or None)
    say(f"run directory: {run_dir.path}")
    return run_stages(plan, run_dir, say=say, on_line=on_line)
