"""A throwaway sandbox for running recipe C on the build host (bubblewrap, from Debian's package).

`qganb recipe validate` builds qemu-ga with a recipe's C and calls it; the C may reboot, delete or
write system files. In the sandbox the host's file system is read-only; /etc is a throwaway copy
and /tmp, /var/tmp and /run are empty throwaway directories, so the writes a command makes there
land in the layer (and verify cases can check them at their real paths), while writes anywhere
else fail with "Read-only file system". It has no network (only its own loopback), its own PID,
IPC and UTS namespaces, and dies with qganb. Debian 12's bubblewrap (0.8) has no overlay mounts,
hence the copy of /etc: 4 MB, made while the build runs.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from qganb.errors import CommandFailed, SandboxUnavailable

# Host directory -> name of its throwaway stand-in in the layer; /etc starts as a copy of the host's.
WRITABLE = {"/etc": "etc", "/tmp": "tmp", "/var/tmp": "var-tmp", "/run": "run"}
DESCRIPTION = ("bubblewrap sandbox: host read-only, /etc /tmp /var/tmp /run throwaway, "
               "no network, own PID namespace")
UNSANDBOXED = "no sandbox (--no-sandbox): recipe C ran as this user on the build host"


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "`bwrap` is not installed, and validate runs recipe C only inside its sandbox",
            "install the `bubblewrap` package (or run `make setup`); on a host where it cannot run, "
            "pass --no-sandbox to run the agent unconfined")
    return path


class Sandbox:
    """One throwaway layer, prepared in the background, and the bwrap argv that runs in it."""

    def __init__(self, parent: Path | None = None) -> None:
        self.bwrap = bwrap_path()
        self.layer = Path(tempfile.mkdtemp(prefix="qganb-sandbox-", dir=parent))
        self._error: BaseException | None = None
        # Copying /etc takes ~0.2 s: long enough to hide behind a build, not to wait for.
        self._ready = threading.Thread(target=self._prepare, name="qganb-sandbox-layer", daemon=True)
        self._ready.start()

    def _prepare(self) -> None:
        try:
            for name in WRITABLE.values():
                (self.layer / name).mkdir(mode=0o700)
            (self.layer / "tmp").chmod(0o1777)
            (self.layer / "var-tmp").chmod(0o1777)
            (self.layer / "run").chmod(0o755)
            # cp keeps owners, modes, links and special files as they are; nothing is interpreted.
            done = subprocess.run(["cp", "-a", "--no-target-directory", "/etc", str(self.layer / "etc")],
                                  capture_output=True, text=True, timeout=120, check=False)
            if done.returncode != 0:
                raise CommandFailed(["cp", "-a", "/etc", str(self.layer / "etc")], done.returncode,
                                    done.stderr.splitlines()[-5:], fix="check free space in the temporary directory")
        except BaseException as exc:  # re-raised in the caller's thread by wait()
            self._error = exc

    def failed(self) -> bool:
        """True when preparing the layer has already failed (wait() raises the error)."""
        return not self._ready.is_alive() and self._error is not None

    def wait(self) -> None:
        self._ready.join()
        if self._error is not None:
            raise self._error

    def path_of(self, host_path: str) -> Path:
        """Where a file the sandbox wrote at `host_path` (under a writable directory) is on the host."""
        for directory, name in WRITABLE.items():
            if host_path == directory or host_path.startswith(directory + "/"):
                return self.layer / name / host_path[len(directory):].lstrip("/")
        raise ValueError(f"{host_path} is not under a writable directory of the sandbox")

    def argv(self, command: Sequence[str], *, shared: Sequence[Path] = (), visible: Sequence[Path] = ()) -> list[str]:
        """bwrap's argv around `command`; `shared` directories are bound read-write at their own paths
        (the agent's socket and state) and `visible` paths read-only (a binary unpacked under /tmp),
        after the throwaway ones so that they stay visible."""
        self.wait()
        argv = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                "--unshare-ipc", "--unshare-uts", "--hostname", "qganb-sandbox",
                "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for directory, name in WRITABLE.items():
            argv += ["--bind", str(self.layer / name), directory]
        for path in shared:
            argv += ["--bind", str(path), str(path)]
        for path in visible:
            argv += ["--ro-bind", str(path), str(path)]
        return [*argv, "--", *command]

    def run(self, command: Sequence[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a short command (a verify case's guest-check) in this layer."""
        return subprocess.run(self.argv(command), capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)

    def remove(self) -> None:
        self._ready.join()
        shutil.rmtree(self.layer, ignore_errors=True)
