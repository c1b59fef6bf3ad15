"""facts-probe.sh and its parser on this host: the probe is run by a real `sh`, with stand-ins for the
guest's commands first on PATH (rpm, systemctl, getenforce, getsebool, dnf). The install tests run it
on the testbed guests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from qganb.errors import InstallError
from qganb.guest.facts import gather_facts, parse_probe
from qganb.guest.shell import RemoteResult


class HostShell:
    """GuestShell on this host: runs the argv with PATH set to the stand-ins, then the system's."""

    def __init__(self, bin_dir: Path) -> None:
        self.target = "root@probe-test"
        self.sudo = False
        self.bin_dir = bin_dir
        self.commands: list[list[str]] = []

    def run(self, command: Sequence[str], *, as_root: bool = False, check: bool = True,
            input_text: str | None = None, timeout: float | None = 120) -> RemoteResult:
        self.commands.append(list(command))
        env = {**os.environ, "PATH": f"{self.bin_dir}:/usr/bin:/bin",
               "PROBE_TEST_SUDO": "1" if as_root and self.sudo else ""}
        done = subprocess.run(list(command), input=input_text, capture_output=True, text=True, env=env, timeout=timeout)
        return RemoteResult(list(command), done.returncode, done.stdout, done.stderr)

    def upload(self, files: Sequence[Path], remote_dir: str, timeout: float = 600) -> None:
        raise AssertionError("the probe uploads nothing")

    def check_root(self) -> None:
        pass


