"""The unix-socket back end of the agent seam: the QEMU Guest Agent protocol (newline-delimited JSON)
spoken to a qemu-ga listening with `-m unix-listen -p PATH`, as QEMU's own tests do."""

from __future__ import annotations

import json
import random
import socket
import time
from pathlib import Path
from typing import Any

from qganb.agent.transport import command_error
from qganb.errors import AgentNotConnected, AgentTimedOut


class AgentSocket:
    """One connection to a qemu-ga listening socket (`qemu-ga -m unix-listen -p PATH`)."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.path = str(path)
        self.timeout = timeout
        self.name = self.path
        self.description = f"the agent on {self.path}"
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._stale = False  # a reply we stopped waiting for may still arrive: sync before the next command

    def __enter__(self) -> AgentSocket:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise AgentNotConnected(
                f"cannot connect to the agent socket {self.path}: {exc.strerror or exc}",
                "check that qemu-ga is running with `-m unix-listen -p` on that path",
            ) from exc
        self._sock = sock
        self.sync()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self, message: dict[str, Any]) -> None:
        assert self._sock is not None, "connect() first"
        self._sock.sendall(json.dumps(message).encode() + b"\n")

    def _read_message(self, timeout: float | None = None) -> dict[str, Any]:
        assert self._sock is not None, "connect() first"
        limit = timeout or self.timeout
        deadline = time.monotonic() + limit
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self._stale = True
                raise AgentTimedOut(f"the agent on {self.path} sent no reply within {limit:g} s",
                                    "check the agent's log; it may be blocked or stopped", limit)
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError as exc:
                self._stale = True
                raise AgentTimedOut(f"the agent on {self.path} sent no reply within {limit:g} s",
                                    "check the agent's log; it may be blocked or stopped", limit) from exc
            if not chunk:
                raise AgentNotConnected(f"the agent on {self.path} closed the connection",
                                        "check the agent's log; it may have exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        # guest-sync-delimited replies may carry a 0xFF sentinel byte before the JSON.
        line = line.lstrip(b"\xff").strip()
        if not line:
            return self._read_message(timeout)
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise AgentNotConnected(f"the agent on {self.path} sent a reply that is not JSON: {line[:200]!r}",
                                    "check that the socket belongs to qemu-ga and not another program") from exc
        if not isinstance(message, dict):
            raise AgentNotConnected(f"the agent on {self.path} sent a non-object reply: {line[:200]!r}")
        return message

    def sync(self) -> None:
        """Discard anything stale on the channel, as libvirt does before each command."""
        token = random.randrange(1, 2**31)
        self._send({"execute": "guest-sync", "arguments": {"id": token}})
        while True:
            message = self._read_message()
            if message.get("return") == token:
                return

    def execute(self, command: str, arguments: dict[str, Any] | None = None, *,
                timeout: float | None = None) -> Any:
        """Run one command; return its `return` value or raise AgentCommandError (or a subclass;
        AgentTimedOut after `timeout` seconds, default the connection's)."""
        if self._stale:
            self._buffer = b""
            self.sync()
            self._stale = False
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        self._send(message)
        reply = self._read_message(timeout)
        if "error" in reply:
            error = reply["error"]
            raise command_error(self.name, command, str(error.get("class", "GenericError")), str(error.get("desc", "")))
        if "return" not in reply:
            raise AgentNotConnected(f"unexpected reply to {command}: {reply!r}")
        return reply["return"]
