"""What the install and verify code need of a connection to a guest: run an argv list (as root when
asked), copy files into a directory, and know whether commands need `sudo -n`.

Two connections provide it: qganb's own OpenSSH client (`qganb install`, `qganb verify`) and
Ansible's connection plugin inside the rollout's action plugin (qganb.fleet). One install
transaction runs over either, so a fleet rollout and a single install cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from qganb.errors import SudoUnavailable


@dataclass(frozen=True)
class RemoteResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


class GuestAddress(Protocol):
    """Who and where: `str()` is user@host:port (qganb.guest.ssh.SshTarget)."""

    @property
    def user(self) -> str: ...


class GuestShell(Protocol):
    @property
    def target(self) -> GuestAddress: ...

    sudo: bool  # prefix `sudo -n` to commands run with as_root=True

    def run(self, command: Sequence[str], *, as_root: bool = False, check: bool = True,
            input_text: str | None = None, timeout: float | None = 120) -> RemoteResult: ...

    def upload(self, files: Sequence[Path], remote_dir: str, timeout: float = 600) -> None: ...

    def check_root(self) -> None: ...


def remove_tree(shell: GuestShell, path: str, *, as_root: bool = True) -> None:
    """`rm -rf` of a directory on the guest, for cleanup: a failure is not reported (nothing more
    could be done about it than about the error that may be under way)."""
    shell.run(["rm", "-rf", "--", path], as_root=as_root, check=False)


def learn_root(shell: GuestShell) -> None:
    """Connect, learn whether we are root, and when not, that `sudo -n` works."""
    uid = shell.run(["id", "-u"]).stdout.strip()
    shell.sudo = uid != "0"
    if shell.sudo:
        done = shell.run(["true"], as_root=True, check=False)
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            raise SudoUnavailable(
                f"{shell.target.user} on {shell.target} is not root and `sudo -n` does not work for it: "
                f"{lines[-1] if lines else 'no message'}",
                f"give {shell.target.user} password-less sudo on the guest, or connect as root")
