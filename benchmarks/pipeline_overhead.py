"""Benchmark: `qganb run` against the same steps typed by hand (bare_pipeline.sh).

Same src.rpm (the el7 x QEMU 7.2 fixture), same recipe, same test guest, reset to its stock agent
before every side. The sides alternate (in order, then reversed, ...) REPEATS times and the ratio
of the medians is the figure. Target: qganb <= 1.15 x bare.

qganb builds with ccache by default (the bare script does not), and its cache is warm here, from
the warm-up run. So a third side, `qganb run` with QGANB_CCACHE=0, shows the overhead of the
wrapper alone, building exactly as the bare script does.
Writes benchmarks/results/pipeline_overhead.json.
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
from pathlib import Path

from qganb.rpm import build_host
from qganb.agent.transport import wait_for_agent
from qganb.agent.virsh import VirshAgent
from qganb.rpm.query import NEVRA_QUERY, Nevra, nevra_of
from qganb.stages.records import DiffRecord
from qganb.stages.pipeline import run_packaging
from qganb.stages.run_dir import RunDir
from qganb.guest.ssh import SshClient
from qganb.testbed import guest
from qganb.testbed.fixture_srpm import build_fixture_srpm

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
RECIPE = ROOT / "recipes" / "guest-set-watchdog-timeout.yaml"
CALL = '{"execute":"guest-set-watchdog-timeout","arguments":{"timeout":60}}'
REPEATS = int(os.environ.get("QGANB_BENCH_REPEATS", "3"))
TARGET = 1.15


def reset_guest() -> None:
    """The stock agent, answering: each side starts from the same guest."""
    stock = guest.stock_agent_rpm()
    with SshClient(guest.ssh_target()) as ssh:
        installed = str(Nevra.parse_query(ssh.run(["rpm", "-q", "--qf", NEVRA_QUERY, "qemu-guest-agent"]).stdout))
        if installed != str(nevra_of(stock)):
            ssh.upload([stock], "/var/tmp")
            ssh.run(["rpm", "-Uvh", "--nodeps", "--oldpackage", "--replacepkgs", f"/var/tmp/{stock.name}"])
            ssh.run(["systemctl", "restart", "qemu-guest-agent"])
    wait_for_agent(VirshAgent(guest.DOMAIN), timeout=120)


def bare(srpm: Path, patch: Path, scratch: Path) -> float:
    work = Path(tempfile.mkdtemp(prefix="bare-", dir=scratch))
    image = guest.current_image()
    # What rpmbuild needs on this host, as qganb passes it, minus the topdir the script sets itself.
    host_args = [str(a) for a in build_host.rpmbuild_host_args(work / "rpmbuild", dist=".el7")[2:]]
    started = time.monotonic()
    subprocess.run([ROOT / "benchmarks" / "bare_pipeline.sh", srpm, patch, work, str(guest.ssh_port()),
                    image.client_key, guest.known_hosts_path(), guest.DOMAIN, CALL],
                   check=True, capture_output=True, env={**os.environ, "RPMBUILD_HOST_ARGS": "\n".join(host_args)})
    return time.monotonic() - started


def qganb(srpm: Path, scratch: Path, stages: list[dict[str, float]], *, ccache: bool = True) -> float:
    run = Path(tempfile.mkdtemp(prefix="qganb-", dir=scratch))
    env = {**os.environ, "QGANB_CCACHE": "1" if ccache else "0"}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "qganb", "run", "--quiet", "--srpm", str(srpm), "--recipe", str(RECIPE),
                    "--run", str(run)], check=True, capture_output=True, cwd=ROOT, env=env)
    seconds = time.monotonic() - started
    stages.append(json.loads((run / "timings.json").read_text())["stages"])
    return seconds


def main() -> int:
    guest.up()
    srpm = build_fixture_srpm(*guest.STOCK_FIXTURE).path
    scratch = Path(tempfile.mkdtemp(prefix="qganb-bench-"))
    try:
        # The bare script applies the very edit qganb makes: take it from one untimed packaging run.
        warm = RunDir(scratch / "warm-up")
        run_packaging(str(srpm), [RECIPE], warm)
        patch = warm.load(DiffRecord).path
        stages: dict[str, list[dict[str, float]]] = {"qganb": [], "qganb-no-ccache": []}
        sides = {"bare": lambda: bare(srpm, patch, scratch),
                 "qganb": lambda: qganb(srpm, scratch, stages["qganb"]),
                 "qganb-no-ccache": lambda: qganb(srpm, scratch, stages["qganb-no-ccache"], ccache=False)}
        times: dict[str, list[float]] = {side: [] for side in sides}
        for repeat in range(REPEATS):
            order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
            for side in order:
                reset_guest()
                times[side].append(round(sides[side](), 1))
                print(f"repeat {repeat + 1}: {side} {times[side][-1]} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        guest.down()
    ratio = statistics.median(times["qganb"]) / statistics.median(times["bare"])
    uncached = statistics.median(times["qganb-no-ccache"]) / statistics.median(times["bare"])
    median_stages = {side: {stage: statistics.median(run[stage] for run in runs) for stage in runs[0]}
                     for side, runs in stages.items()}
    result = {"benchmark": "pipeline_overhead", "recipe": RECIPE.name, "srpm": srpm.name, "repeats": REPEATS,
              "seconds": times, "median_bare": statistics.median(times["bare"]),
              "median_qganb": statistics.median(times["qganb"]), "ratio": round(ratio, 3),
              "median_qganb_no_ccache": statistics.median(times["qganb-no-ccache"]),
              "ratio_no_ccache": round(uncached, 3), "median_stage_seconds": median_stages,
              "targets": {f"qganb run <= {TARGET} x the bare script": ratio <= TARGET}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pipeline_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"bare median {result['median_bare']} s, qganb run median {result['median_qganb']} s: ratio {ratio:.2f}")
    print(f"qganb run without compiler caching (QGANB_CCACHE=0): median {result['median_qganb_no_ccache']} s, "
          f"ratio {uncached:.2f}")
    for target, passed in result["targets"].items():
        print(f"{'PASS' if passed else 'FAIL'}: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
