"""The verify stage: ask the guest's agent through libvirt (`virsh qemu-agent-command`), locally or on
a remote hypervisor, whether the new commands are there, enabled, and answer as their recipes say.

Each way of failing has its own error and next step (see the agent seam): the agent is not
connected, the command is not found (the old binary still runs), the command is disabled
(configuration), or the command failed.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from qganb.agent.transport import AgentTransport, command_error
from qganb.errors import VersionMismatch
from qganb.guest.shell import GuestShell
from qganb.recipes.cases import CaseResult, judge
from qganb.recipes.model import Recipe, load_recipes
from qganb.stages.records import EditRecord, InstallRecord, VerifyRecord
from qganb.stages.run_dir import RunDir, record_to_json


def check_commands(agent: AgentTransport, recipes: list[Recipe], *,
                   expect_version: str | None = None) -> tuple[str, dict[str, bool]]:
    """guest-info must report `expect_version` (when given) and list every recipe's command,
    enabled; else the specific error."""
    info = agent.execute("guest-info")
    if expect_version is not None and info["version"] != expect_version:
        raise VersionMismatch(
            f"the agent in {agent.name} reports version {info['version']}, but the installed package is "
            f"{expect_version}",
            "an old qemu-ga still runs: `systemctl restart qemu-guest-agent` on the guest, then verify again")
    listed = {c["name"]: c["enabled"] for c in info["supported_commands"]}
    for recipe in recipes:
        # The same wording the agent itself uses, so each case gets the same error as a direct call.
        if recipe.command not in listed:
            raise command_error(agent.name, recipe.command, "CommandNotFound",
                                f"The command {recipe.command} has not been found")
        if not listed[recipe.command]:
            raise command_error(agent.name, recipe.command, "CommandNotFound",
                                f"The command {recipe.command} has been disabled")
    return info["version"], {r.command: listed[r.command] for r in recipes}


def verify_on_guest(agent: AgentTransport, recipes: list[Recipe], *, domain: str, uri: str,
                    ssh: GuestShell | None = None, expect_version: str | None = None) -> VerifyRecord:
    """guest-info check, then every verify case through `agent`, and after a passing case its
    guest-side check over SSH (when `ssh` is given)."""
    version, commands = check_commands(agent, recipes, expect_version=expect_version)
    cases: list[dict[str, object]] = []
    for recipe in recipes:
        for case in recipe.model.verify.cases:
            result: CaseResult = judge(recipe, case, agent.execute)
            entry: dict[str, object] = asdict(result)
            if case.guest_check and ssh is not None and result.passed:
                # The recipe's own shell line, run as written: nothing is formatted into it.
                done = ssh.run(["sh", "-c", case.guest_check], check=False)
                entry["guest_check"] = case.guest_check
                if not done.succeeded:
                    entry["passed"] = False
                    entry["problem"] = (f"guest-check `{case.guest_check}` exited with status {done.returncode}"
                                        + (f": {done.stderr.strip().splitlines()[-1]}" if done.stderr.strip() else ""))
            cases.append(entry)
    passed = all(commands.values()) and all(bool(c["passed"]) for c in cases)
    return VerifyRecord(domain, uri, version, commands, cases, passed)


def run(run_dir: RunDir, agent: AgentTransport, *, domain: str, uri: str, ssh: GuestShell | None = None,
        recipes: list[Recipe] | None = None) -> VerifyRecord:
    """The verify stage: the edit stage's recipes (unless given) on the guest, expecting the version
    the install stage installed (when it ran). Recorded in the manifest and in verification.json."""
    if recipes is None:
        recipes = load_recipes(run_dir.load(EditRecord).recipes)
    installed = run_dir.loaded(InstallRecord)
    record = verify_on_guest(agent, recipes, domain=domain, uri=uri, ssh=ssh,
                             expect_version=installed.version if installed is not None else None)
    run_dir.record(record)
    # The same record as a file of its own, with when it was made (as the manifest has it).
    saved = {**record_to_json(record), "finished": run_dir.finished(VerifyRecord.STAGE)}
    run_dir.verification_path.write_text(json.dumps(saved, indent=2) + "\n")
    return record


def recorded_verification(run_dir: RunDir) -> VerifyRecord | None:
    """The verify stage's record, when it ran on this run's current build: the one place it is read."""
    return run_dir.loaded(VerifyRecord)
