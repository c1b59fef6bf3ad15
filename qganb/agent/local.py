"""Runs a qemu-ga binary on this host, listening on a unix socket, with no VM (as QEMU's tests do),
inside a throwaway sandbox unless told otherwise (see qganb.agent.sandbox)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from qganb.agent.sandbox import Sandbox
from qganb.agent.unix_socket import AgentSocket
from qganb.errors import AgentError, AgentNotConnected


class LocalAgent:
    """`qemu-ga -m unix-listen -p SOCKET -t STATEDIR` as a context manager.

    The socket lives in a short temporary directory: unix socket paths are limited to 107 bytes.
    """

    def __init__(self, binary: str | Path, extra_args: Sequence[str] = (), start_timeout: float = 20.0,
                 env: Mapping[str, str] | None = None, sandbox: Sandbox | None = None) -> None:
        self.binary = Path(binary)
        self.sandbox = sandbox  # None: the agent runs unconfined, as this user
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="qganb-qga-"))
        self.socket_path = self.workdir / "qga.sock"
        self.state_dir = self.workdir / "state"
        self.log_path = self.workdir / "qemu-ga.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalAgent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> list[str]:
        if not self.log_path.exists():
            return []
        return self.log_path.read_text(errors="replace").splitlines()[-lines:]

    def start(self) -> None:
        if not os.access(self.binary, os.X_OK):
            raise AgentError(f"{self.binary} is not an executable qemu-ga", "point at the built qemu-ga binary")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(self.binary), "-m", "unix-listen", "-p", str(self.socket_path),
                "-t", str(self.state_dir), *self.extra_args]
        if self.sandbox is not None:
            binary = self.binary.resolve()  # bound read-only at its own path: it may sit under /tmp
            argv = self.sandbox.argv([str(binary), *argv[1:]], shared=[self.workdir], visible=[binary])
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          env={**os.environ, **self.env})
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = " | ".join(self.log_tail(5)) or "no output"
                raise AgentNotConnected(
                    f"{self.binary} exited with status {self._proc.returncode} at start: {tail}",
                    "run it by hand with the same arguments to see why",
                )
            if self.socket_path.exists():
                try:
                    with self.client(timeout=2.0) as agent:
                        agent.execute("guest-ping")
                    return
                except AgentNotConnected:
                    pass
            time.sleep(0.002)  # qemu-ga is up in milliseconds; validate waits for this on every run
        self.stop()
        raise AgentNotConnected(f"{self.binary} did not answer guest-ping within {self.start_timeout:g} s",
                                f"see its log at {self.log_path}")

    def exit_description(self) -> str | None:
        """How the agent process ended ("killed by signal 11", "exited with status 1"), or None if running."""
        if self._proc is None or self._proc.poll() is None:
            return None
        code = self._proc.returncode
        if self.sandbox is not None and code > 128:
            code = 128 - code  # bwrap exits with 128 + the signal that killed the agent
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"killed by signal {-code} ({name})"
        return f"exited with status {code}"

    def client(self, timeout: float = 10.0) -> AgentSocket:
        return AgentSocket(self.socket_path, timeout=timeout)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)
