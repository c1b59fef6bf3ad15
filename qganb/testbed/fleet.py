"""A fleet of test guests for rollouts: up to eight libvirt domains booted together from the default
guest's image, each with its own overlay, SSH port, host key and hostname, and an Ansible inventory
that lists them with their host keys pinned.

One image serves them all. What tells them apart comes from a small per-guest seed disk (vdb) made
on the host: its own host key pair and hostname, which the image's seed unit installs before sshd
starts. Everything of guest i lives in `<testbed_dir()>/fleet/guest-<i>/` and its domain is
`qganb-fleet-<i>`, on 127.0.0.1:<base>+i.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import yaml

from qganb.agent.transport import DEFAULT_URI
from qganb.errors import TestbedError
from qganb.guest.ssh import SshTarget, ssh_option_path
from qganb.process import LineSink, require_tool, run
from qganb.rpm.kept_packages import keep_rpm
from qganb.testbed import guest, libvirt_host

MAX_GUESTS = 8
DOMAIN_PREFIX = "qganb-fleet-"
FLEET_DOMAIN = re.compile(r"^qganb-fleet-([0-9]+)$")  # never the default or dnf guest's domain
PORT_VARIABLE = "QGANB_TESTBED_FLEET_SSH_PORT"
DEFAULT_PORT_BASE = 22240
GROUP = "qganb_testbed_fleet"
SEED_SIZE = "1M"
RECORD = "guest.json"


def fleet_dir() -> Path:
    path = guest.testbed_dir() / "fleet"
    path.mkdir(parents=True, exist_ok=True)
    return path


def inventory_path() -> Path:
    return fleet_dir() / "inventory.yml"


def known_hosts_path() -> Path:
    """One known_hosts for the whole fleet: a pinned line per guest."""
    return fleet_dir() / "known_hosts"


def guest_dir(index: int) -> Path:
    return fleet_dir() / f"guest-{index}"


def domain_of(index: int) -> str:
    return f"{DOMAIN_PREFIX}{index}"


def port_base() -> int:
    """The base of the fleet's SSH ports: guest i listens on 127.0.0.1:<base>+i."""
    text = os.environ.get(PORT_VARIABLE, str(DEFAULT_PORT_BASE))
    if not text.strip().isdigit() or not 1024 <= int(text) <= 65535 - MAX_GUESTS:
        raise TestbedError(f"{PORT_VARIABLE}={text!r} is not a usable base port",
                           f"set {PORT_VARIABLE} to a number from 1024 to {65535 - MAX_GUESTS} "
                           f"(guest i listens on base+i), or unset it for {DEFAULT_PORT_BASE}")
    return int(text)


def check_guest_count(n: int) -> None:
    if not 1 <= n <= MAX_GUESTS:
        raise TestbedError(f"a fleet of {n} guests is out of range: a fleet has 1 to {MAX_GUESTS}",
                           f"give a number of guests from 1 to {MAX_GUESTS} (each is a 1 GiB TCG guest; "
                           "three fit a 2-core host)")


@dataclass(frozen=True)
class FleetGuest:
    """Guest `index` of the fleet as booted: its port, the image it boots from and its own host key."""

    index: int
    port: int
    image: Path  # the image directory
    host_key: str  # `ssh-ed25519 AAAA...`, generated on the host for this guest alone

    @property
    def domain(self) -> str:
        return domain_of(self.index)

    @property
    def hostname(self) -> str:
        return self.domain

    @property
    def directory(self) -> Path:
        return guest_dir(self.index)

    @property
    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key}"

    def ssh_target(self) -> SshTarget:
        """root on this guest, with the testbed's key and the fleet's pinned known_hosts."""
        return SshTarget("127.0.0.1", "root", self.port, guest.GuestImage(self.image).client_key, known_hosts_path())

    def ssh_argv(self, command: list[str] | None = None) -> list[str]:
        return guest.ssh_argv(guest.GuestImage(self.image), command, port=self.port, known_hosts=known_hosts_path())

    def to_record(self) -> dict[str, object]:
        return {"domain": self.domain, "hostname": self.hostname, "port": self.port, "image": str(self.image),
                "host_key": self.host_key}


