"""Benchmark: the test guest's cold and warm start, to "agent answers guest-ping" and to sshd.

- cold: no cached image. The cached one is set aside, `qganb testbed up` builds a new image
  (debootstrap, the stock agent RPM installed, mkfs) and boots it. Done once (a build downloads
  the guest's packages and takes minutes); QGANB_BENCH_COLD=0 skips it. The image set aside
  comes back if the build fails, and is removed once the new one works.
- warm: the image cached, the guest stopped; REPEATS starts.
Writes benchmarks/results/testbed_start.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from pathlib import Path

from qganb.testbed import guest

REPEATS = int(os.environ.get("QGANB_BENCH_REPEATS", "3"))
COLD = os.environ.get("QGANB_BENCH_COLD", "1") != "0"
TARGET_BOOT_SECONDS = 60.0
RESULTS = Path(__file__).resolve().parent / "results"


def cold_start() -> dict[str, float]:
    guest.down()
    guest.stock_agent_rpm()  # built by `make test` already; not part of the guest's start
    old = guest.current_image()
    aside = old.directory.with_name(f".bench-aside-{old.directory.name}")
    old.directory.rename(aside)
    try:
        started = time.monotonic()
        timings = guest.up()
        timings["total"] = time.monotonic() - started
    except BaseException:
        shutil.rmtree(guest.testbed_dir() / old.directory.name, ignore_errors=True)
        aside.rename(old.directory)
        raise
    shutil.rmtree(aside)
    guest.down()
    return timings


def main() -> int:
    cold = cold_start() if COLD else None
    boots: list[float] = []
    sshd: list[float] = []
    for _ in range(REPEATS):
        guest.down()
        timings = guest.up()
        boots.append(round(timings["boot"], 1))
        sshd.append(round(timings["ssh"], 1))
    guest.down()
    image = guest.current_image()
    result = {
        "benchmark": "testbed_start",
        "image": image.directory.name,
        "cold": None if cold is None else {
            "image_build_seconds": round(cold["image"], 1), "boot_to_guest_ping_seconds": round(cold["boot"], 1),
            "boot_to_sshd_seconds": round(cold["ssh"], 1), "total_seconds": round(cold["total"], 1)},
        "warm": {"boot_to_guest_ping_seconds": boots, "boot_to_sshd_seconds": sshd,
                 "median_guest_ping": statistics.median(boots), "median_sshd": statistics.median(sshd)},
        "targets": {f"warm start to guest-ping < {TARGET_BOOT_SECONDS:g} s (TCG, 1 vCPU)":
                    statistics.median(boots) < TARGET_BOOT_SECONDS},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "testbed_start.json").write_text(json.dumps(result, indent=2) + "\n")
    if cold is not None:
        print(f"cold start: image build {cold['image']:.0f} s, then guest-ping after {cold['boot']:.0f} s "
              f"(sshd {cold['ssh']:.0f} s): {cold['total']:.0f} s in all")
    print(f"warm start: guest-ping median {statistics.median(boots)} s, sshd median {statistics.median(sshd)} s "
          f"over {REPEATS} starts")
    for target, passed in result["targets"].items():
        print(f"{'PASS' if passed else 'FAIL'}: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
