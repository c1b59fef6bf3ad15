"""Benchmark: the test guest's image build time and its start time to "agent answers guest-ping".

The image build time is the one recorded when the image was built (`image.json`, built on first
`qganb testbed up`); the start time is measured here, REPEATS times, each from a stopped guest.
Writes benchmarks/results/testbed_start.json.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from qganb.testbed import guest

REPEATS = 3
TARGET_BOOT_SECONDS = 60.0
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    guest.down()
    first = guest.up()  # builds the image when it is not cached yet
    image = guest.current_image()
    boots = [first["boot"]]
    for _ in range(REPEATS - 1):
        guest.down()
        boots.append(guest.up()["boot"])
    guest.down()
    result = {
        "benchmark": "testbed_start",
        "image": image.directory.name,
        "image_build_seconds": image.info()["build_seconds"],
        "boot_to_guest_ping_seconds": [round(b, 2) for b in boots],
        "boot_median": round(statistics.median(boots), 2),
        "target": f"boot to guest-ping < {TARGET_BOOT_SECONDS:g} s (TCG, 1 vCPU)",
        "passed": statistics.median(boots) < TARGET_BOOT_SECONDS,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "testbed_start.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"image build: {result['image_build_seconds']} s; boot to guest-ping: median {result['boot_median']} s "
          f"over {REPEATS} starts")
    print(f"{'PASS' if result['passed'] else 'FAIL'}: {result['target']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
