"""The IPython extension in a real InteractiveShell: %qga and %qga_commands against the testbed
domain through virsh and against a real qemu-ga on a unix socket; %%qga_recipe on a real tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from qganb.agent.sandbox import DESCRIPTION, UNSANDBOXED
from qganb.errors import QganbError, UsageError, ValidationFailed
from qganb.agent.local import LocalAgent
from qganb.rpm.payload import extract_payload
from qganb.testbed import guest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "qganb")
    return ipython


@pytest.fixture(scope="module")
def stock_agent_socket(tmp_path_factory: pytest.TempPathFactory):
    """The stock fixture RPM's own qemu-ga, listening on a unix socket."""
    root = extract_payload(guest.stock_agent_rpm(), tmp_path_factory.mktemp("stock") / "payload")
    with LocalAgent(root / "usr/bin/qemu-ga") as agent:
        yield agent.socket_path


@pytest.mark.fixture_build
def test_qga_on_a_socket_renders_json_and_tables(shell: InteractiveShell, stock_agent_socket: Path) -> None:
    info = shell.run_line_magic("qga", f"--socket {stock_agent_socket} guest-info")
    assert info.value["version"] == "7.2.0"
    assert '"version": "7.2.0"' in repr(info) and "<pre>" in info._repr_html_()
    assert shell.run_line_magic("qga", f"--socket {stock_agent_socket} guest-ping").value == {}
    # A list of objects renders as a table.
    interfaces = shell.run_line_magic("qga", f"--socket {stock_agent_socket} guest-network-get-interfaces")
    assert isinstance(interfaces.value, list) and "<table>" in interfaces._repr_html_()
    assert "name" in repr(interfaces).splitlines()[1]


@pytest.mark.fixture_build
def test_qga_commands_lists_enabled_state_and_marks_ours(shell: InteractiveShell, stock_agent_socket: Path) -> None:
    table = shell.run_line_magic("qga_commands", f"--socket {stock_agent_socket}")
    rows = {row[0]: row for row in table.rows}
    assert rows["guest-ping"][1] == "yes" and rows["guest-ping"][2] == ""
    assert "guest-set-watchdog-timeout" not in rows  # the stock agent lacks our commands


@pytest.mark.testbed
@pytest.mark.fixture_build
def test_qga_through_virsh_on_the_testbed_domain(shell: InteractiveShell, stock_testbed) -> None:
    name = shell.run_line_magic("qga", f"--domain {guest.DOMAIN} guest-get-host-name")
    assert name.value == {"host-name": "qganb-guest"}
    default = shell.run_line_magic("qga", 'guest-get-time')  # no --domain: the testbed
    assert isinstance(default.value, int)
    table = shell.run_line_magic("qga_commands", f"--domain {guest.DOMAIN}")
    assert ("guest-file-open", "no", "") in [tuple(r) for r in table.rows]  # blocked by the el7 sysconfig
    with pytest.raises(QganbError, match="guest-get-uptime is not known to the agent"):
        shell.run_line_magic("qga", f"--domain {guest.DOMAIN} guest-get-uptime")


def test_qga_rejects_arguments_that_are_not_a_json_object(shell: InteractiveShell) -> None:
    with pytest.raises(QganbError, match="are not JSON"):
        shell.run_line_magic("qga", "--socket /nonexistent guest-set-watchdog-timeout {timeout: 60}")
    with pytest.raises(QganbError, match="needs a command"):
        shell.run_line_magic("qga", "")


@pytest.mark.fixture_build
def test_qga_recipe_cell_validates_and_previews(shell: InteractiveShell, tmp_path: Path) -> None:
    text = (ROOT / "recipes" / "guest-get-uptime.yaml").read_text()
    saved = tmp_path / "guest-get-uptime.yaml"
    preview = shell.run_cell_magic("qga_recipe", f"--qemu 7.2 --save {saved}", text)
    assert "GuestUptime *qmp_guest_get_uptime(Error **errp)" in preview.as_text()
    assert saved.read_text() == text
    with pytest.raises(QganbError, match="command name 'guest_bad'"):
        shell.run_cell_magic("qga_recipe", "", text.replace("command: guest-get-uptime", "command: guest_bad"))


UPTIME_BODY = "    up = g_ascii_strtod(text, &end);"


