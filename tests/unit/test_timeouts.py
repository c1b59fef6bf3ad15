"""Every subprocess and every agent call has a time limit, and running out of time is a qganb
error that says what to do; a verify case's own limit makes a slow command "slow", not a crash."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qganb.agent.virsh import VirshAgent
from qganb.errors import AgentTimedOut, CommandTimedOut
from qganb.process import output_of, run
from qganb.recipes.model import VerifyCase

ROOT = Path(__file__).resolve().parents[2]


def test_a_command_that_runs_too_long_is_stopped_with_a_clear_error() -> None:
    start = time.monotonic()
    with pytest.raises(CommandTimedOut, match=r"`sleep` did not finish within 0.5 s and was stopped; check what it waits for"):
        run(["sleep", "30"], timeout=0.5)
    with pytest.raises(CommandTimedOut, match=r"`sleep` did not finish within 0.5 s"):
        output_of(["sleep", "30"], timeout=0.5)
    assert time.monotonic() - start < 10


@pytest.fixture()
def silent_endpoint() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung libvirtd, as virsh sees it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_virsh_that_hangs_is_stopped_and_reported(silent_endpoint: int) -> None:
    agent = VirshAgent("nodomain", uri=f"qemu+tcp://127.0.0.1:{silent_endpoint}/system", timeout=1)
    start = time.monotonic()
    with pytest.raises(AgentTimedOut, match=r"virsh gave no answer for guest-ping on nodomain .* within \d+ s; "
                       r"check that libvirtd answers"):
        agent.execute("guest-ping")
    assert time.monotonic() - start < 30


def test_a_verify_case_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        VerifyCase(name="x", expect=1, timeout=0)