def _recorded(index: int) -> FleetGuest | None:
    """Guest `index` as its last boot recorded it, or None."""
    try:
        record = json.loads((guest_dir(index) / RECORD).read_text())
        return FleetGuest(index, int(record["port"]), Path(record["image"]), str(record["host_key"]))
    except (OSError, ValueError, KeyError):
        return None


def booted_guest(index: int) -> FleetGuest:
    """Guest `index` of the running fleet, refused by name when the fleet has no such guest."""
    up_now = sorted(i for i in range(1, MAX_GUESTS + 1) if _recorded(i) is not None)
    have = f"the fleet has guests {', '.join(map(str, up_now))}" if up_now else "no fleet is up"
    if not 1 <= index <= MAX_GUESTS:
        raise TestbedError(f"fleet guest {index} is out of range: guests are numbered 1 to {MAX_GUESTS} ({have})",
                           "give the number of a guest the fleet has")
    found = _recorded(index)
    if found is None:
        raise TestbedError(f"fleet guest {index} is not up ({have})",
                           f"give the number of a guest the fleet has, or run `qganb testbed up --guests {index}`")
    return found


# --- the inventory and known_hosts ----------------------------------------------------------------

def ssh_common_args(known_hosts: Path) -> str:
    """ansible_ssh_common_args: the fleet's known_hosts, and no host key ever accepted unseen."""
    path = os.path.abspath(known_hosts)
    # Ansible splits this with shlex; ssh then splits the value at whitespace (it takes several files)
    # and expands %-tokens in it, so a path with such characters gets ssh's own quoting too.
    value = path if re.fullmatch(r"[A-Za-z0-9_./+:@,-]+", path) else ssh_option_path(path)
    return f"-o {shlex.quote('UserKnownHostsFile=' + value)} -o StrictHostKeyChecking=yes"


TESTBED_INSTALL_FLAGS = ("--nodeps",)


def inventory_document(guests: Sequence[FleetGuest], client_key: Path, known_hosts: Path,
                       uri: str = DEFAULT_URI) -> dict[str, object]:
    """The fleet as an Ansible YAML inventory: group qganb_testbed_fleet, one host per guest."""
    return {"all": {"children": {GROUP: {
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": os.path.abspath(client_key),
            "ansible_ssh_common_args": ssh_common_args(known_hosts),
            "qganb_libvirt_uri": uri,
            # The guests are Debian with rpm: their rpm database holds no system packages, so every
            # install (and its rollback) needs --nodeps, as on the single testbed guest.
            "qganb_install_flags": list(TESTBED_INSTALL_FLAGS),
        },
        "hosts": {g.domain: {"ansible_host": "127.0.0.1", "ansible_port": g.port, "qganb_domain": g.domain}
                  for g in sorted(guests, key=lambda g: g.index)},
    }}}}


def _write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    # A reader (a rollout starting now) sees the old file or the new one, never half of one.
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def write_inventory(guests: Sequence[FleetGuest], client_key: Path, known_hosts: Path, path: Path,
                    uri: str = DEFAULT_URI) -> Path:
    """Write the inventory (yaml.safe_dump, atomically) and return its path."""
    header = "# The qganb testbed fleet, written by `qganb testbed up --guests N`; rewritten by each up.\n"
    body = yaml.safe_dump(inventory_document(guests, client_key, known_hosts, uri), sort_keys=False, width=4096)
    _write_atomically(path, header + body)
    return path


def write_known_hosts(guests: Sequence[FleetGuest], path: Path) -> Path:
    _write_atomically(path, "".join(f"{g.known_hosts_line}\n" for g in sorted(guests, key=lambda g: g.index)))
    return path


