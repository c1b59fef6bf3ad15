"""Benchmark: a cached fixture request costs about as little as reading the src.rpm's header.

Side by side in one run, alternating the two sides, repeated: `qganb testbed srpm` on a warm cache
against a bare `rpm -qp` of the same file. Target: the warm request takes under 1 s.
Writes benchmarks/results/fixture_cache.json.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPEATS = 5
TARGET_SECONDS = 1.0
RESULTS = Path(__file__).resolve().parent / "results"


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout.strip()


def main() -> int:
    qganb = [sys.executable, "-m", "qganb", "testbed", "srpm", "--qemu", "7.2", "--style", "el7"]
    _, srpm = timed(qganb)  # make sure it is built; not measured
    bare = ["rpm", "-qp", "--nosignature", srpm]
    warm: list[float] = []
    header: list[float] = []
    for _ in range(REPEATS):
        warm.append(timed(qganb)[0])
        header.append(timed(bare)[0])
    result = {
        "benchmark": "fixture_cache",
        "python": platform.python_version(),
        "repeats": REPEATS,
        "qganb_warm_seconds": warm,
        "rpm_qp_seconds": header,
        "qganb_warm_median": statistics.median(warm),
        "rpm_qp_median": statistics.median(header),
        "ratio_median": statistics.median(warm) / statistics.median(header),
        "targets": {f"warm request < {TARGET_SECONDS} s": statistics.median(warm) < TARGET_SECONDS},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fixture_cache.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"warm `qganb testbed srpm`: median {result['qganb_warm_median']:.3f} s; "
          f"bare `rpm -qp`: median {result['rpm_qp_median']:.3f} s; ratio {result['ratio_median']:.1f}x")
    for target, passed in result["targets"].items():
        print(f"{'PASS' if passed else 'FAIL'}: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
