"""Rebuilds a qemu-guest-agent src.rpm on this host and checks that its qemu-ga answers.

Used by `make demo` to show a fixture working end to end: `python -m qganb.testbed.smoke SRPM`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from qganb import build_host
from qganb.errors import CommandFailed, QganbError
from qganb.local_agent import LocalAgent
from qganb.process import output_of, run
from qganb.rpm_payload import extract_payload


def rebuild_and_ping(srpm: Path, workdir: Path) -> dict[str, object]:
    """rpmbuild --rebuild the src.rpm, unpack the binary RPM, start its qemu-ga, return guest-info."""
    release = output_of(["rpm", "-qp", "--nosignature", "--qf", "%{RELEASE}", srpm]).strip()
    dist = "." + release.split(".", 1)[1] if "." in release else None
    topdir = workdir / "rpmbuild"
    log = workdir / "rebuild.log"
    print(f"rpmbuild --rebuild {srpm.name} (log: {log})", flush=True)
    argv = ["rpmbuild", "--rebuild", *build_host.rpmbuild_host_args(topdir, dist=dist, log_path=log), srpm]
    if build_host.needs_nodeps():
        argv.insert(2, "--nodeps")
    run(argv, log_path=log)
    rpms = sorted((topdir / "RPMS").rglob("*.rpm"))
    for rpm in rpms:
        print(f"built {rpm.name}", flush=True)
    root = extract_payload(rpms[0], workdir / "payload")
    with LocalAgent(root / "usr/bin/qemu-ga") as agent, agent.client() as client:
        client.execute("guest-ping")
        info: dict[str, object] = client.execute("guest-info")
    return info


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m qganb.testbed.smoke SRPM", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="qganb-smoke-") as tmp:
        try:
            info = rebuild_and_ping(Path(argv[0]).resolve(), Path(tmp))
        except CommandFailed as exc:
            print(f"error: {exc}\n{exc.details()}", file=sys.stderr)
            return 1
        except QganbError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    commands = info["supported_commands"]
    assert isinstance(commands, list)
    print(f"qemu-ga {info['version']} answers guest-ping; guest-info lists {len(commands)} commands:")
    names = sorted(c["name"] for c in commands)
    for i in range(0, len(names), 4):
        print("  " + "  ".join(f"{n:<30}" for n in names[i:i + 4]).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
