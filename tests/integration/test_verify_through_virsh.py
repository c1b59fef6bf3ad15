"""The verify stage through real `virsh qemu-agent-command` on the testbed guest (stock agent)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from qganb.recipes.model import load_recipe, parse_recipe
from qganb.testbed import guest
from qganb.agent.transport import DEFAULT_URI, wait_for_agent
from qganb.agent.virsh import VirshAgent
from qganb.errors import AgentCommandError, AgentNotConnected, CommandDisabled, CommandNotFound, UnknownDomain
from qganb.stages import verify
from qganb.stages.records import VerifyRecord
from qganb.stages.run_dir import RunDir
from qganb.stages.verify import check_commands, verify_on_guest

pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("stock_testbed")]
ROOT = Path(__file__).resolve().parents[2]

HOST_NAME = """\
command: guest-get-host-name
doc: Upstream's own command, verified the way a recipe's is.
implementation:
  posix: "return NULL;"
verify:
  cases:
    - name: reports the testbed's host name
      satisfies:
        fields:
          host-name: {equals: qganb-guest}
"""


def test_a_passing_verification_writes_its_record(stock_testbed, tmp_path: Path) -> None:
    recipe = parse_recipe(HOST_NAME, tmp_path / "host-name.yaml")
    direct = verify_on_guest(VirshAgent(guest.DOMAIN), [recipe], domain=guest.DOMAIN, uri=DEFAULT_URI)
    assert direct.passed and direct.agent_version == "7.2.0"
    run_dir = RunDir(tmp_path / "run")
    record = verify.run(run_dir, VirshAgent(guest.DOMAIN), domain=guest.DOMAIN, uri=DEFAULT_URI, recipes=[recipe])
    assert record.passed
    saved = json.loads(run_dir.verification_path.read_text())
    assert saved["passed"] is True and saved["cases"][0]["case"] == "reports the testbed's host name"
    assert run_dir.load(VerifyRecord) == record, "the verify stage records itself in the manifest"


def test_cli_verify_prints_cases_and_writes_the_record(testbed_guest, tmp_path: Path) -> None:
    import sys

    recipe = tmp_path / "host-name.yaml"
    recipe.write_text(HOST_NAME)
    done = subprocess.run([sys.executable, "-m", "qganb", "verify", str(recipe), "--domain", guest.DOMAIN,
                           "--run", str(tmp_path / "run")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "PASS  guest-get-host-name: reports the testbed's host name" in done.stdout
    assert (tmp_path / "run" / "verification.json").is_file()
    missing = subprocess.run([sys.executable, "-m", "qganb", "verify", str(ROOT / "recipes" / "guest-get-uptime.yaml"),
                              "--domain", guest.DOMAIN], capture_output=True, text=True)
    assert missing.returncode == 1
    assert missing.stderr.startswith("qganb: error: guest-get-uptime is not known to the agent running in qganb-testbed")


def test_a_command_the_running_agent_lacks_is_not_found(testbed_guest) -> None:
    recipe = load_recipe(ROOT / "recipes" / "guest-set-watchdog-timeout.yaml")
    with pytest.raises(CommandNotFound, match="old qemu-ga binary is still running"):
        check_commands(VirshAgent(guest.DOMAIN), [recipe])


def test_a_blocked_command_is_disabled(testbed_guest) -> None:
    with pytest.raises(CommandDisabled, match=r"guest-file-open is disabled by the agent's configuration.*BLACKLIST_RPC"):
        VirshAgent(guest.DOMAIN).execute("guest-file-open", {"path": "/etc/hostname"})


def test_a_command_error_is_the_guests_own_message(testbed_guest) -> None:
    with pytest.raises(AgentCommandError, match="unexpected"):
        VirshAgent(guest.DOMAIN).execute("guest-get-host-name", {"bogus": 1})


def test_unknown_domain(testbed_guest) -> None:
    with pytest.raises(UnknownDomain, match="no domain 'no-such-guest'"):
        VirshAgent("no-such-guest").execute("guest-ping")


def test_a_stopped_agent_is_not_connected_and_comes_back(testbed_guest) -> None:
    image, _ = testbed_guest
    subprocess.run(guest.ssh_argv(image, ["systemctl", "stop", "qemu-guest-agent"]), check=True)
    try:
        with pytest.raises(AgentNotConnected, match="not connected"):
            VirshAgent(guest.DOMAIN).execute("guest-ping", timeout=5)
    finally:
        subprocess.run(guest.ssh_argv(image, ["systemctl", "start", "qemu-guest-agent"]), check=True)
    assert wait_for_agent(VirshAgent(guest.DOMAIN), timeout=60) < 60
    assert VirshAgent(guest.DOMAIN).execute("guest-ping") == {}