# --- up -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FleetUp:
    """What up_fleet did. `timings` (seconds): image, boot (the last agent to answer, from the first
    start), ssh (the last sshd), stocks, total. `guest_timings[i]`: boot and ssh from that guest's own
    start (0.0 when it was running already), stock when it had to change its agent."""

    guests: list[FleetGuest]
    inventory: Path
    image: Path
    timings: dict[str, float]
    guest_timings: dict[int, dict[str, float]]
    reused: list[int]


def _prepare(index: int, port: int, image: guest.GuestImage) -> FleetGuest:
    """Guest `index`'s fresh run directory: its own host key pair and hostname on a read-only seed
    disk, an overlay over the image, its domain XML and a record of all that."""
    directory = guest_dir(index)
    shutil.rmtree(directory, ignore_errors=True)
    # Not owner-only: QEMU's user must reach the files in it, each of which is owner-only itself (libvirt
    # hands them to that user while the guest runs).
    directory.mkdir(mode=0o755)
    hostname = domain_of(index)
    seed = Path(tempfile.mkdtemp(prefix=".seed-", dir=directory))
    try:
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", hostname, "-f", seed / "ssh_host_ed25519_key"])
        (seed / "hostname").write_text(hostname + "\n")
        (seed / "hostname").chmod(0o600)
        run(["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-L", "qganb-seed", "-d", seed,
             directory / "seed.ext4", SEED_SIZE], log_path=directory / "mkfs.log")
        (directory / "seed.ext4").chmod(0o600)  # it holds the guest's private host key
        host_key = " ".join((seed / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    finally:
        shutil.rmtree(seed, ignore_errors=True)  # the private key lives on in the seed disk only
    overlay = directory / "overlay.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", image.disk, "-F", "raw", overlay])
    overlay.chmod(0o600)
    (directory / "domain.xml").write_text(guest.domain_xml(image, overlay, directory / "console.log", port,
                                                           hostname, seed=directory / "seed.ext4"))
    prepared = FleetGuest(index, port, image.directory, host_key)
    (directory / RECORD).write_text(json.dumps(prepared.to_record(), indent=2) + "\n")
    return prepared


def _running_as_recorded(index: int, port: int, image: guest.GuestImage) -> FleetGuest | None:
    """Guest `index` when it runs from this image on this port and its agent answers: kept as it is."""
    found = _recorded(index)
    if found is None or found.port != port or found.image != image.directory:
        return None
    if libvirt_host.domain_state(found.domain) != "running" or not libvirt_host.agent_ping(found.domain):
        return None
    return found


def _console_lines(fleet_guest: FleetGuest) -> list[str]:
    try:
        text = (fleet_guest.directory / "console.log").read_text(errors="replace")
    except OSError:
        return []
    return [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if line.strip()]


def _console_tail(fleet_guest: FleetGuest) -> str:
    return " | ".join(_console_lines(fleet_guest)[-10:]) or "no console output"


def _console_failures(fleet_guest: FleetGuest) -> str:
    """systemd's FAILED and DEPEND lines: a seed disk it could not read shows there (and sshd held back)."""
    failed = [line for line in _console_lines(fleet_guest) if line.startswith(("[FAILED]", "[DEPEND]"))]
    return "; console: " + " | ".join(failed[-4:]) if failed else ""


class _WaitAbandoned(Exception):
    """Another guest failed, or the caller was interrupted: this guest's wait no longer matters."""


