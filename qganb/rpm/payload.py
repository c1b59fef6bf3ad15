"""Unpacks an RPM's payload with rpm2cpio | cpio, without installing it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from qganb.errors import CommandFailed, CommandTimedOut
from qganb.process import require_tool

PAYLOAD_TIMEOUT = 1800.0  # a QEMU payload unpacks in seconds; half an hour means stuck


def extract_payload(rpm_path: Path, destination: Path) -> Path:
    """Extract every file of `rpm_path` under `destination` (created); return `destination`."""
    require_tool("rpm2cpio", "rpm2cpio")
    require_tool("cpio", "cpio")
    destination.mkdir(parents=True, exist_ok=True)
    # Two processes joined by a pipe: no shell, so odd file names cannot be interpreted.
    producer = subprocess.Popen(["rpm2cpio", str(rpm_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        consumer = subprocess.run(
            ["cpio", "-idm", "--quiet", "--no-absolute-filenames"],
            stdin=producer.stdout, cwd=destination, capture_output=True, text=True, check=False,
            timeout=PAYLOAD_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        producer.kill()
        producer.wait()
        raise CommandTimedOut(["cpio", "-idm"], PAYLOAD_TIMEOUT,
                              f"check free space and the disk under {destination}") from exc
    assert producer.stdout is not None
    producer.stdout.close()
    producer_err = producer.stderr.read().decode(errors="replace") if producer.stderr else ""
    producer.wait()
    if producer.returncode != 0:
        raise CommandFailed(["rpm2cpio", str(rpm_path)], producer.returncode, producer_err.splitlines()[-10:],
                            fix="check that the file is a complete RPM")
    if consumer.returncode != 0:
        raise CommandFailed(["cpio", "-idm"], consumer.returncode, consumer.stderr.splitlines()[-10:])
    return destination
