"""Which guest a stage talks to: the one the operator names (SSH target + libvirt domain), or the
local testbed when none is named, shared by the CLI, the notebooks and the runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qganb.errors import QganbError
from qganb.ssh import SshClient, SshTarget
from qganb.verify import DEFAULT_URI


@dataclass
class GuestChoice:
    ssh: SshClient | None
    domain: str
    uri: str = DEFAULT_URI
    install_flags: list[str] = field(default_factory=list)  # what this guest always needs, e.g. --nodeps
    testbed: bool = False


def choose_guest(guest: str = "", domain: str = "", *, uri: str = DEFAULT_URI, identity: str = "",
                 known_hosts: str = "", start_testbed: bool = False) -> GuestChoice:
    """The named guest, or with neither `guest` nor `domain`, the testbed (booted if asked)."""
    if guest or domain:
        if not domain:
            raise QganbError(f"guest {guest} needs its libvirt domain too", "give the domain name (--domain)")
        target = SshTarget.parse(guest, identity=Path(identity) if identity else None,
                                 known_hosts=Path(known_hosts) if known_hosts else None) if guest else None
        return GuestChoice(SshClient(target) if target else None, domain, uri)
    from qganb.install import remember_rpm
    from qganb.testbed import guest as testbed

    if start_testbed:
        testbed.up()
    remember_rpm(testbed.stock_agent_rpm())  # what a fresh testbed runs: the first rollback target
    # The testbed's rpm database is empty (a Debian guest), so packages go in without dependency checks.
    return GuestChoice(SshClient(testbed.ssh_target()), testbed.DOMAIN, DEFAULT_URI, ["--nodeps"], testbed=True)
