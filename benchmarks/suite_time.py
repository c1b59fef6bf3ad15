"""Benchmark: `make test` on a clean clone, as CI runs it (goal: at most 25 minutes on 2 cores).

Clones this checkout's HEAD into a scratch directory (empty cache, compiler cache and venv; the
Debian packages are whatever the machine has) and runs `make test` there with pytest's `-v`
progress and a JUnit report, then reads them: the wall time of the whole run and of pytest, each
xdist worker's busy time, each test group's time (tests/xdist_groups.py) and the slowest tests.

    suite_time.py                       clone, run, write results/suite_time.json (about 30 min)
    suite_time.py --from LOG JUNIT      only read a finished run's `-v` log and JUnit report

Writes benchmarks/results/suite_time.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from fresh_clone import clone_head, timed_make

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
GOAL_SECONDS = 25 * 60
_PROGRESS = re.compile(r"^\[(gw\d+)\] \[\s*\d+%\] (?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (.+?) *$", re.M)
_SUMMARY = re.compile(r"=+ (.*?) in ([\d.]+)s")


def _clean_clone_run(log: Path, junit: Path) -> float:
    """`make test` in a fresh clone of HEAD; its wall time. The log streams to `log`."""
    clone = clone_head("qganb-suite-")
    try:
        env = {**os.environ, "PYTEST_ADDOPTS": f"-v --junitxml={junit}"}
        env.pop("QGANB_CACHE_DIR", None)  # the clone's own, empty cache
        return timed_make(clone, "test", log, env)
    finally:
        shutil.rmtree(clone.parent, ignore_errors=True)


def _key(path_part: str, name: str) -> tuple[str, str]:
    """(file stem, test name): the same test in the `-v` log, the JUnit report and the collection,
    which spell its file differently (a notebook is `notebooks/00-overview::ipynb` in the log)."""
    stem = path_part.replace("::ipynb", "").replace(".ipynb", "").replace(".py", "")
    return stem.replace(".", "/").rsplit("/", 1)[-1], name


def _nodeid_key(nodeid: str) -> tuple[str, str]:
    path_part, _, name = nodeid.rpartition("::")
    return _key(path_part, name)


def _groups_now() -> dict[str, str]:
    """Each test's group, as this checkout's tests/xdist_groups.py assigns them (collection only)."""
    code = ("import json, sys, pytest\n"
            "from tests.xdist_groups import group_of\n"
            "class P:\n"
            "    def pytest_collection_finish(self, session):\n"
            "        self.groups = {i.nodeid: g for i in session.items if (g := group_of(i))}\n"
            "p = P()\n"
            "pytest.main(['--collect-only', '-q', '-n', '0', '-p', 'no:cacheprovider'], plugins=[p])\n"
            "sys.stderr.write(json.dumps(p.groups) + '\\n')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def analyse(log_text: str, junit: Path, wall: float | None) -> dict[str, object]:
    worker_of = {_nodeid_key(m.group(2)): m.group(1) for m in _PROGRESS.finditer(log_text)}
    groups = {_nodeid_key(nodeid): group for nodeid, group in _groups_now().items()}
    per_worker: dict[str, float] = defaultdict(float)
    per_group: dict[str, float] = defaultdict(float)
    tests: list[tuple[float, str]] = []
    for case in ET.parse(junit).iter("testcase"):
        key = _key(case.get("classname", ""), case.get("name", ""))
        seconds = float(case.get("time", "0"))
        per_worker[worker_of.get(key, "?")] += seconds
        per_group[groups.get(key, "single tests")] += seconds
        tests.append((seconds, f"{case.get('classname')}::{case.get('name')}"))
    summary = _SUMMARY.findall(log_text)
    outcome, pytest_seconds = (summary[-1][0], float(summary[-1][1])) if summary else ("", 0.0)
    result: dict[str, object] = {
        "benchmark": "suite_time",
        "make_test_seconds": round(wall, 1) if wall is not None else None,
        "pytest_seconds": pytest_seconds,
        "outcome": outcome,
        "workers": len([w for w in per_worker if w != "?"]),
        "worker_busy_seconds": {w: round(s, 1) for w, s in sorted(per_worker.items()) if w != "?" or s >= 0.05},
        "group_seconds": {g: round(s, 1) for g, s in sorted(per_group.items(), key=lambda x: -x[1])},
        "slowest_tests": [{"seconds": round(s, 1), "test": n} for s, n in sorted(tests, reverse=True)[:15]],
    }
    measured = wall if wall is not None else pytest_seconds
    result["targets"] = {f"`make test` on a clean clone ≤ {GOAL_SECONDS // 60} min": measured <= GOAL_SECONDS}
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", nargs=2, metavar=("LOG", "JUNIT"),
                        help="read a finished run's -v log and JUnit report instead of running")
    parser.add_argument("--wall", type=float, help="with --from: the run's wall time in seconds, if known")
    args = parser.parse_args(argv)
    if args.source:
        log, junit = Path(args.source[0]), Path(args.source[1])
        wall = args.wall
    else:
        scratch = Path(tempfile.mkdtemp(prefix="qganb-suite-log-"))
        log, junit = scratch / "make-test.log", scratch / "junit.xml"
        print(f"make test on a clean clone of HEAD; log: {log}", flush=True)
        wall = _clean_clone_run(log, junit)
    result = analyse(log.read_text(errors="replace"), junit, wall)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "suite_time.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: result[k] for k in ("make_test_seconds", "pytest_seconds", "outcome",
                                             "worker_busy_seconds", "group_seconds")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
