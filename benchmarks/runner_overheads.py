"""Benchmark: what `qganb run` costs beyond the work it wraps, and the edit loop on the guest.

- papermill/kernel start-up per stage: the stage's wall time minus the time its cells ran
  (papermill records each cell's duration in the executed notebook);
- the runner's own peak memory (ru_maxrss of the runner process, kernels and rpmbuild excluded).
  Target <= 300 MB;
- after a change to a recipe's C body, the time until it is verified on the guest through virsh
  (`qganb run --run SAME --from edit`), against the first full run. Target <= 0.6 x. Each repeat's
  first full run starts with an empty compiler cache of its own, as a first run on a new src.rpm
  does; the loop then re-uses the prepped tree and what that run compiled.

Writes benchmarks/results/runner_overheads.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from qganb.testbed import guest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
RECIPE = ROOT / "recipes" / "guest-set-watchdog-timeout.yaml"
MESSAGE = '"cannot write %s: %s"'
# Every round changes the body to text never compiled before, so that no compiler cache can answer
# for it: the edit loop is measured with a real compile of the edited file.
RUN_ID = uuid.uuid4().hex[:8]


def variant(round_number: int) -> str:
    return f'"cannot write %s: %s (round {RUN_ID}-{round_number})"'

REPEATS = int(os.environ.get("QGANB_BENCH_REPEATS", "3"))
# Runs the CLI in this process, then reports this process's own peak RSS in KiB on stderr.
MEASURE = ("import resource, sys; from qganb.cli import main; code = main(sys.argv[1:]); "
           "print('maxrss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
           "raise SystemExit(code)")


def qganb_run(*args: str, ccache: Path) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", MEASURE, "run", "--quiet", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "CCACHE_DIR": str(ccache)})
    if done.returncode != 0:
        raise SystemExit(f"qganb run failed:\n{done.stderr[-3000:]}")
    rss = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("maxrss_kib")))
    return time.monotonic() - started, rss


def kernel_overheads(run: Path) -> dict[str, float]:
    timings = json.loads((run / "timings.json").read_text())["stages"]
    overheads = {}
    for stage, wall in timings.items():
        notebook = next((run / "notebooks").glob(f"*-{stage}.ipynb"))
        cells = json.loads(notebook.read_text())["cells"]
        ran = sum(c["metadata"].get("papermill", {}).get("duration") or 0.0 for c in cells)
        overheads[stage] = round(wall - ran, 2)
    return overheads


def main() -> int:
    guest.up()
    scratch = Path(tempfile.mkdtemp(prefix="qganb-bench-"))
    try:
        recipe = scratch / RECIPE.name
        full: list[float] = []
        loop: list[float] = []
        warm_full: list[float] = []
        rss: list[int] = []
        overheads: list[dict[str, float]] = []
        for repeat in range(REPEATS):
            run = scratch / f"run-{repeat}"
            recipe.write_text(RECIPE.read_text().replace(MESSAGE, variant(2 * repeat)))
            ccache = scratch / f"ccache-{repeat}"  # empty: this is the first run
            seconds, peak = qganb_run("--recipe", str(recipe), "--run", str(run), ccache=ccache)
            full.append(round(seconds, 1))
            rss.append(peak)
            overheads.append(kernel_overheads(run))
            recipe.write_text(recipe.read_text().replace(variant(2 * repeat), variant(2 * repeat + 1)))
            seconds, peak = qganb_run("--run", str(run), "--from", "edit", ccache=ccache)
            loop.append(round(seconds, 1))
            rss.append(peak)
            # For context, no target: a second full run into a new directory, compiler cache warm.
            seconds, peak = qganb_run("--recipe", str(recipe), "--run", str(scratch / f"warm-{repeat}"), ccache=ccache)
            warm_full.append(round(seconds, 1))
            rss.append(peak)
            print(f"repeat {repeat + 1}: first full run {full[-1]} s, after a body change {loop[-1]} s, "
                  f"full run with a warm compiler cache {warm_full[-1]} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        guest.down()
    per_stage = {stage: round(statistics.median(o[stage] for o in overheads), 2) for stage in overheads[0]}
    ratio = statistics.median(loop) / statistics.median(full)
    peak_mb = max(rss) / 1024
    result = {
        "benchmark": "runner_overheads", "repeats": REPEATS, "full_run_seconds": full,
        "after_body_change_seconds": loop, "loop_vs_full": round(ratio, 3),
        "full_run_warm_cache_seconds": warm_full,
        "loop_vs_full_warm_cache": round(statistics.median(loop) / statistics.median(warm_full), 3),
        "kernel_and_papermill_seconds_per_stage": per_stage,
        "kernel_and_papermill_seconds_total": round(sum(per_stage.values()), 1),
        "runner_peak_rss_mb": round(peak_mb, 1), "own_rss_kib_samples": rss,
        "targets": {"verified on the guest after a body change <= 0.6 x the first full run": ratio <= 0.6,
                    "runner peak RSS <= 300 MB": peak_mb <= 300},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "runner_overheads.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"full run median {statistics.median(full)} s, after a body change {statistics.median(loop)} s: "
          f"ratio {ratio:.2f}; kernel+papermill {result['kernel_and_papermill_seconds_total']} s per run; "
          f"runner peak RSS {peak_mb:.0f} MB")
    for target, passed in result["targets"].items():
        print(f"{'PASS' if passed else 'FAIL'}: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
