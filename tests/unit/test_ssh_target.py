"""Parsing `[user@]host[:port]` and building ssh argv that always verifies host keys."""

from __future__ import annotations

import shlex
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


def test_argv_verifies_host_keys_and_quotes_each_word() -> None:
    client = SshClient(SshTarget("h", "u", 2200, Path("/k"), Path("/kh")), sudo=True)
    argv = client.argv(["grep", "-q", "a b;c", "/etc/x"], as_root=True)
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/kh" in argv
    assert not any("StrictHostKeyChecking=no" in a for a in argv)
    assert shlex.split(argv[-1]) == ["sudo", "-n", "--", "grep", "-q", "a b;c", "/etc/x"]
    client.close()
