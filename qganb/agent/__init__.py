"""The agent seam: one way to talk to a qemu-ga, `execute(command, arguments) -> reply`, carried by
libvirt (`virsh qemu-agent-command`, local or `qemu+ssh://`) or by a unix socket (a qemu-ga started
here with `-m unix-listen`). Failures are the AgentError family in qganb.errors."""

from __future__ import annotations

from qganb.agent.transport import DEFAULT_URI, AgentTransport


def open_agent(*, domain: str = "", uri: str = DEFAULT_URI, socket: str = "") -> AgentTransport:
    """The agent of libvirt `domain` on `uri`, or the one listening on unix `socket`."""
    if socket:
        from qganb.agent.unix_socket import AgentSocket

        agent = AgentSocket(socket)
        agent.connect()
        return agent
    from qganb.agent.virsh import VirshAgent

    return VirshAgent(domain, uri=uri)