def _wait_until_up(fleet_guest: FleetGuest, started: float, timeout: float, abandon: threading.Event) -> dict[str, float]:
    """Seconds from `started` to its agent answering guest-ping, then to sshd taking the testbed key
    while showing its own pinned host key."""
    deadline = started + timeout
    while not libvirt_host.agent_ping(fleet_guest.domain, timeout=3):
        if abandon.is_set():
            raise _WaitAbandoned()
        if time.monotonic() > deadline:
            raise TestbedError(f"{fleet_guest.domain}'s agent did not answer guest-ping within {timeout:g} s; "
                               f"console: {_console_tail(fleet_guest)}",
                               f"see {fleet_guest.directory / 'console.log'}; `qganb testbed down --guests` stops the fleet")
        time.sleep(1)
    boot = time.monotonic() - started
    probe = fleet_guest.ssh_argv(["true"])
    while not guest.ssh_answers(probe):
        if abandon.is_set():
            raise _WaitAbandoned()
        if time.monotonic() > deadline:
            try:
                said = subprocess.run(probe, capture_output=True, text=True, check=False, timeout=30).stderr.strip()
            except subprocess.TimeoutExpired:
                said = "ssh itself hung for 30 s"
            raise TestbedError(f"{fleet_guest.domain}'s sshd did not accept the testbed key with its pinned host key "
                               f"within {timeout:g} s: {said.splitlines()[-1] if said else 'no message'}"
                               + _console_failures(fleet_guest),
                               f"see {fleet_guest.directory / 'console.log'} (the seed unit's messages); "
                               "`qganb testbed down --guests` stops the fleet")
        time.sleep(1)
    return {"boot": boot, "ssh": time.monotonic() - started}


def _stop(index: int) -> None:
    libvirt_host.stop_domain(domain_of(index))
    shutil.rmtree(guest_dir(index), ignore_errors=True)


def _fleet_indexes() -> set[int]:
    """Indexes of every fleet guest libvirt knows or that left a run directory."""
    known = {int(m[1]) for name in libvirt_host.domain_names() if (m := FLEET_DOMAIN.match(name))}
    left = {int(m[1]) for p in fleet_dir().glob("guest-*") if (m := re.fullmatch(r"guest-([0-9]+)", p.name))}
    return known | left


def up_fleet(n: int, stocks: Mapping[int, Path] | None = None, on_line: LineSink | None = None,
             timeout: float = 600.0) -> FleetUp:
    """Boot guests 1..n of the fleet together (their agents answering guest-ping through libvirt, then
    sshd), write the fleet's known_hosts and inventory, and stop fleet guests numbered above n.

    `stocks[i]`: the agent package guest i starts from (a src.rpm or RPM, as stock_rpm takes); the
    others run the image's own stock build. A guest already running from this image on its port is
    kept, and put back on its stock build if it runs another."""
    check_guest_count(n)
    stocks = dict(stocks or {})
    for index in stocks:
        if not 1 <= index <= n:
            raise TestbedError(f"a stock agent for guest {index}, but the fleet has guests 1 to {n}",
                               f"number the guest from 1 to {n}, or boot more guests")
    for tool, package in (("qemu-img", "qemu-utils"), ("mkfs.ext4", "e2fsprogs"), ("ssh-keygen", "openssh-client")):
        require_tool(tool, package)
    base = port_base()
    began = time.monotonic()
    stock_rpms = {i: guest.stock_rpm(path, on_line) for i, path in stocks.items()}  # built once, then cached
    image_began = time.monotonic()
    image = guest.build_image(on_line, variant="default")
    timings = {"image": time.monotonic() - image_began}
    libvirt_host.ensure_daemons()

    # Plan before touching anything, so that a busy port leaves the running fleet as it was.
    kept = {i: g for i in range(1, n + 1) if (g := _running_as_recorded(i, base + i, image)) is not None}
    to_stop = sorted(_fleet_indexes() - set(kept))
    ours = {g.port for i in to_stop if (g := _recorded(i)) is not None}
    busy = [i for i in range(1, n + 1) if i not in kept and base + i not in ours and not guest.port_free(base + i)]
    if busy:
        ports = ", ".join(f"127.0.0.1:{base + i} (guest {i}: {PORT_VARIABLE} base {base} + {i})" for i in busy)
        raise TestbedError(f"{ports} {'is' if len(busy) == 1 else 'are'} already in use",
                           f"set {PORT_VARIABLE} to another base port (guest i listens on base+i), "
                           "or stop what listens there")
    inventory_path().unlink(missing_ok=True)  # until this up succeeds, no inventory names guests that may be gone
    for index in to_stop:
        _stop(index)

    fresh = [_prepare(i, base + i, image) for i in range(1, n + 1) if i not in kept]
    guests = sorted([*kept.values(), *fresh], key=lambda g: g.index)
    write_known_hosts(guests, known_hosts_path())  # before boot: the sshd probes check against it
    guest_timings: dict[int, dict[str, float]] = {i: {"boot": 0.0, "ssh": 0.0} for i in kept}
    first = time.monotonic()
    starts: dict[int, float] = {}
    for fleet_guest in fresh:
        starts[fleet_guest.index] = time.monotonic()
        libvirt_host.create_domain(fleet_guest.directory / "domain.xml")
    if fresh:
        # One waiter each: every guest's times are its own, not the time a poll loop came round to it.
        abandon = threading.Event()
        with ThreadPoolExecutor(max_workers=len(fresh)) as pool:
            waiting = {pool.submit(_wait_until_up, g, starts[g.index], timeout, abandon): g.index for g in fresh}
            try:
                for future in as_completed(waiting):
                    guest_timings[waiting[future]] = future.result()
            except BaseException:
                abandon.set()  # the first failure (or ^C) ends the other waits at once, not at their deadline
                raise
    timings["boot"] = max((starts[i] - first + guest_timings[i]["boot"] for i in starts), default=0.0)
    timings["ssh"] = max((starts[i] - first + guest_timings[i]["ssh"] for i in starts), default=0.0)

    stocks_began = time.monotonic()
    for fleet_guest in guests:
        wanted = stock_rpms.get(fleet_guest.index)
        if wanted is None and fleet_guest.index in kept:
            wanted = guest.stock_agent_rpm(on_line)  # a kept guest may run what an earlier up gave it
        if wanted is None:
            continue
        changed_at = time.monotonic()
        if guest.start_from(wanted, on_line, target=fleet_guest.ssh_target(), domain=fleet_guest.domain):
            guest_timings[fleet_guest.index]["stock"] = time.monotonic() - changed_at
    timings["stocks"] = time.monotonic() - stocks_began
    # The testbed installed these packages itself: kept on this host like any package qganb installs,
    # so a rollback on a fleet guest finds the very build it ran.
    for stock in {guest.stock_agent_rpm(on_line), *stock_rpms.values()}:
        keep_rpm(stock)
    inventory = write_inventory(guests, image.client_key, known_hosts_path(), inventory_path())
    timings["total"] = time.monotonic() - began
    return FleetUp(guests, inventory, image.directory, timings, guest_timings, sorted(kept))


