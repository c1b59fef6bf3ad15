"""qganb.fleet.agent_install: qganb's install transaction and verify on one host.

Options (the playbook `qganb rollout` writes sets them): rpms (controller paths of the builds),
domain, uri, recipes, installer, flags, host_flags (the host's qganb_install_flags), unblock, allow_downgrade, reinstall, known_rpms, log_dir.
Check mode runs the pre-checks only.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase


def _flags(value: Any) -> list[str]:
    """qganb_install_flags from the inventory: a list, or one string of space-separated options."""
    if not value:
        return []
    return [str(v) for v in value] if isinstance(value, list) else str(value).split()


class ActionModule(ActionBase):
    # False: Ansible would make its remote tmp directory first (a change on the guest, even in check
    # mode, and a connection outside qganb's error handling); the uploads go to qganb's own state.
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _option(self, name: str, default: Any = None) -> Any:
        try:
            value = self._connection.get_option(name)
        except KeyError:
            value = None
        return default if value is None else value

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        from qganb.errors import QganbError

        result = super().run(tmp, task_vars)
        try:
            result.update(self._rollout(task_vars or {}))
        except QganbError as error:  # bad options: rollout_host itself never raises one
            result.update(failed=True, status="failed", msg=error.problem, fix=error.fix or "")
        return result

    def _rollout(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        from qganb.fleet.ansible_shell import AnsibleShell
        from qganb.fleet.builds import read_builds
        from qganb.fleet.host_rollout import HostLog, rollout_host
        from qganb.guest.ssh import SshTarget
        from qganb.stages.install import InstallOptions

        args = self._task.args
        host = task_vars.get("inventory_hostname", "host")
        target = SshTarget(str(self._option("host", self._play_context.remote_addr)),
                           str(self._option("remote_user", getpass.getuser())), int(self._option("port", 22)))
        flags = _flags(args.get("host_flags")) + list(args.get("flags", []))
        options = InstallOptions(installer=args.get("installer", "auto"), extra_flags=flags,
                                 known_rpms=[Path(p) for p in args.get("known_rpms", [])],
                                 unblock=bool(args.get("unblock", False)),
                                 allow_downgrade=bool(args.get("allow_downgrade", False)),
                                 reinstall=bool(args.get("reinstall", False)))
        return rollout_host(
            AnsibleShell(self._connection, target), builds=read_builds([Path(p) for p in args["rpms"]]),
            domain=str(args.get("domain") or host), uri=str(args.get("uri") or "qemu:///system"),
            recipes=[Path(p) for p in args.get("recipes", [])], options=options, check=self._task.check_mode,
            log=HostLog(Path(args["log_dir"]) / f"{host}.log"))
