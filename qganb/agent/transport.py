"""The interface every agent back end implements, the default libvirt URI, and what is built on
the interface alone (waiting for guest-ping)."""

from __future__ import annotations

import time
from typing import Any, Protocol

from qganb.errors import AgentCommandError, AgentNotConnected, CommandDisabled, CommandNotFound

DEFAULT_URI = "qemu:///system"


class AgentTransport(Protocol):
    """A connection to one qemu-ga. `execute` returns the reply's `return` value, or raises:
    AgentNotConnected (no answer), UnknownDomain / AgentNotConfigured (libvirt), CommandNotFound,
    CommandDisabled, or AgentCommandError (the command itself failed). `timeout` (seconds; None: the
    back end's default) bounds the wait; running out raises AgentTimedOut."""

    description: str

    name: str  # the domain, or the socket's path: what messages call this agent

    def execute(self, command: str, arguments: dict[str, Any] | None = None, *,
                timeout: float | None = None) -> Any: ...

    def close(self) -> None: ...


def command_error(where: str, command: str, error_class: str, desc: str) -> AgentCommandError:
    """The error for an agent's error reply to `command`, the same whatever carried it. qemu-ga
    answers a disabled command with the class CommandNotFound too: its text tells them apart."""
    if "has been disabled" in desc:
        return CommandDisabled(
            command, error_class, desc, f"{command} is disabled by the agent's configuration in {where}",
            "remove it from BLACKLIST_RPC/BLOCK_RPCS, or add it to --allow-rpcs, in /etc/sysconfig/qemu-ga; "
            "then restart qemu-guest-agent")
    if error_class == "CommandNotFound" or "has not been found" in desc:
        return CommandNotFound(
            command, error_class, desc, f"{command} is not known to the agent running in {where}",
            "the old qemu-ga binary is still running or the package lacks the command: restart the service "
            "(`systemctl restart qemu-guest-agent`) and check `rpm -q qemu-guest-agent` on the guest")
    return AgentCommandError(command, error_class, desc)


def wait_for_agent(agent: AgentTransport, *, timeout: float = 60.0, interval: float = 1.0,
                   ping_timeout: float = 5.0) -> float:
    """Poll guest-ping until the agent answers; return the seconds it took, or AgentNotConnected.
    Each ping may take `ping_timeout` seconds: a hung agent must not stretch the whole wait."""
    start = time.monotonic()
    while True:
        try:
            agent.execute("guest-ping", timeout=ping_timeout)
            return time.monotonic() - start
        except AgentNotConnected:
            if time.monotonic() - start > timeout:
                raise
            time.sleep(interval)
