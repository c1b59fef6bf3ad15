"""The interface every agent back end implements, the default libvirt URI, and what is built on
the interface alone (waiting for guest-ping)."""

from __future__ import annotations

import time
from typing import Any, Protocol

from qganb.errors import AgentNotConnected

DEFAULT_URI = "qemu:///system"


class AgentTransport(Protocol):
    """A connection to one qemu-ga. `execute` returns the reply's `return` value, or raises:
    AgentNotConnected (no answer), UnknownDomain / AgentNotConfigured (libvirt), CommandNotFound,
    CommandDisabled, or AgentCommandError (the command itself failed). `timeout` (seconds; None: the
    back end's default) bounds the wait; running out raises AgentTimedOut."""

    description: str

    def execute(self, command: str, arguments: dict[str, Any] | None = None, *,
                timeout: float | None = None) -> Any: ...

    def close(self) -> None: ...


def wait_for_agent(agent: AgentTransport, *, timeout: float = 60.0, interval: float = 1.0) -> float:
    """Poll guest-ping until the agent answers; return the seconds it took, or AgentNotConnected."""
    start = time.monotonic()
    while True:
        try:
            agent.execute("guest-ping")
            return time.monotonic() - start
        except AgentNotConnected:
            if time.monotonic() - start > timeout:
                raise
            time.sleep(interval)
