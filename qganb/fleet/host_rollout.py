"""One host of a rollout, as the action plugin runs it: pick the build that matches the package the
host runs, then qganb's install transaction (or, in check mode, its pre-checks) and the recipes'
verify cases through virsh on the host's hypervisor. The result is a plain dict for Ansible.

Every host reaches one of these statuses: installed, unchanged, rolled back, failed (nothing
changed, e.g. a refused downgrade; or installed, but the new build's verify failed: see `verify`),
unreachable, outcome unknown (the connection was lost during the transaction: finish it with
`qganb install --resume <host>.pending.json`), skipped (no build for its package) or, in check
mode, checked / check failed.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qganb.agent.virsh import VirshAgent
from qganb.errors import (AuthenticationFailed, ConnectionLost, HostKeyRejected, HostUnreachable,
                          InstallOutcomeUnknown, InstallRolledBack, QganbError, RollbackFailed)
from qganb.fleet.builds import describe, matching_build
from qganb.guest.facts import installed_package
from qganb.guest.shell import GuestShell
from qganb.rpm.query import Nevra
from qganb.stages.install import AGENT_PACKAGE, InstallOptions, check_install, install_rpm
from qganb.stages.verify import verify_on_guest

UNREACHABLE = (HostUnreachable, HostKeyRejected, AuthenticationFailed, ConnectionLost)


class HostLog:
    """The host's progress lines, appended to its log file as they come (the driver follows it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def pending_path(self) -> Path:
        """Where the install notes its transaction while the outcome is open (for `--resume`)."""
        return self.path.with_suffix(".pending.json")

    def __call__(self, line: str) -> None:
        with self.path.open("a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} {line}\n")


def _failure(result: dict[str, Any], status: str, error: QganbError) -> dict[str, Any]:
    result.update(status=status, failed=True, msg=error.problem, fix=error.fix or "", details=error.details())
    return result


def rollout_host(shell: GuestShell, *, builds: dict[Path, Nevra], domain: str, uri: str, recipes: list[Path],
                 options: InstallOptions, check: bool, log: HostLog) -> dict[str, Any]:
    """Install (or check) the matching build on one host, then verify it; never raises a QganbError."""
    from qganb.recipes.model import load_recipes

    started = time.monotonic()
    result: dict[str, Any] = {"changed": False, "failed": False, "domain": domain, "uri": uri, "before": None,
                              "after": None, "build": None, "verify": None, "msg": "", "fix": ""}
    try:
        loaded = load_recipes(recipes)
        shell.check_root()
        installed = installed_package(shell, AGENT_PACKAGE)
        result["before"] = result["after"] = str(installed) if installed else None
        build = matching_build(installed, builds)
        if build is None:
            result.update(status="skipped", msg=f"no build for {installed or 'a host without ' + AGENT_PACKAGE} "
                          f"among {describe(builds)}",
                          fix="build one from this host's own src.rpm and add it with --rpm or --run")
            log(result["msg"])
            return result
        result["build"] = str(builds[build])
        commands = [r.command for r in loaded]
        booleans = [b for r in loaded for b in r.model.selinux_booleans]
        if check:
            found = check_install(shell, build, domain=domain, uri=uri, commands=commands, selinux_booleans=booleans,
                                  options=options, say=log)
            result.update(status="checked", check=asdict(found),
                          msg=f"would {found.action} {found.package}" if found.action != "unchanged" else "unchanged")
            if found.blocked and not options.unblock:
                # The install would go through, and the new command would answer "disabled".
                result.update(status="check failed", failed=True,
                              msg=f"the agent's configuration disables a new command: {found.blocked[0]}",
                              fix="pass --unblock to rewrite that line during the install, or edit it first")
            return result
        try:
            record = install_rpm(shell, build, domain=domain, uri=uri, commands=commands, selinux_booleans=booleans,
                                 options=options, say=log, log_path=log.path.with_suffix(".guest.log"),
                                 pending_path=log.pending_path)
        except (ConnectionLost, InstallOutcomeUnknown) as error:
            if not log.pending_path.is_file():
                raise  # lost before the transaction started: nothing changed
            # The transaction goes on by itself on the guest; libvirt has not checked its end.
            return _failure(result, "outcome unknown", QganbError(
                error.problem, f"when the host is reachable, finish it with `qganb install --resume "
                f"{log.pending_path} --guest USER@HOST:PORT --domain DOMAIN --connect URI` (this host's), which checks "
                "the agent "
                "through libvirt and rolls back if it does not answer"))
        result.update(status=record.outcome, changed=record.outcome != "unchanged", after=record.installed,
                      seconds=record.seconds)
        try:
            verified = verify_on_guest(VirshAgent(domain, uri=uri), loaded, domain=domain, uri=uri, ssh=shell,
                                       expect_version=builds[build].version)
        except QganbError as error:
            # Installed and answering guest-ping, but the commands are not there as the recipes say.
            log(f"verify: ERROR: {error.problem}")
            result.update(verify={"passed": False, "error": error.one_line()}, failed=True,
                          msg=f"verify failed: {error.problem}", fix=error.fix or "")
            return result
        result["verify"] = {"passed": verified.passed, "agent_version": verified.agent_version,
                            "cases": verified.cases}
        failed = [c for c in verified.cases if not c["passed"]]
        log(f"verify: {'passed' if verified.passed else 'FAILED'} ({len(verified.cases) - len(failed)}/"
            f"{len(verified.cases)} cases)")
        if not verified.passed:
            result.update(failed=True, msg=f"verify failed: {failed[0]['command']}: {failed[0]['case']}"
                          if failed else "verify failed", fix="see the verify cases in rollout.json")
        return result
    except UNREACHABLE as error:
        return _failure(result, "unreachable", error)
    except RollbackFailed as error:
        return _failure(result, "failed", error)
    except InstallRolledBack as error:
        try:
            after = installed_package(shell, AGENT_PACKAGE)
            result["after"] = str(after) if after else None
        except QganbError:
            result["after"] = result["before"]  # what the rollback put back, as it reported
        return _failure(result, "rolled back", error)
    except QganbError as error:
        return _failure(result, "check failed" if check else "failed", error)
    finally:
        result["seconds_total"] = round(time.monotonic() - started, 1)
