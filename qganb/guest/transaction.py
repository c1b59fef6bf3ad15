"""The guest side of one install: a state directory holding what qganb uploaded, and the script
in it (install-transaction.sh) that runs detached from SSH, so a lost connection cannot stop it
half-way. This module starts it, follows its log and waits for its status."""

from __future__ import annotations

import math
import time
from pathlib import Path

from qganb.errors import (
    ConnectionLost,
    InstallError,
    InstallLocked,
    InstallOutcomeUnknown,
    PreviousPackageUnavailable,
    SshCommandFailed,
    SshError,
)
from qganb.guest.shell import GuestShell, remove_tree
from qganb.process import LineSink

SCRIPT = Path(__file__).resolve().parent / "install-transaction.sh"
# How long one poll waits on the guest for the transaction's status; where the guest has flock the
# poll blocks on the running script's lock, so this only paces the log shown while it runs.
POLL_SECONDS = 10
FIRST_PHASE = "install"  # what the script's apply does first: announced when `start` returns


def write_argv(path: Path, argv: list[str]) -> None:
    """One word per line: the script turns each line into one word of "$@", never through a shell."""
    for word in argv:
        if "\n" in word:
            raise ValueError(f"argv word {word!r} holds a newline, which the guest script would split")
    path.write_text("".join(word + "\n" for word in argv))


