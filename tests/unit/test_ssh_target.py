"""Parsing `[user@]host[:port]` and building ssh argv that always verifies host keys."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from qganb.guest.ssh import SshClient, SshError, SshTarget


@pytest.mark.parametrize(("text", "user", "host", "port"), [
    ("guest.example", "root", "guest.example", 22),
    ("admin@10.0.0.5:2222", "admin", "10.0.0.5", 2222),
    ("[::1]:22022", "root", "::1", 22022),
])
def test_targets_parse(text: str, user: str, host: str, port: int) -> None:
    target = SshTarget.parse(text)
    assert (target.user, target.host, target.port) == (user, host, port)


@pytest.mark.parametrize("text", ["", "a b", "root@host:0", "root@host:99999", "host;rm -rf /"])
def test_bad_targets_say_how_to_write_one(text: str) -> None:
    with pytest.raises(SshError, match="root@192.0.2.10:22|port"):
        SshTarget.parse(text)


def test_argv_verifies_host_keys_and_quotes_each_word(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("key")
    client = SshClient(SshTarget("h", "u", 2200, key, Path("/kh")), sudo=True)
    argv = client.argv(["grep", "-q", "a b;c", "/etc/x"], as_root=True)
    assert "StrictHostKeyChecking=yes" in argv and 'UserKnownHostsFile="/kh"' in argv
    assert not any("StrictHostKeyChecking=no" in a for a in argv)
    assert shlex.split(argv[-1]) == ["sudo", "-n", "--", "grep", "-q", "a b;c", "/etc/x"]
    client.close()


@pytest.mark.parametrize("text", ["-oProxyCommand", "-oProxyCommand@host", "root@-host", "-x@h:22"])
def test_a_user_or_host_that_ssh_would_read_as_an_option_is_refused(text: str) -> None:
    with pytest.raises(SshError, match=r"starts with `-`, which ssh would read as an option; "):
        SshTarget.parse(text)


def test_a_target_built_directly_is_checked_too() -> None:
    with pytest.raises(SshError, match="starts with `-`"):
        SshTarget("-oProxyCommand=sh")


def test_a_missing_identity_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SshError, match=r"identity file .*nokey does not exist; give the private key's path"):
        SshTarget.parse("root@h", identity=tmp_path / "nokey")


def _resolved(client: SshClient, key: str) -> list[str]:
    """What the real ssh makes of our options (`ssh -G` prints its configuration and exits)."""
    argv = client.argv()
    done = subprocess.run(["ssh", "-G", *argv[1:]], capture_output=True, text=True, check=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    return [line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith(key + " ")]


def test_known_hosts_and_identity_paths_keep_their_meaning_for_ssh(tmp_path: Path) -> None:
    # Spaces would split the path into several files, and ssh expands %h, %d, ~ in these options.
    odd = tmp_path / 'a  b %h %% "q" \\x'
    odd.mkdir()
    key = odd / "id key"
    key.write_text("key")
    known = odd / "known hosts"
    client = SshClient(SshTarget("h", "u", 22, key, known))
    try:
        assert _resolved(client, "userknownhostsfile") == [str(known)]
        # IdentityFile is percent-expanded when ssh loads it; -G prints it before that, so %% stays doubled.
        assert _resolved(client, "identityfile") == [str(key).replace("%", "%%")]
        control = _resolved(client, "controlpath")
        assert len(control) == 1 and re.fullmatch(re.escape(client._control_dir) + r"/[0-9a-f]{40}", control[0])
    finally:
        client.close()
