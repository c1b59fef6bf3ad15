"""Runs external commands from argv lists (never a shell string), streaming output to a log."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qganb.errors import CommandFailed, CommandTimedOut, ToolMissing

TAIL_LINES = 40
# Long enough for a full rpmbuild of QEMU on a slow host; callers with shorter work pass less.
RUN_TIMEOUT = 4 * 3600.0
SHORT_TIMEOUT = 300.0

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class CommandResult:
    argv: list[str]
    returncode: int
    output: str

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


def require_tool(name: str, package: str) -> str:
    """Path of `name` on PATH, or a ToolMissing naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"`{name}` is not installed", f"install the `{package}` package (or run `make setup`)")
    return path


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    on_line: LineSink | None = None,
    check: bool = True,
    fix: str | None = None,
    input_text: str | None = None,
    timeout: float = RUN_TIMEOUT,
) -> CommandResult:
    """Run argv, merging stderr into stdout.

    Each output line goes to `log_path` (appended) and to `on_line` as it arrives, so long
    builds show progress. On a non-zero exit with `check`, raises CommandFailed carrying the
    last TAIL_LINES lines and the log's path. Past `timeout` seconds the command is killed and
    CommandTimedOut raised.
    """
    args = [os.fspath(a) for a in argv]
    full_env = {**os.environ, **env} if env is not None else None
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    kept: list[str] = []
    log = open(log_path, "a", encoding="utf-8") if log_path is not None else None
    proc: subprocess.Popen[str] | None = None
    try:
        if log is not None:
            log.write(f"$ {' '.join(args)}\n")
            log.flush()
        try:
            proc = subprocess.Popen(
                args,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                # Its own process group, so a timeout stops rpmbuild's make and compilers too.
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ToolMissing(f"`{args[0]}` is not installed", "run `make setup`") from exc
        # The output loop blocks on the pipe, so the limit is enforced from a timer thread.
        expired = threading.Event()
        started = proc

        def stop() -> None:
            expired.set()
            _kill_group(started)

        watchdog = threading.Timer(timeout, stop)
        watchdog.daemon = True
        watchdog.start()
        if input_text is not None:
            assert proc.stdin is not None
            proc.stdin.write(input_text)
            proc.stdin.close()
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            kept.append(line)
            if log is not None:
                log.write(line + "\n")
                log.flush()
            if on_line is not None:
                on_line(line)
        returncode = proc.wait()
        watchdog.cancel()
        if expired.is_set():
            if log is not None:
                log.write(f"(stopped after {timeout:g} s)\n")
            raise CommandTimedOut(args, timeout, fix)
    except BaseException:
        if proc is not None and proc.poll() is None:
            _kill_group(proc)  # an interrupted caller must not leave a build running
        raise
    finally:
        if log is not None:
            log.close()
    if check and returncode != 0:
        raise CommandFailed(args, returncode, list(tail), str(log_path) if log_path else None, fix)
    return CommandResult(args, returncode, "\n".join(kept))


def captured(argv: Sequence[str | os.PathLike[str]], *, timeout: float = SHORT_TIMEOUT,
             cwd: str | os.PathLike[str] | None = None, fix: str | None = None) -> subprocess.CompletedProcess[str]:
    """A short command's exit status, stdout and stderr, whatever its exit status; stopped after
    `timeout` seconds with CommandTimedOut."""
    args = [os.fspath(a) for a in argv]
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=True, errors="replace", check=False,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise ToolMissing(f"`{args[0]}` is not installed", "run `make setup`") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandTimedOut(args, timeout, fix) from exc


def output_of(argv: Sequence[str | os.PathLike[str]], *, cwd: str | os.PathLike[str] | None = None,
              timeout: float = SHORT_TIMEOUT) -> str:
    """stdout of a short command that must succeed (stderr kept apart so it cannot pollute)."""
    args = [os.fspath(a) for a in argv]
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)
    except FileNotFoundError as exc:
        raise ToolMissing(f"`{args[0]}` is not installed", "run `make setup`") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandTimedOut(args, timeout) from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-TAIL_LINES:]
        raise CommandFailed(args, done.returncode, tail)
    return done.stdout
