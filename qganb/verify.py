"""The verify stage: ask the guest's agent through libvirt (`virsh qemu-agent-command`), locally or on
a remote hypervisor, whether the new commands are there, enabled, and answer as their recipes say.

Each way of failing has its own error and next step: the agent is not connected, the command is not
found (the old binary still runs), the command is disabled (configuration), or the command failed.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qganb.errors import AgentCommandError, QganbError
from qganb.process import require_tool
from qganb.recipe import Recipe
from qganb.ssh import SshClient
from qganb.verify_cases import CaseResult, judge

DEFAULT_URI = "qemu:///system"


class VerifyError(QganbError):
    pass


class UnknownDomain(VerifyError):
    pass


class AgentNotConfigured(VerifyError):
    pass


class AgentNotConnected(VerifyError):
    pass


class CommandNotFound(VerifyError):
    pass


class CommandDisabled(VerifyError):
    pass


class GuestCommandFailed(AgentCommandError):
    """The command ran in the guest and returned an error (what verify cases may expect)."""


def _classify(domain: str, command: str, message: str) -> Exception:
    if "failed to get domain" in message or "Domain not found" in message:
        return UnknownDomain(f"libvirt has no domain {domain!r}", "check the name with `virsh list --all`")
    if "not configured" in message:
        return AgentNotConfigured(
            f"{domain} has no guest agent channel",
            "add <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel> to the domain")
    if "not connected" in message or "not responding" in message or "not syncing" in message:
        return AgentNotConnected(
            f"the guest agent of {domain} is not connected",
            "check on the guest: `systemctl status qemu-guest-agent` and that /dev/virtio-ports/org.qemu.guest_agent.0 exists")
    if "has not been found" in message:
        return CommandNotFound(
            f"{command} is not known to the agent running in {domain}",
            "the old qemu-ga binary is still running or the package lacks the command: restart the service "
            "(`systemctl restart qemu-guest-agent`) and check `rpm -q qemu-guest-agent` on the guest")
    if "has been disabled" in message:
        return CommandDisabled(
            f"{command} is disabled by the agent's configuration in {domain}",
            "remove it from BLACKLIST_RPC/BLOCK_RPCS, or add it to --allow-rpcs, in /etc/sysconfig/qemu-ga; "
            "then restart qemu-guest-agent")
    desc = re.sub(r"^error: (internal error: )?unable to execute QEMU agent command '[^']+': ", "", message.strip())
    return GuestCommandFailed(command, "GenericError", desc)


def agent_command(domain: str, command: str, arguments: dict[str, Any] | None = None, *,
                  uri: str = DEFAULT_URI, timeout: int = 20) -> Any:
    """Run one guest agent command through `virsh qemu-agent-command`; return its `return` value."""
    require_tool("virsh", "libvirt-clients")
    message: dict[str, Any] = {"execute": command}
    if arguments:
        message["arguments"] = arguments
    done = subprocess.run(["virsh", "-c", uri, "qemu-agent-command", domain, json.dumps(message),
                           "--timeout", str(timeout)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise _classify(domain, command, (done.stderr or done.stdout).strip().splitlines()[0]
                        if (done.stderr or done.stdout).strip() else "no output")
    reply = json.loads(done.stdout)
    return reply.get("return")


@dataclass
class VerificationRecord:
    domain: str
    uri: str
    agent_version: str
    commands: dict[str, bool]  # command -> enabled
    cases: list[dict[str, Any]] = field(default_factory=list)
    finished: str = ""

    @property
    def passed(self) -> bool:
        return all(self.commands.values()) and all(c["passed"] for c in self.cases)


class VersionMismatch(VerifyError):
    pass


def check_commands(domain: str, recipes: list[Recipe], uri: str = DEFAULT_URI,
                   expect_version: str | None = None) -> tuple[str, dict[str, bool]]:
    """guest-info must report `expect_version` (when given) and list every recipe's command,
    enabled; else the specific error."""
    info = agent_command(domain, "guest-info", uri=uri)
    if expect_version is not None and info["version"] != expect_version:
        raise VersionMismatch(
            f"the agent in {domain} reports version {info['version']}, but the installed package is {expect_version}",
            "an old qemu-ga still runs: `systemctl restart qemu-guest-agent` on the guest, then verify again")
    listed = {c["name"]: c["enabled"] for c in info["supported_commands"]}
    for recipe in recipes:
        if recipe.command not in listed:
            raise _classify(domain, recipe.command, f"The command {recipe.command} has not been found")
        if not listed[recipe.command]:
            raise _classify(domain, recipe.command, f"The command {recipe.command} has been disabled")
    return info["version"], {r.command: listed[r.command] for r in recipes}


def verify_on_guest(domain: str, recipes: list[Recipe], *, uri: str = DEFAULT_URI,
                    record_path: Path | None = None, ssh: SshClient | None = None,
                    expect_version: str | None = None) -> VerificationRecord:
    """guest-info check, then every verify case through virsh, and after a passing case its
    guest-side check over SSH (when `ssh` is given); writes the record as JSON."""
    version, commands = check_commands(domain, recipes, uri, expect_version)
    record = VerificationRecord(domain, uri, version, commands)
    for recipe in recipes:
        for case in recipe.model.verify.cases:
            result: CaseResult = judge(recipe, case, lambda c, a: agent_command(domain, c, a, uri=uri))
            entry = asdict(result)
            if case.guest_check and ssh is not None and result.passed:
                # The recipe's own shell line, run as written: nothing is formatted into it.
                done = ssh.run(["sh", "-c", case.guest_check], check=False)
                entry["guest_check"] = case.guest_check
                if not done.succeeded:
                    entry["passed"] = False
                    entry["problem"] = (f"guest-check `{case.guest_check}` exited with status {done.returncode}"
                                        + (f": {done.stderr.strip().splitlines()[-1]}" if done.stderr.strip() else ""))
            record.cases.append(entry)
    record.finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if record_path is not None:
        record_path.write_text(json.dumps({**asdict(record), "passed": record.passed}, indent=2) + "\n")
    return record


def wait_for_agent(domain: str, *, uri: str = DEFAULT_URI, timeout: float = 60.0) -> float:
    """Poll guest-ping until the agent answers; return the seconds it took, or AgentNotConnected."""
    start = time.monotonic()
    while True:
        try:
            agent_command(domain, "guest-ping", uri=uri, timeout=5)
            return time.monotonic() - start
        except AgentNotConnected:
            if time.monotonic() - start > timeout:
                raise
            time.sleep(1)
