"""validate runs recipe C in a bubblewrap sandbox: a recipe that writes system files, reaches for
the network and looks at its PID does all of it to a throwaway layer, on a real QEMU 7.2 tree."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qganb.agent.sandbox import DESCRIPTION, Sandbox
from qganb.recipes.model import parse_recipe
from qganb.recipes.validate import validate_recipes

ROOT = Path(__file__).resolve().parents[2]
PROBE_FILE = Path("/etc/qganb-sandbox-probe")
PROBE = """\
command: guest-sandbox-probe
doc: What a command can do to the machine its agent runs on.
arguments:
  - name: port
    type: int
    doc: a TCP port on 127.0.0.1 to try to reach
    min: 1
    max: 65535
returns:
  doc: what the command could do
  struct:
    name: GuestSandboxProbe
    doc: Result of guest-sandbox-probe.
    fields:
      - {name: wrote-etc, type: bool, doc: whether /etc/qganb-sandbox-probe could be written}
      - {name: var-lib, type: str, doc: what writing under /var/lib gave}
      - {name: reached-host, type: bool, doc: whether the port answered}
      - {name: pid, type: int, doc: the agent's own process id}
implementation:
  includes: ["<fcntl.h>", "<netinet/in.h>", "<sys/socket.h>", "<unistd.h>"]
  posix: |
    GuestSandboxProbe *result = g_new0(GuestSandboxProbe, 1);
    struct sockaddr_in addr = { 0 };
    int fd;

    result->wrote_etc = g_file_set_contents("/etc/qganb-sandbox-probe", "probe\\n", -1, NULL);
    fd = open("/var/lib/qganb-sandbox-probe", O_WRONLY | O_CREAT, 0644);
    result->var_lib = g_strdup(fd < 0 ? g_strerror(errno) : "written");
    if (fd >= 0) {
        close(fd);
        unlink("/var/lib/qganb-sandbox-probe");
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    result->reached_host = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    result->pid = getpid();
    return result;
verify:
  cases:
    - name: stays in its sandbox
      arguments: {port: PORT}
      satisfies:
        fields:
          wrote-etc: {equals: true}
          var-lib: {pattern: "Read-only file system"}
          reached-host: {equals: false}
          pid: {max: 10}
      guest-check: grep -qx probe /etc/qganb-sandbox-probe
"""

pytestmark = pytest.mark.fixture_build


@pytest.fixture()
def listener():
    """A TCP port on the host's loopback that records whether anything connected."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    yield server
    server.close()


def _connected(server: socket.socket) -> bool:
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return False
    conn.close()
    return True


def test_recipe_c_writes_into_a_throwaway_layer_without_network(qemu_trees, listener, tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    recipe = parse_recipe(PROBE.replace("PORT", str(port)), tmp_path / "guest-sandbox-probe.yaml")
    try:
        report = validate_recipes(qemu_trees["7.2"], [recipe])
        assert report.sandbox == DESCRIPTION
        assert report.passed, report.summary()
        assert f"agent: {DESCRIPTION}" in report.summary()
        assert not PROBE_FILE.exists(), "the write reached the build host's /etc"
        assert not _connected(listener), "the agent reached the build host's network"
    finally:
        PROBE_FILE.unlink(missing_ok=True)


def test_a_guest_check_sees_only_its_own_layer(tmp_path: Path) -> None:
    first, second = Sandbox(), Sandbox()
    try:
        done = subprocess.run(first.argv(["sh", "-c", "echo one > /etc/qganb-layer && cat /etc/qganb-layer"]),
                              capture_output=True, text=True, check=False)
        assert done.stdout == "one\n" and first.path_of("/etc/qganb-layer").read_text() == "one\n"
        assert second.run(["test", "-e", "/etc/qganb-layer"]).returncode == 1
        assert first.run(["grep", "-qx", "one", "/etc/qganb-layer"]).returncode == 0
        assert not Path("/etc/qganb-layer").exists()
    finally:
        first.remove()
        second.remove()
        Path("/etc/qganb-layer").unlink(missing_ok=True)


def test_the_cli_says_which_mode_it_used(qemu_trees) -> None:
    recipe = str(ROOT / "recipes" / "guest-get-uptime.yaml")
    for flags, said in (([], DESCRIPTION), (["--no-sandbox"], "no sandbox (--no-sandbox)")):
        done = subprocess.run([sys.executable, "-m", "qganb", "recipe", "validate", recipe, "--source",
                               str(qemu_trees["7.2"]), *flags], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"agent: {said}" in done.stdout


SLOW = """\
command: guest-slow-probe
doc: Answers after two seconds.
returns:
  doc: how long it slept
  struct:
    name: GuestSlowProbe
    doc: Result of guest-slow-probe.
    fields:
      - {name: seconds, type: int, doc: the seconds slept}
implementation:
  posix: |
    GuestSlowProbe *result = g_new0(GuestSlowProbe, 1);

    g_usleep(2 * G_USEC_PER_SEC);
    result->seconds = 2;
    return result;
verify:
  cases:
    - name: answers within half a second
      timeout: 0.5
      expect: {seconds: 2}
    - name: answers when given the time
      expect: {seconds: 2}
"""


def test_a_slow_command_is_reported_as_slow_and_the_agent_goes_on(qemu_trees, tmp_path: Path) -> None:
    recipe = parse_recipe(SLOW, tmp_path / "guest-slow-probe.yaml")
    report = validate_recipes(qemu_trees["7.2"], [recipe])
    slow, patient = report.cases
    assert not slow.passed and slow.got == "no answer within 0.5 s"
    assert slow.problem.startswith("slow: ") and "raise the case's `timeout`" in slow.problem
    assert patient.passed, "a late answer to the slow case must not be taken for the next case's"
