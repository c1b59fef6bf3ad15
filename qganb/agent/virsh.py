"""The libvirt back end of the agent seam: `virsh qemu-agent-command`, on this host or on a remote
hypervisor (`qemu+ssh://root@hv/system`). Each way libvirt says no becomes its own error."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from qganb.agent.transport import DEFAULT_URI, command_error
from qganb.errors import (
    AgentError,
    AgentNotConfigured,
    AgentNotConnected,
    AgentTimedOut,
    HypervisorUnreachable,
    UnknownDomain,
)
from qganb.process import require_tool

# virsh itself may hang before the agent's own --timeout applies (a libvirtd that does not answer,
# an ssh link to a remote hypervisor): the process gets this much longer, then it is stopped.
VIRSH_GRACE = 5


def classify(domain: str, command: str, message: str) -> AgentError:
    """The error for what libvirt (or the agent through it) said about `command` in `domain`."""
    if "failed to connect to the hypervisor" in message:
        return HypervisorUnreachable(f"cannot reach libvirt for {domain}: {message.removeprefix('error: ')}",
                                     "check that libvirtd runs there and that the URI (--connect) is right")
    if "failed to get domain" in message or "Domain not found" in message:
        return UnknownDomain(f"libvirt has no domain {domain!r}", "check the name with `virsh list --all`")
    if "not configured" in message:
        return AgentNotConfigured(
            f"{domain} has no guest agent channel",
            "add <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel> to the domain")
    if "not connected" in message or "not responding" in message or "not syncing" in message:
        return AgentNotConnected(
            f"the guest agent of {domain} is not connected",
            "check on the guest: `systemctl status qemu-guest-agent` and that /dev/virtio-ports/org.qemu.guest_agent.0 exists")
    desc = re.sub(r"^error: (internal error: )?unable to execute QEMU agent command '[^']+': ", "", message.strip())
    return command_error(domain, command, "GenericError", desc)


class VirshAgent:
    """The agent of one libvirt domain, reached through virsh."""

    def __init__(self, domain: str, *, uri: str = DEFAULT_URI, timeout: int = 20) -> None:
        self.domain = domain
        self.uri = uri
        self.timeout = timeout
        self.name = domain
        self.description = f"{domain} on {uri}"

    def execute(self, command: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Run one command; return its `return` value. No answer within `timeout` (default: the
        agent's) raises AgentTimedOut."""
        require_tool("virsh", "libvirt-clients")
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        limit = timeout or self.timeout
        seconds = max(1, round(limit))  # virsh takes whole seconds
        try:
            done = subprocess.run(["virsh", "-c", self.uri, "qemu-agent-command", self.domain, json.dumps(message),
                                   "--timeout", str(seconds)], capture_output=True, text=True, check=False,
                                  timeout=seconds + VIRSH_GRACE)
        except subprocess.TimeoutExpired as exc:
            raise AgentTimedOut(f"virsh gave no answer for {command} on {self.description} within "
                                f"{seconds + VIRSH_GRACE} s",
                                "check that libvirtd answers (`virsh -c URI list`) and that the guest is not "
                                "overloaded; a command that is slow by nature needs a longer timeout", limit) from exc
        said = (done.stderr or done.stdout).strip()
        if done.returncode != 0:
            raise classify(self.domain, command, said.splitlines()[0] if said else "no output")
        try:
            reply = json.loads(done.stdout)
        except ValueError as exc:
            raise AgentError(f"virsh gave {command} on {self.description} an answer that is not JSON: "
                             f"{done.stdout.strip()[:200]!r}", "check the libvirt and qemu-ga versions") from exc
        return reply.get("return") if isinstance(reply, dict) else reply

    def ping(self, timeout: float = 5) -> bool:
        """True when the agent answers guest-ping now."""
        try:
            self.execute("guest-ping", timeout=timeout)
            return True
        except AgentError:
            return False

    def close(self) -> None:
        """Nothing to close: each command is one virsh call."""

    def __enter__(self) -> VirshAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
