"""qganb.file_lock: processes take turns, and the one waiting is told who it waits for."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from qganb import file_lock

HOLDER = """
import sys, time
from pathlib import Path
from qganb import file_lock
with file_lock.held(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_second_process_waits_for_the_holder_and_is_told_its_pid(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / "up.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), "1.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        said: list[str] = []
        began = time.monotonic()
        with file_lock.held(lock, on_wait=said.append, what="the other boot"):
            waited = time.monotonic() - began
        # The holder sleeps 1.5 s with the lock after saying so: taking it sooner would be a shared lock.
        assert waited > 1.2
        assert said == [f"waiting for the other boot (pid {holder.pid}) to finish"]
    finally:
        holder.kill()
        holder.wait()


def test_a_free_lock_is_taken_at_once_and_says_nothing(tmp_path: Path) -> None:
    said: list[str] = []
    with file_lock.held(tmp_path / "free.lock", on_wait=said.append):
        with open(tmp_path / "free.lock") as f:
            assert f.read().strip().isdigit()
    assert said == []
    # Released: a second take is immediate too.
    with file_lock.held(tmp_path / "free.lock", on_wait=said.append):
        pass
    assert said == []
