"""Benchmark record of `make demo`: its wall time per stage, written by scripts/demo.sh after a run.

Usage: demo_stages.py RUN_DIR FIXTURE_SECONDS GUEST_UP_SECONDS TOTAL_SECONDS
GUEST_UP_SECONDS is the guest's boot (and image build), which runs beside the stages up to install.
Writes benchmarks/results/demo_stages.json (the stages' times come from the run's timings.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str]) -> int:
    run_dir, fixture, guest_up, total = Path(argv[0]), *(float(a) for a in argv[1:4])
    stages = json.loads((run_dir / "timings.json").read_text())["stages"]
    result = {"benchmark": "demo_stages", "run": run_dir.name, "fixture_seconds": fixture,
              "testbed_up_seconds": guest_up, "testbed_up_beside_stages": True, "stage_seconds": stages,
              "stages_total_seconds": round(sum(stages.values()), 1), "demo_total_seconds": total}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "demo_stages.json").write_text(json.dumps(result, indent=2) + "\n")
    print("demo wall time: fixture {:.0f} s, guest up {:.0f} s (beside the stages), ".format(fixture, guest_up)
          + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items()) + f"; total {total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
