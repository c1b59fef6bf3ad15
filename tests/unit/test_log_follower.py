"""`qganb run` streams the stages' long logs from the file the kernel appends to, each line once."""

from __future__ import annotations

import threading
from pathlib import Path

from qganb.notebook.runner import LogFollower


def test_every_line_arrives_once_in_order_including_an_unterminated_last_one(tmp_path: Path) -> None:
    got: list[str] = []
    stream = tmp_path / "stream.log"
    half_seen = threading.Event()

    def on_line(line: str) -> None:
        got.append(line)
        if line == "| line 49":
            half_seen.set()

    with LogFollower(stream, on_line):
        with stream.open("a") as writer:
            for number in range(50):
                writer.write(f"| line {number}\n")
                writer.flush()
            assert half_seen.wait(5), "lines are passed on while the stage still runs"
            writer.write("| line 50\n| partial")
    assert got == [f"| line {n}" for n in range(51)] + ["| partial"]


def test_a_new_follower_starts_from_an_empty_file(tmp_path: Path) -> None:
    stream = tmp_path / "stream.log"
    stream.write_text("| from the previous stage\n")
    got: list[str] = []
    with LogFollower(stream, got.append):
        pass
    assert got == []
