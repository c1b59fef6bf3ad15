"""OpenSSH to a guest: argv lists quoted for the remote shell, host keys always verified, and every
way of failing to connect told apart (unreachable, host key refused, key refused, connection lost)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qganb.errors import (
    AuthenticationFailed,
    ConnectionLost,
    HostKeyRejected,
    HostUnreachable,
    SshCommandFailed,
    SshError,
    SudoUnavailable,
)
from qganb.guest.shell import RemoteResult, learn_root
from qganb.process import require_tool

TARGET = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str = "root"
    port: int = 22
    identity: Path | None = None
    known_hosts: Path | None = None  # None: the user's own ~/.ssh/known_hosts
    connect_timeout: int = 10

    def __post_init__(self) -> None:
        # ssh takes an argument starting with `-` as an option (`-oProxyCommand=...` runs a command).
        for what, value in (("user", self.user), ("host", self.host)):
            if value.startswith("-"):
                raise SshError(f"guest {what} {value!r} starts with `-`, which ssh would read as an option; refused",
                               "write the guest as [user@]host[:port] with a real user and host name")
        if self.identity is not None and not self.identity.is_file():
            raise SshError(f"identity file {self.identity} does not exist; give the private key's path",
                           "pass --identity with the key that the guest's authorized_keys accepts")

    @classmethod
    def parse(cls, text: str, *, identity: Path | None = None, known_hosts: Path | None = None) -> SshTarget:
        """`[user@]host[:port]`, e.g. `root@10.0.0.5`, `admin@guest.example:2222`, `[::1]:22`."""
        found = TARGET.match(text.strip())
        if not found:
            raise SshError(f"guest {text!r} is not [user@]host[:port]", "write it like root@192.0.2.10:22")
        port = int(found["port"] or 22)
        if not 0 < port < 65536:
            raise SshError(f"guest {text!r}: port {port} is out of range", "use a port between 1 and 65535")
        return cls(found["host"].strip("[]"), found["user"] or "root", port, identity, known_hosts)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{self.port}"


def ssh_option_path(path: str | os.PathLike[str]) -> str:
    """A path as an ssh -o value that ssh takes literally: quoted, so spaces do not split it into
    several files, and with `%` doubled, so no %h/%d token is expanded. Absolute, so `~` is no home."""
    text = os.path.abspath(os.fspath(path)).replace("%", "%%")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def classify_ssh_failure(target: SshTarget, stderr: str) -> SshError:
    """The SshError subclass that says why ssh (or a tool over it) failed to reach `target`."""
    text = " ".join(stderr.split())
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Host key verification failed" in text:
        known = target.known_hosts or "~/.ssh/known_hosts"
        if "HAS CHANGED" in text:
            problem = f"{target} offered a host key that differs from the one pinned in {known}; refused"
        else:
            problem = f"{target} offered a host key that is not in {known}; refused"
        return HostKeyRejected(problem, "if the guest was really re-installed, check its key out of band "
                               f"(`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on its console) and add it to {known}")
    # "Permission denied (publickey,...)" is sshd's refusal; scp's "scp: PATH: Permission denied" is a file's.
    if "Permission denied (" in text or "Too many authentication failures" in text:
        return AuthenticationFailed(f"{target} refused our key for {target.user}",
                                    "check the key (--identity) and the user's ~/.ssh/authorized_keys on the guest")
    if any(s in text for s in ("Connection refused", "Connection timed out", "No route to host",
                               "Could not resolve hostname", "Network is unreachable", "Name or service not known")):
        return HostUnreachable(f"cannot reach {target}: {_last_ssh_line(stderr)}",
                               "check the address and port, that the guest is running and that sshd listens there")
    if any(s in text for s in ("Connection closed", "Connection reset", "Broken pipe", "not responding",
                               "closed by remote host", "Connection to", "client_loop")):
        return ConnectionLost(f"the SSH connection to {target} was lost: {_last_ssh_line(stderr)}",
                              "check the network to the guest, then run the same command again")
    return SshError(f"ssh to {target} failed: {_last_ssh_line(stderr)}", "run `ssh -v` by hand to see why")


def _last_ssh_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


@dataclass
class SshClient:
    """Runs argv lists on a guest with `ssh`, and copies files there with `scp`."""

    target: SshTarget
    sudo: bool = False  # prefix `sudo -n` to commands run with as_root=True
    extra_options: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        require_tool("ssh", "openssh-client")
        # One multiplexed connection for the many short commands of an install; it exits by
        # itself once idle, and close() ends it at once.
        self._control_dir = tempfile.mkdtemp(prefix="qganb-ssh-")

    def close(self) -> None:
        try:
            subprocess.run(["ssh", *self._options(), "-O", "exit", "-p", str(self.target.port),
                            "-l", self.target.user, self.target.host], capture_output=True, check=False, timeout=15)
        except subprocess.TimeoutExpired:
            # Only cleanup: the master exits by itself after ControlPersist; an error here would hide
            # the error that may be closing this client.
            pass
        shutil.rmtree(self._control_dir, ignore_errors=True)

    def __enter__(self) -> SshClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _options(self) -> list[str]:
        options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                   "-o", f"ConnectTimeout={self.target.connect_timeout}",
                   # A dead link is noticed in ~15 s instead of hanging until TCP gives up.
                   "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                   "-o", "ControlMaster=auto", "-o", f"ControlPath={ssh_option_path(self._control_dir)[:-1]}/%C\"",
                   "-o", "ControlPersist=20"]
        if self.target.known_hosts is not None:
            options += ["-o", f"UserKnownHostsFile={ssh_option_path(self.target.known_hosts)}"]
        if self.target.identity is not None:
            options += ["-o", "IdentitiesOnly=yes", "-o", f"IdentityFile={ssh_option_path(self.target.identity)}"]
        return options + self.extra_options

    def argv(self, command: Sequence[str] | None = None, *, as_root: bool = False) -> list[str]:
        """The `ssh` argv; the remote command is quoted with shlex so the guest's shell sees each word as given."""
        argv = ["ssh", *self._options(), "-p", str(self.target.port), "-l", self.target.user, self.target.host]
        if command:
            words = ["sudo", "-n", "--", *command] if as_root and self.sudo else list(command)
            argv += ["--", shlex.join(words)]
        return argv

    def run(self, command: Sequence[str], *, as_root: bool = False, check: bool = True,
            input_text: str | None = None, timeout: float | None = 120) -> RemoteResult:
        """Run `command` on the guest. Connection failures raise SshError subclasses; with `check`,
        a non-zero exit of the command raises SshCommandFailed."""
        argv = self.argv(command, as_root=as_root)
        try:
            done = subprocess.run(argv, input=input_text, capture_output=True, text=True, errors="replace",
                                  check=False, timeout=timeout,
                                  stdin=None if input_text is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise ConnectionLost(f"`{shlex.join(command)}` on {self.target} gave no answer within {timeout:g} s",
                                 "check the network to the guest and that it is not overloaded") from exc
        if done.returncode == 255:
            raise classify_ssh_failure(self.target, done.stderr)
        if as_root and self.sudo and done.returncode == 1 and "sudo:" in done.stderr:
            raise SudoUnavailable(f"{self.target.user} on {self.target} cannot run commands as root with `sudo -n`: "
                                  f"{_last_ssh_line(done.stderr)}",
                                  f"give {self.target.user} password-less sudo on the guest, or connect as root")
        result = RemoteResult(list(command), done.returncode, done.stdout, done.stderr)
        if check and not result.succeeded:
            raise SshCommandFailed(self.target, result.argv, result.returncode, result.stderr or result.stdout)
        return result

    def upload(self, files: Sequence[Path], remote_dir: str, timeout: float = 600) -> None:
        """Copy local files into `remote_dir` on the guest (scp over the same verified connection)."""
        require_tool("scp", "openssh-client")
        argv = ["scp", "-q", *self._options(), "-P", str(self.target.port),
                *(os.fspath(f) for f in files), f"{self.target.user}@{self._scp_host()}:{remote_dir}/"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ConnectionLost(f"copying to {self.target} did not finish within {timeout:g} s",
                                 "check the network to the guest") from exc
        if done.returncode != 0:
            error = classify_ssh_failure(self.target, done.stderr)
            if type(error) is SshError:
                error = SshError(f"copying {', '.join(f.name for f in files)} to {self.target}:{remote_dir} failed: "
                                 f"{_last_ssh_line(done.stderr)}", "check free space and permissions there")
            raise error

    def _scp_host(self) -> str:
        return f"[{self.target.host}]" if ":" in self.target.host else self.target.host

    def check_root(self) -> None:
        """Connect, learn whether we are root, and when not, that `sudo -n` works."""
        learn_root(self)
