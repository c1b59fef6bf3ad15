"""An exclusive lock on a file, shared by processes on this host: two `qganb` processes doing the same
cached work (a guest boot, a stock rebuild, a validate workspace) take turns instead of colliding."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def held(path: Path, *, on_wait: Callable[[str], None] | None = None, what: str = "") -> Iterator[None]:
    """Hold the lock on `path` (created if needed) for the block. When another process holds it,
    `on_wait` is told once, naming `what` and that process, and the call waits for it to finish.
    The holder's pid is written into the file for that message only: the lock is flock's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                lock.seek(0)
                holder = lock.read().strip()
                on_wait(f"waiting for {what or path.name}"
                        + (f" (pid {holder})" if holder.isdigit() else "") + " to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            lock.seek(0)
            lock.truncate()
            lock.write(f"{os.getpid()}\n")
            lock.flush()
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
