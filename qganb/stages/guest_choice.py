"""Which guest a stage talks to: the one the operator names (SSH target + libvirt domain), or the
local testbed when none is named, shared by the CLI, the notebooks and the runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qganb.agent.transport import DEFAULT_URI
from qganb.agent.virsh import VirshAgent
from qganb.errors import UsageError
from qganb.guest.ssh import SshClient, SshTarget
from qganb.process import LineSink
from qganb.stages.records import FetchRecord
from qganb.stages.run_dir import RunDir


@dataclass
class GuestChoice:
    ssh: SshClient | None
    domain: str
    uri: str = DEFAULT_URI
    install_flags: list[str] = field(default_factory=list)  # what this guest always needs, e.g. --nodeps
    known_rpms: list[Path] = field(default_factory=list)  # RPMs it may run: rollback targets for an install
    more_known_rpms: Callable[[], list[Path]] | None = None  # more of them, found only when needed
    testbed: bool = False

    def agent(self) -> VirshAgent:
        """The guest's agent, through libvirt."""
        return VirshAgent(self.domain, uri=self.uri)


def choose_guest(guest: str = "", domain: str = "", *, uri: str = DEFAULT_URI, identity: str = "",
                 known_hosts: str = "", start_testbed: bool = False, stock: str = "",
                 on_line: LineSink | None = None) -> GuestChoice:
    """The named guest, or with neither `guest` nor `domain`, the testbed (booted if asked).

    `stock` (testbed only): the agent package the testbed starts from, a src.rpm (rebuilt unpatched)
    or an RPM, installed before the stage runs, as an operator's guest would run its distro's build."""
    if guest or domain:
        if not domain:
            raise UsageError(f"guest {guest} needs its libvirt domain too", "give the domain name (--domain)")
        if stock:
            raise UsageError(f"--stock {stock} applies to the testbed only",
                             f"{guest or domain} runs what its operator installed: leave --stock out")
        target = SshTarget.parse(guest, identity=Path(identity) if identity else None,
                                 known_hosts=Path(known_hosts) if known_hosts else None) if guest else None
        return GuestChoice(SshClient(target) if target else None, domain, uri)
    from qganb.testbed import guest as testbed

    if stock == KEEP_STOCK:
        stock = ""
    start = testbed.stock_rpm(existing_stock(stock), on_line) if stock else None
    if start_testbed or start is not None:
        testbed.up(on_line)  # waits for a boot another process has begun (make demo's) and reuses it
    if start is not None:
        testbed.start_from(start, on_line)
    # The testbed's rpm database is empty (a Debian guest), so packages go in without dependency
    # checks; its stock agent is the first rollback target.
    return GuestChoice(SshClient(testbed.ssh_target()), testbed.DOMAIN, DEFAULT_URI, ["--nodeps"],
                       [start] if start is not None else [],
                       None if start is not None else lambda: [testbed.stock_agent_rpm()], testbed=True)


def existing_stock(path: str) -> Path:
    """`--stock PATH` as a path, refused by name when there is no such file."""
    if not Path(path).is_file():
        raise UsageError(f"--stock {path} does not exist", "give the path of a src.rpm or an RPM of the agent")
    return Path(path)


KEEP_STOCK = "as-is"


def testbed_stock(run_dir: RunDir, stock: str, *, named_guest: bool) -> str:
    """What the install stage's testbed starts from: `stock` as given, nothing for "as-is" or a named
    guest, else the run's own src.rpm, whose unpatched build is what its users' guests run."""
    if named_guest or stock == KEEP_STOCK:
        return ""
    if stock:
        return stock
    fetched = run_dir.loaded(FetchRecord)
    return str(fetched.path) if fetched is not None else ""