# --- status and down ------------------------------------------------------------------------------

@dataclass(frozen=True)
class FleetGuestState:
    index: int
    domain: str
    state: str  # libvirt's ("running", "shut off", ...) or "not defined"
    agent_answers: bool
    port: int | None  # from its record; None when it left none


def fleet_status() -> list[FleetGuestState]:
    """Every fleet guest libvirt knows or that left a run directory, by index."""
    libvirt_host.ensure_daemons()
    found = []
    for index in sorted(_fleet_indexes()):
        domain = domain_of(index)
        state = libvirt_host.domain_state(domain) or "not defined"
        answers = state == "running" and libvirt_host.agent_ping(domain)
        record = _recorded(index)
        found.append(FleetGuestState(index, domain, state, answers, record.port if record else None))
    return found


def down_fleet() -> list[str]:
    """Stop and undefine every qganb-fleet-* domain (also those of an earlier, larger fleet), remove
    their run directories, the known_hosts and the inventory; return the domains stopped."""
    libvirt_host.ensure_daemons()
    known = sorted((name for name in libvirt_host.domain_names() if FLEET_DOMAIN.match(name)),
                   key=lambda name: int(name.removeprefix(DOMAIN_PREFIX)))
    for index in sorted(_fleet_indexes()):
        _stop(index)
    known_hosts_path().unlink(missing_ok=True)
    inventory_path().unlink(missing_ok=True)  # a rollout must not aim at guests that are gone
    left = [name for name in libvirt_host.domain_names() if FLEET_DOMAIN.match(name)]
    if left:
        raise TestbedError(f"{', '.join(left)} would not stop", "run `virsh destroy` and `virsh undefine` on them")
    return known
