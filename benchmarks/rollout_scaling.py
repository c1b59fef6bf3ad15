"""Benchmark: how a rollout batch scales with its size, and what Ansible adds to one install.

Four guests of the testbed fleet. Guest 1 is always the canary; the batch after it holds 1, 2 or 3
guests (--limit picks them, --serial 1,N makes them one batch). The batch's wall time (first start
to last end, from the report's timeline) for 3 guests must stay within 1.6x that for 1 guest.
Ansible's own overhead: a rollout to one guest against `qganb install` (the same transaction over
qganb's own OpenSSH client) of the same RPM on the same guest. The sides alternate, REPEATS times;
every guest goes back to its stock agent before each measurement (not timed).
Writes benchmarks/results/rollout_scaling.json.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from qganb.fleet.rollout import RolloutOptions, rollout
from qganb.guest.ssh import SshClient
from qganb.stages.install import install_rpm
from qganb.testbed import fleet, guest

REPEATS = int(os.environ.get("QGANB_BENCH_REPEATS", "2"))
TARGET_RATIO = 1.6
RESULTS = Path(__file__).resolve().parent / "results"


def _build(workdir: Path) -> Path:
    """The stock package one release up: a real RPM whose install and restart are a real upgrade."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.guest_faults import repackaged_agent_rpm

    return repackaged_agent_rpm(guest.stock_agent_rpm(), workdir, release_suffix=".bench1")


def _batch_seconds(rpm: Path, inventory: Path, size: int, workdir: Path) -> tuple[float, float]:
    """(the batch after the canary, the whole rollout) in seconds."""
    fleet.up_fleet(4)  # every guest on its stock agent again
    hosts = ",".join(fleet.domain_of(i) for i in range(1, size + 2))
    started = time.monotonic()
    report = rollout(inventory, [rpm], [], workdir / f"batch-{size}-{time.time_ns()}",
                     RolloutOptions(serial=f"1,{size}", limit=hosts), say=lambda _: None)
    total = time.monotonic() - started
    if not report.ok:
        raise SystemExit(f"rollout to {hosts} failed:\n{report.table()}")
    batch = [h for h in report.hosts if h.batch == 2]
    assert len(batch) == size, report.table()
    return max(h.ended or 0 for h in batch) - min(h.started or 0 for h in batch), total


def _single(rpm: Path, inventory: Path, workdir: Path) -> tuple[float, float]:
    """(a rollout to guest 1 alone, `qganb install` on guest 1) in seconds."""
    fleet.up_fleet(4)
    started = time.monotonic()
    report = rollout(inventory, [rpm], [], workdir / f"one-{time.time_ns()}",
                     RolloutOptions(serial="1", limit=fleet.domain_of(1)), say=lambda _: None)
    through_ansible = time.monotonic() - started
    if not report.ok:
        raise SystemExit(f"rollout to guest 1 failed:\n{report.table()}")
    fleet.up_fleet(4)
    first = fleet.booted_guest(1)
    started = time.monotonic()
    with SshClient(first.ssh_target()) as ssh:
        install_rpm(ssh, rpm, domain=first.domain, say=lambda _: None)
    return through_ansible, time.monotonic() - started


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="qganb-bench-rollout-") as scratch:
        workdir = Path(scratch)
        rpm = _build(workdir / "build")
        inventory = fleet.up_fleet(4).inventory
        batches: dict[int, list[float]] = {1: [], 2: [], 3: []}
        totals: dict[int, list[float]] = {1: [], 2: [], 3: []}
        ansible_one: list[float] = []
        qganb_install: list[float] = []
        try:
            for _ in range(REPEATS):
                for size in (1, 2, 3):
                    batch, total = _batch_seconds(rpm, inventory, size, workdir)
                    batches[size].append(round(batch, 1))
                    totals[size].append(round(total, 1))
                through_ansible, direct = _single(rpm, inventory, workdir)
                ansible_one.append(round(through_ansible, 1))
                qganb_install.append(round(direct, 1))
        finally:
            fleet.down_fleet()
    median = {size: statistics.median(values) for size, values in batches.items()}
    ratio = round(median[3] / median[1], 3)
    overhead = round(statistics.median(ansible_one) - statistics.median(qganb_install), 1)
    result = {
        "benchmark": "rollout_scaling",
        "repeats": REPEATS,
        "batch_seconds": {str(k): v for k, v in batches.items()},
        "rollout_seconds_with_canary": {str(k): v for k, v in totals.items()},
        "median_batch_seconds": {str(k): v for k, v in median.items()},
        "batch_of_3_vs_1": ratio,
        "one_guest": {"rollout_seconds": ansible_one, "qganb_install_seconds": qganb_install,
                      "ansible_overhead_seconds": overhead},
        "targets": {f"a batch of 3 guests <= {TARGET_RATIO} x a batch of 1": ratio <= TARGET_RATIO},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rollout_scaling.json").write_text(json.dumps(result, indent=2) + "\n")
    print("batch after the canary: " + ", ".join(f"{k} guest(s) {v:.1f} s" for k, v in median.items())
          + f" (3 vs 1: {ratio}x)")
    print(f"one guest: rollout {statistics.median(ansible_one):.1f} s vs qganb install "
          f"{statistics.median(qganb_install):.1f} s (Ansible adds {overhead:.1f} s)")
    for target, passed in result["targets"].items():
        print(f"{'PASS' if passed else 'FAIL'}: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