def _command(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


@pytest.fixture
def guest(tmp_path: Path) -> tuple[HostShell, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    config = tmp_path / "qemu-ga.sysconfig"
    config.write_text('BLACKLIST_RPC="guest-file-open,guest-exec"\n')
    _command(bin_dir, "rpm", 'printf "qemu-guest-agent\\t10\\t2.12.0\\t3.el7\\tx86_64\\tabc123\\n"')
    _command(bin_dir, "systemctl", f'''[ "$1" = cat ] && [ "$2" = qemu-guest-agent ] || exit 1
echo "# /usr/lib/systemd/system/qemu-guest-agent.service"
echo "[Service]"
echo "EnvironmentFile=-{config}"
echo "ExecStart=/usr/bin/qemu-ga --method=virtio-serial --blacklist=\\${{BLACKLIST_RPC}}"''')
    # Not on an ordinary Debian host: dnf and yum would come from the system's PATH otherwise.
    _command(bin_dir, "dnf", "exit 127")
    _command(bin_dir, "yum", "exit 127")
    _command(bin_dir, "getenforce", "exit 127")
    return HostShell(bin_dir), bin_dir


def _facts(shell: HostShell, **overrides: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"package": "qemu-guest-agent", "wanted_installer": "auto",
                                  "service": "qemu-guest-agent", "selinux_booleans": []}
    options.update(overrides)
    return gather_facts(shell, **options)  # type: ignore[arg-type]


def test_one_session_reads_the_package_its_digest_the_unit_and_its_file(guest) -> None:
    shell, _ = guest
    facts = _facts(shell)
    assert str(facts.installed) == "qemu-guest-agent-10:2.12.0-3.el7.x86_64"
    assert facts.installed_digest == "abc123"
    assert facts.installer == "rpm"
    assert facts.install_running is None
    assert facts.config.exec_start is not None and "--blacklist" in facts.config.exec_start.text
    assert any("guest-exec" in text for text in facts.config.environment_files.values())
    assert facts.selinux.mode == "absent"
    # The probe reads the EnvironmentFile its unit names too: one session in all.
    assert [c[:2] for c in shell.commands] == [["sh", "-s"]]


def test_environment_files_keep_every_byte_and_a_continued_line_is_read_apart(guest, tmp_path: Path) -> None:
    shell, bin_dir = guest
    exact = tmp_path / "exact.env"
    exact.write_bytes(b'BLACKLIST_RPC="guest-exec"\n\n\nFSFREEZE_HOOK_ENABLE=0')  # blank lines, no last newline
    other = tmp_path / "continued.env"
    other.write_text("A=1\n")
    _command(bin_dir, "systemctl", f'''[ "$1" = cat ] || exit 1
echo "# /usr/lib/systemd/system/qemu-guest-agent.service"
echo "[Service]"
echo "EnvironmentFile=-{exact}"
echo "EnvironmentFile=-{tmp_path / 'absent.env'}"
echo "  EnvironmentFile=\\\\"
echo "    {other}"
echo "ExecStart=/usr/bin/qemu-ga"''')
    facts = _facts(shell)
    assert facts.config.environment_files[str(exact)] == exact.read_text()
    assert facts.config.environment_files[str(other)] == "A=1\n"
    assert str(tmp_path / "absent.env") not in facts.config.environment_files
    # Only the continued line's file needed a session of its own.
    assert [c for c in shell.commands if c[0] == "cat"] == [["cat", str(other)]]


def test_the_installer_is_the_first_that_answers(guest) -> None:
    shell, bin_dir = guest
    _command(bin_dir, "yum", "echo 3.4.3")
    assert _facts(shell).installer == "yum"
    _command(bin_dir, "dnf", "echo 4.14.0")
    assert _facts(shell).installer == "dnf"
    # One asked for is taken as it is, without running it.
    _command(bin_dir, "dnf", "exit 99")
    assert _facts(shell, wanted_installer="rpm").installer == "rpm"


def test_a_held_lock_names_the_running_install_and_a_stale_one_is_ignored(guest, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    shell, _ = guest
    lock = tmp_path / "qganb-install.lock"
    state = tmp_path / "qganb-install.ABC"
    monkeypatch.setattr("qganb.guest.facts.INSTALL_LOCK", str(lock))
    lock.symlink_to(state)
    assert _facts(shell).install_running is None  # its state directory is gone
    state.mkdir()
    assert _facts(shell).install_running == str(state)


def test_selinux_booleans_are_read_when_it_is_on(guest) -> None:
    shell, bin_dir = guest
    _command(bin_dir, "getenforce", "echo Enforcing")
    _command(bin_dir, "getsebool", '[ "$1" = virt_qemu_ga_run_unconfined ] && exit 1; echo "$1 --> on"')
    report = _facts(shell, selinux_booleans=["virt_use_nfs"]).selinux
    assert report.mode == "Enforcing"
    assert report.booleans == {"virt_qemu_ga_read_nonsecurity_files": "on", "virt_qemu_ga_run_unconfined": "unknown",
                               "virt_qemu_ga_manage_ssh": "on", "virt_use_nfs": "on"}
    assert report.needed == ["virt_use_nfs"]
    _command(bin_dir, "getenforce", "echo Disabled")
    assert _facts(shell).selinux.booleans == {}


def test_a_package_that_is_not_installed_and_a_guest_without_rpm(guest) -> None:
    shell, bin_dir = guest
    _command(bin_dir, "rpm", 'echo "package qemu-guest-agent is not installed"; exit 1')
    facts = _facts(shell)
    assert facts.installed is None and facts.installed_digest is None
    (bin_dir / "rpm").unlink()
    if Path("/usr/bin/rpm").exists() or Path("/bin/rpm").exists():
        _command(bin_dir, "rpm", "exit 127")  # as sh reports a missing command
    with pytest.raises(InstallError, match="has no `rpm` command"):
        _facts(shell)


def test_a_probe_that_cannot_run_is_an_error_naming_the_guest(guest) -> None:
    shell, bin_dir = guest
    _command(bin_dir, "sh", "echo 'sh: 1: cannot run' >&2; exit 2")
    with pytest.raises(InstallError, match=r"reading the facts of root@probe-test failed \(exit 2\): sh: 1: cannot run"):
        _facts(shell)


def test_the_parser_keeps_each_section_apart() -> None:
    text = "@@qganb-fact lock 1\n@@qganb-fact unit 0\n[Service]\nExecStart=/x\n@@qganb-fact getsebool:a_b 0\na_b --> off\n"
    answers = parse_probe(text)
    assert answers["lock"].returncode == 1 and answers["lock"].stdout == ""
    assert answers["unit"].stdout == "[Service]\nExecStart=/x\n"
    assert answers["getsebool:a_b"].stdout.strip() == "a_b --> off"


def test_the_first_session_learns_the_user_and_makes_the_state_directory(guest, tmp_path: Path) -> None:
    shell, _ = guest
    shell.sudo = True  # whatever was assumed before: the probe's uid decides
    facts = _facts(shell, learn_user=True, state_template=str(tmp_path / "qganb-install.XXXXXX"))
    assert shell.sudo is False  # this host runs the suite as root, as the probe saw
    probes = [c for c in shell.commands if c[:2] == ["sh", "-s"]]
    assert len(probes) == 1 and ["id", "-u"] not in shell.commands  # no round trip of its own for the user
    assert facts.state is not None and Path(facts.state).is_dir()
    assert Path(facts.state).parent == tmp_path and Path(facts.state).name.startswith("qganb-install.")


def test_a_state_directory_that_cannot_be_made_is_an_error_naming_where(guest, tmp_path: Path) -> None:
    shell, _ = guest
    with pytest.raises(InstallError, match="making a directory from .*/missing/qganb-install.XXXXXX"):
        _facts(shell, state_template=str(tmp_path / "missing" / "qganb-install.XXXXXX"))


def test_a_user_who_is_not_root_makes_the_state_directory_then_reads_through_sudo(guest, tmp_path: Path) -> None:
    shell, bin_dir = guest
    # Not root, except through sudo (the stand-in `id` reads how HostShell ran it).
    _command(bin_dir, "id", '[ -n "$PROBE_TEST_SUDO" ] && echo 0 || echo 1000')
    facts = _facts(shell, learn_user=True, state_template=str(tmp_path / "qganb-install.XXXXXX"))
    assert shell.sudo is True
    probes = [c for c in shell.commands if c[:2] == ["sh", "-s"]]
    assert len(probes) == 2 and probes[1][6] == "-", "the second run, through sudo, makes no second directory"
    assert [p.name.startswith("qganb-install.") for p in tmp_path.iterdir() if p.is_dir() and p.name != "bin"] \
        == [True]
    assert facts.state is not None and Path(facts.state).is_dir()
    assert str(facts.installed) == "qemu-guest-agent-10:2.12.0-3.el7.x86_64"
