"""Benchmark: `qganb install` against the same install done by hand on the testbed guest.

The bare sequence is what an operator types: `scp` the RPM, `ssh ... rpm -U`, `ssh ... systemctl restart
qemu-guest-agent`, then `virsh qemu-agent-command ... guest-ping` until the agent answers. `qganb install`
does that with every safety check (host key, root, lock, agent through libvirt before and after, blocking
configuration, a previous RPM to roll back to, the transaction detached from SSH, the stability check).
Both sides reinstall the guest's stock build (`--replacepkgs` / `--reinstall`), alternating, REPEATS
times each; the figure is the ratio of the medians. Target: <= 1.3x.

`qganb install` runs as the CLI does (a new process), and its own phase times come from its record.
Writes benchmarks/results/install_overhead.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from qganb.agent.transport import DEFAULT_URI
from qganb.testbed import guest, libvirt_host

RESULTS = Path(__file__).resolve().parent / "results"
REPEATS = int(os.environ.get("QGANB_BENCH_REPEATS", "5"))
SERVICE = "qemu-guest-agent"


def bare_install(rpm: Path) -> float:
    image = guest.current_image()
    ssh = guest.ssh_argv(image)
    options, destination = ssh[1:-1], ssh[-1]
    # scp takes -P for the port where ssh takes -p.
    scp_options = ["-P" if word == "-p" else word for word in options]
    started = time.monotonic()
    subprocess.run(["scp", "-q", *scp_options, str(rpm), f"{destination}:/var/tmp/{rpm.name}"], check=True)
    subprocess.run([*ssh, "--", "rpm", "-U", "--replacepkgs", "--nodeps", f"/var/tmp/{rpm.name}"], check=True,
                   capture_output=True)
    subprocess.run([*ssh, "--", "systemctl", "restart", SERVICE], check=True)
    deadline = started + 120
    while not libvirt_host.agent_ping(guest.DOMAIN):
        if time.monotonic() > deadline:
            raise SystemExit("the agent did not answer guest-ping within 120 s of the bare install")
        time.sleep(0.1)
    return time.monotonic() - started


def qganb_install(rpm: Path, record_path: Path) -> tuple[float, dict[str, float]]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "qganb", "install", "--rpm", str(rpm), "--reinstall",
                           "--record", str(record_path)], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"qganb install failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    record = json.loads(record_path.read_text())
    return seconds, {k: round(v, 2) for k, v in record.get("seconds", {}).items()}


def main() -> int:
    guest.up()
    RESULTS.mkdir(exist_ok=True)
    rpm = guest.stock_agent_rpm()
    guest.start_from(rpm)  # both sides then reinstall the very build the guest runs
    bare: list[float] = []
    ours: list[float] = []
    phases: list[dict[str, float]] = []
    try:
        for repeat in range(REPEATS):
            # Alternate which side goes first: the guest's caches warm up as the rounds go.
            sides = ("bare", "qganb") if repeat % 2 == 0 else ("qganb", "bare")
            for side in sides:
                if side == "bare":
                    bare.append(round(bare_install(rpm), 2))
                else:
                    seconds, phase = qganb_install(rpm, RESULTS / ".install-record.json")
                    ours.append(round(seconds, 2))
                    phases.append(phase)
            print(f"repeat {repeat + 1}: bare {bare[-1]} s, qganb install {ours[-1]} s ({phases[-1]})", flush=True)
    finally:
        (RESULTS / ".install-record.json").unlink(missing_ok=True)
        guest.down()
    ratio = statistics.median(ours) / statistics.median(bare)
    per_phase = {k: round(statistics.median(p.get(k, 0.0) for p in phases), 2) for k in phases[0]}
    result = {
        "benchmark": "install_overhead", "repeats": REPEATS, "uri": DEFAULT_URI, "rpm": rpm.name,
        "bare_seconds": bare, "qganb_install_seconds": ours, "qganb_phase_seconds_median": per_phase,
        "install_vs_bare": round(ratio, 3),
        "targets": {"qganb install <= 1.3 x the bare scp + rpm -U + restart + guest-ping": ratio <= 1.3},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "install_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"bare median {statistics.median(bare)} s, qganb install median {statistics.median(ours)} s: "
          f"ratio {ratio:.2f}; qganb phases {per_phase}")
    for target, passed in result["targets"].items():
        print(f"{'PASS' if passed else 'FAIL'}: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
