"""A GuestShell over the connection Ansible opened to a host, for the rollout's action plugin.

Commands go through the connection plugin's exec_command as one shlex-quoted argv, exactly as
qganb's OpenSSH client sends them, so the guest sees each word as given. No module and no Python
run on the guest: a CentOS 7 guest with only python2 is as good as a Fedora one. Connection
failures become qganb's own SSH errors (the same classification as qganb's client), so the
install transaction reacts to them as it does under `qganb install`.
"""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qganb.errors import SshCommandFailed, SshError, SudoUnavailable
from qganb.guest.shell import learn_root
from qganb.guest.ssh import RemoteResult, SshTarget, classify_ssh_failure


class AnsibleShell:
    """Runs argv lists on one host through an Ansible connection plugin."""

    def __init__(self, connection: Any, target: SshTarget) -> None:
        self.connection = connection
        self.target = target
        self.sudo = False
        # One command at a time on the connection: qganb reads facts from threads, and a
        # connection plugin is not made to be driven from several at once.
        self._lock = threading.Lock()

    def run(self, command: Sequence[str], *, as_root: bool = False, check: bool = True,
            input_text: str | None = None, timeout: float | None = 120) -> RemoteResult:
        # The connection's own timeouts and keep-alives bound a command here (ansible.cfg's
        # ssh_args, set by the rollout); `timeout` is what qganb's own client would allow.
        from ansible.errors import AnsibleConnectionFailure, AnsibleError

        words = ["sudo", "-n", "--", *command] if as_root and self.sudo else list(command)
        data = input_text.encode() if input_text is not None else None
        with self._lock:
            try:
                rc, out, err = self.connection.exec_command(shlex.join(words), in_data=data, sudoable=False)
            except AnsibleConnectionFailure as exc:
                raise classify_ssh_failure(self.target, str(exc)) from exc
            except AnsibleError as exc:
                # Any other failure of the connection plugin: the transaction treats it as a lost link.
                raise SshError(f"Ansible could not run `{shlex.join(command)}` on {self.target}: {exc}",
                               "check the host's connection settings in the inventory") from exc
        stdout = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
        stderr = err.decode(errors="replace") if isinstance(err, bytes) else str(err)
        if rc == 255:
            raise classify_ssh_failure(self.target, stderr)
        if as_root and self.sudo and rc == 1 and "sudo:" in stderr:
            raise SudoUnavailable(f"{self.target.user} on {self.target} cannot run commands as root with `sudo -n`",
                                  f"give {self.target.user} password-less sudo on the guest, or connect as root")
        result = RemoteResult(list(command), rc, stdout, stderr)
        if check and not result.succeeded:
            raise SshCommandFailed(self.target, result.argv, result.returncode, result.stderr or result.stdout)
        return result

    def upload(self, files: Sequence[Path], remote_dir: str, timeout: float = 600) -> None:
        from ansible.errors import AnsibleError

        for path in files:
            with self._lock:
                try:
                    self.connection.put_file(os.fspath(path), f"{remote_dir}/{path.name}")
                except AnsibleError as exc:
                    error = classify_ssh_failure(self.target, str(exc))
                    if type(error) is SshError:
                        error = SshError(f"copying {path.name} to {self.target}:{remote_dir} failed: {exc}",
                                         "check free space and permissions there")
                    raise error from exc

    def check_root(self) -> None:
        learn_root(self)

    def close(self) -> None:
        """Ansible owns the connection: nothing to close here."""