class GuestTransaction:
    """The guest side of one install: its state directory and the detached script in it."""

    def __init__(self, ssh: GuestShell, state: str, say: LineSink, log_path: Path | None) -> None:
        self.ssh = ssh
        self.state = state
        self.say = say
        self.log_path = log_path
        self.offset = 0
        self.phase = ""  # the last phase seen in the log: a poll returns as soon as another starts
        self.tail: list[str] = []
        # The header digest the guest's rpm database reported, when a script from before `confirm`
        # checked it (a resumed transaction); the script now checks it in `confirm`.
        self.installed_digest: str | None = None
        self.released = False  # `confirm` dropped the state directory and the lock
        self.started = False
        self.uploaded = False  # the script is in the state directory
        self.finished = False  # the script wrote its status
        # Nothing is left to undo: not started, the new agent passed every check, or a restore ran.
        # Only then may the state directory (the previous RPM, the restore argv) go.
        self.settled = True

    @property
    def script(self) -> str:
        return f"{self.state}/install-transaction.sh"

    def start(self, previous: str | None = None) -> None:
        """Check the uploaded previous package (`previous`: its NEVRA, for the message), take the
        guest's install lock and start the transaction, detached. Its first phase is announced here:
        the first poll waits for the next one (or the end), saving a round trip."""
        done = self.ssh.run(["sh", self.script, "start", self.state], as_root=True, check=False)
        if done.returncode == 4 and done.stdout.startswith("previous "):
            seen = done.stdout.removeprefix("previous ").strip()
            raise PreviousPackageUnavailable(
                f"the guest's rpm reads the uploaded RPM of {previous or 'the previous package'} as "
                f"{seen.replace(chr(9), ' ') or 'nothing (its rpm cannot read the file)'}, not as the installed package; it could not be put back",
                "pass the very RPM installed with --previous-rpm PATH, in a format the guest's rpm reads")
        if done.returncode == 3 and done.stdout.startswith("locked "):
            holder = done.stdout.removeprefix("locked ").strip()
            raise InstallLocked(
                f"another qganb install is running on {self.ssh.target} (its state: {holder})",
                "wait until it ends; if its qganb was interrupted, finish it with `qganb install --resume RUN_DIR`, "
                f"or read {holder}/log on the guest and remove {holder} there")
        if not done.succeeded:
            raise SshCommandFailed(self.ssh.target, ["sh", self.script, "start", self.state], done.returncode,
                                   done.stderr or done.stdout)
        self.started, self.finished, self.settled = True, False, False
        self.phase = FIRST_PHASE
        self.say(f"  guest: {self.phase}")

    def start_restore(self, failed_check: str) -> None:
        """Put the previous package back (detached), naming the check the new agent failed."""
        self.ssh.run(["tee", f"{self.state}/check-failed"], as_root=True, input_text=failed_check + "\n")
        self.ssh.run(["sh", self.script, "start-restore", self.state], as_root=True)
        self.finished = False

    def _take_log(self, text: str) -> None:
        """Consume the complete lines of the log text that starts at `self.offset`."""
        complete, _, _ = text.rpartition("\n")
        if not complete:
            return
        self.offset += len((complete + "\n").encode())
        for line in complete.splitlines():
            self.tail = (self.tail + [line])[-20:]
            if self.log_path is not None:
                with self.log_path.open("a") as log:
                    log.write(line + "\n")
            if line.startswith("qganb: installed-digest "):
                self.installed_digest = line.removeprefix("qganb: installed-digest ").strip() or None
            if line.startswith("qganb: phase "):
                phase = line.removeprefix("qganb: phase ")
                if phase != self.phase:  # `start` announced the first one
                    self.say(f"  guest: {phase}")
                self.phase = phase

    def wait(self, timeout: float, reconnect_timeout: float) -> str:
        """Poll until the script writes its status; ride out short connection losses.

        Each poll is one SSH round trip that waits on the guest itself (up to POLL_SECONDS), so the
        status is seen at once where the guest has flock, else within a quarter second."""
        deadline = time.monotonic() + timeout
        lost_since: float | None = None
        gone = 0
        while time.monotonic() < deadline:
            try:
                # Never past the deadline: a poll blocks on the guest for up to its seconds.
                seconds = max(1, min(POLL_SECONDS, math.ceil(deadline - time.monotonic())))
                done = self.ssh.run(["sh", f"{self.state}/install-transaction.sh", "wait", self.state,
                                     str(self.offset), str(seconds), self.phase],
                                    as_root=True, check=False, timeout=POLL_SECONDS + 60)
                lost_since = None
                state, _, log = done.stdout.partition("\n")
                self._take_log(log)
                if state.startswith("status "):
                    self.finished = True
                    status = state.removeprefix("status ").strip()
                    if status.startswith(("restored", "removed")):
                        self.settled = True  # the guest is back where it was
                    return status
                if state == "gone" or not done.succeeded:
                    gone += 1
                    if gone >= 2:
                        raise InstallError(
                            f"the install script on {self.ssh.target} ended without a result",
                            f"see {self.state}/log on the guest, and check `rpm -q qemu-guest-agent` there")
                    time.sleep(1)
            except SshError as exc:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > reconnect_timeout:
                    raise ConnectionLost(
                        f"lost the SSH connection to {self.ssh.target} during the install ({exc.problem}); "
                        f"the transaction goes on by itself on the guest and ends with either the new package or "
                        f"the previous one, with an active agent, but libvirt has not checked the new agent yet",
                        f"when the guest is reachable again, finish it with `qganb install --resume RUN_DIR` "
                        f"(the same guest options); its state is {self.state} on the guest") from exc
                time.sleep(2)
        raise InstallOutcomeUnknown(
            f"the install on {self.ssh.target} did not finish within {timeout:g} s; it goes on on the guest",
            f"finish it with `qganb install --resume RUN_DIR` once it is done (see {self.state}/log on the guest)")

    def confirm(self, digest: str) -> tuple[str, str] | None:
        """After libvirt has seen the new agent answer: the guest checks that its rpm database holds
        the build with header digest `digest` and that the agent is still the process the restart
        started, a second or more later; if so it releases the transaction in the same round trip.
        Returns None then, else ("digest", what the database holds) or ("unstable", what the guest
        saw); the restore then needs the state, which is kept."""
        done = self.ssh.run(["sh", self.script, "confirm", self.state, digest], as_root=True, check=False)
        lines = done.stdout.splitlines()
        first = lines[0].strip() if lines else ""
        if first == "stable":
            self.released = True
            return None
        kind, _, seen = first.partition(" ")
        if kind in ("digest", "unstable"):
            self.tail = (self.tail + lines)[-20:]
            return kind, seen.strip()
        # A script from before `confirm` (a resumed transaction) checked the window itself.
        return None

    def remove(self) -> None:
        """Drop the state directory and the guest's install lock: only once the transaction is settled."""
        if self.released:
            return
        try:
            if not self.uploaded:  # no script yet, and no lock taken
                remove_tree(self.ssh, self.state)
                return
            done = self.ssh.run(["sh", self.script, "release", self.state], as_root=True, check=False)
            if not done.succeeded:  # the script never got there: an upload that failed half-way
                remove_tree(self.ssh, self.state)
        except SshError:
            pass