@pytest.mark.fixture_build
def test_qga_recipe_validate_builds_and_runs_every_case(shell: InteractiveShell, tmp_path: Path) -> None:
    text = (ROOT / "recipes" / "guest-get-uptime.yaml").read_text()
    saved = tmp_path / "guest-get-uptime.yaml"
    result = shell.run_cell_magic("qga_recipe", f"--validate --save {saved}", text)
    assert result.passed and result.report.binary is not None and result.report.binary.is_file()
    assert result.report.sandbox == DESCRIPTION
    assert result.table.headers == ["command", "case", "result", "expected", "got / note"]
    assert [row[:3] for row in result.table.rows] == [["guest-get-uptime", "reports positive uptime", "PASS"]]
    page = result._repr_html_()
    assert "<table>" in page and "<code>PASS</code>" in page and "1 passed, 0 failed" in page
    assert "GuestUptime *qmp_guest_get_uptime(Error **errp)" in result.preview.as_text()
    assert saved.read_text() == text

    # The edit loop: a one-line change of the body compiles that file only, and the kernel's
    # kept listing of the unchanged tree stands in for find.
    from qganb.notebook.recipe_validation import KEPT_LISTINGS
    from qganb.tree_watch import watchable

    reused = KEPT_LISTINGS.reused
    changed = text.replace(UPTIME_BODY, UPTIME_BODY + " /* edited */")
    again = shell.run_cell_magic("qga_recipe", "--validate", changed)
    assert again.passed and not again.report.configured
    assert again.report.compiled == ["qga/commands-posix.c"]
    assert KEPT_LISTINGS.reused == reused + watchable(Path(again.report.tree))


@pytest.mark.fixture_build
def test_qga_recipe_validate_shows_a_failing_case_as_a_fail_row(shell: InteractiveShell, tmp_path: Path) -> None:
    text = (ROOT / "recipes" / "guest-get-uptime.yaml").read_text()
    wrong = text.replace("uptime-seconds: {type: number, min: 0}", "uptime-seconds: {type: number, max: 0.001}")
    assert wrong != text
    saved = tmp_path / "guest-get-uptime.yaml"
    result = shell.run_cell_magic("qga_recipe", f"--validate --no-sandbox --save {saved}", wrong)
    assert not result.passed and result.report.sandbox == UNSANDBOXED
    (row,) = result.table.rows
    assert row[:3] == ["guest-get-uptime", "reports positive uptime", "FAIL"]
    assert '"max": 0.001' in row[3]
    assert "result.uptime-seconds should be <= 0.001" in row[4]
    assert "<code>FAIL</code>" in result._repr_html_() and "0 passed, 1 failed" in repr(result)
    assert not saved.exists() and "not saved" in repr(result)  # a failing recipe does not overwrite a file


@pytest.mark.fixture_build
def test_qga_recipe_validate_raises_a_c_error_at_the_recipe_line(shell: InteractiveShell) -> None:
    text = (ROOT / "recipes" / "guest-get-uptime.yaml").read_text()
    broken = text.replace(UPTIME_BODY, "    up = g_ascii_strtod(text, &no_such_end);")
    with pytest.raises(ValidationFailed) as info:
        shell.run_cell_magic("qga_recipe", "--validate", broken)
    line = next(i for i, t in enumerate(broken.splitlines(), 1) if "no_such_end" in t)
    message = str(info.value)
    assert re.search(rf"<%%qga_recipe cell>:{line}: implementation.posix: error: .*no_such_end", message), message
    assert message.startswith("qemu-ga does not build with guest-get-uptime on QEMU 7.2.0:"), message


def test_qga_recipe_rejects_options_it_does_not_know_or_that_do_not_fit(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="unknown arguments --valdate"):
        shell.run_cell_magic("qga_recipe", "--valdate", "command: guest-x\n")
    with pytest.raises(UsageError, match="--no-sandbox only applies with --validate"):
        shell.run_cell_magic("qga_recipe", "--no-sandbox", "command: guest-x\n")


PING = """\
command: guest-ping
doc: Upstream's own command, verified the way a recipe's is.
implementation:
  posix: "return;"
verify:
  cases:
    - name: answers with an empty object
      expect: {}
"""


@pytest.mark.fixture_build
def test_qga_run_shows_the_verification_of_a_run_whose_verify_stage_ran(
        shell: InteractiveShell, stock_agent_socket: Path, tmp_path: Path) -> None:
    from qganb.agent.unix_socket import AgentSocket
    from qganb.recipes.model import parse_recipe
    from qganb.stages import verify
    from qganb.stages.run_dir import RunDir

    run_dir = RunDir(tmp_path / "run")
    recipe = parse_recipe(PING, tmp_path / "guest-ping.yaml")
    with AgentSocket(stock_agent_socket) as agent:
        record = verify.run(run_dir, agent, domain="local", uri=f"unix:{stock_agent_socket}", recipes=[recipe])
    assert record.passed and run_dir.verification_path.is_file()
    table = shell.run_line_magic("qga_run", str(run_dir.path))
    assert table.headers[:3] == ["result", "command", "case"]
    assert [row[:3] for row in table.rows] == [["PASS", "guest-ping", "answers with an empty object"]]
    assert table.title.startswith("local: qemu-ga 7.2.0")


def test_an_unknown_domain_is_one_message_with_its_fix_not_a_traceback(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    result = shell.run_cell("%qga --domain qganb-no-such-domain guest-info")
    assert isinstance(result.error_in_exec, QganbError)
    shown = capsys.readouterr().out
    assert "qganb-no-such-domain" in shown.splitlines()[0] and "fix: " in shown
    assert "Traceback" not in shown and "site-packages" not in shown and "/qganb/" not in shown
