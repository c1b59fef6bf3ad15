"""Which guest a stage talks to: the one the operator names (SSH target + libvirt domain), or the
local testbed when none is named, shared by the CLI, the notebooks and the runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qganb.agent.transport import DEFAULT_URI
from qganb.agent.virsh import VirshAgent
from qganb.errors import UsageError
from qganb.guest.ssh import SshClient, SshTarget


@dataclass
class GuestChoice:
    ssh: SshClient | None
    domain: str
    uri: str = DEFAULT_URI
    install_flags: list[str] = field(default_factory=list)  # what this guest always needs, e.g. --nodeps
    known_rpms: list[Path] = field(default_factory=list)  # RPMs it may run: rollback targets for an install
    testbed: bool = False

    def agent(self) -> VirshAgent:
        """The guest's agent, through libvirt."""
        return VirshAgent(self.domain, uri=self.uri)


def choose_guest(guest: str = "", domain: str = "", *, uri: str = DEFAULT_URI, identity: str = "",
                 known_hosts: str = "", start_testbed: bool = False) -> GuestChoice:
    """The named guest, or with neither `guest` nor `domain`, the testbed (booted if asked)."""
    if guest or domain:
        if not domain:
            raise UsageError(f"guest {guest} needs its libvirt domain too", "give the domain name (--domain)")
        target = SshTarget.parse(guest, identity=Path(identity) if identity else None,
                                 known_hosts=Path(known_hosts) if known_hosts else None) if guest else None
        return GuestChoice(SshClient(target) if target else None, domain, uri)
    from qganb.testbed import guest as testbed

    if start_testbed:
        testbed.up()
    # The testbed's rpm database is empty (a Debian guest), so packages go in without dependency
    # checks; a fresh testbed runs the stock agent, the first rollback target.
    return GuestChoice(SshClient(testbed.ssh_target()), testbed.DOMAIN, DEFAULT_URI, ["--nodeps"],
                       [testbed.stock_agent_rpm()], testbed=True)
