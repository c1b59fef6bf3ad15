"""Rich output for the stage notebooks and the magics: tables, a highlighted diff, a live log tail
and the verification result. Each object has `_repr_html_` for Jupyter and `__str__` for headless
runs, so the same call reads well in JupyterLab, in papermill's output and in the report."""

from __future__ import annotations

import collections
import html
import json
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qganb.fleet.report import RolloutReport
    from qganb.stages.records import VerifyRecord

STREAM_ENV = "QGANB_STREAM_LOGS"  # a file that `qganb run` follows (see runner.LogFollower)


class Table:
    def __init__(self, rows: Iterable[Sequence[Any]], headers: Sequence[str], title: str = "") -> None:
        self.rows = [[_cell(v) for v in row] for row in rows]
        self.headers = list(headers)
        self.title = title

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'><code>{html.escape(c)}</code></td>" for c in row)
                       + "</tr>" for row in self.rows)
        caption = f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __str__(self) -> str:
        widths = [max([len(h), *(len(r[i]) for r in self.rows)]) for i, h in enumerate(self.headers)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(h.ljust(w) for h, w in zip(self.headers, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in self.rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


class Diff:
    """A unified diff with added, removed and hunk lines coloured."""

    COLOURS = {"+": "#116329", "-": "#82071e", "@": "#0550ae"}

    def __init__(self, text: str, title: str = "") -> None:
        self.text = text
        self.title = title

    def _repr_html_(self) -> str:
        lines = []
        for line in self.text.splitlines():
            colour = None if line.startswith(("+++", "---")) else self.COLOURS.get(line[:1])
            escaped = html.escape(line) or " "
            lines.append(f"<span style='color:{colour}'>{escaped}</span>" if colour else escaped)
        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        return f"{title}<pre style='max-height:40em;overflow:auto'>" + "\n".join(lines) + "</pre>"

    def __str__(self) -> str:
        return (self.title + "\n" if self.title else "") + self.text

    def __repr__(self) -> str:
        return str(self)


class LogTail:
    """The last lines of a long command's log, updated in place as lines arrive (a live pane in
    Jupyter; plain lines when there is no display)."""

    def __init__(self, title: str, lines: int = 15) -> None:
        self.title = title
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.count = 0
        self._handle: Any = None
        # Under `qganb run` the runner follows this file and streams it to the operator's terminal:
        # the executed notebook stays small and the terminal gets every line once.
        stream = os.environ.get(STREAM_ENV)
        self._stream = open(stream, "a", encoding="utf-8") if stream else None
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None:
                self._handle = display(self._html(), display_id=True)
        except ImportError:
            pass

    def _html(self) -> Any:
        from IPython.display import HTML

        text = html.escape("\n".join(self.lines))
        return HTML(f"<b>{html.escape(self.title)}</b> ({self.count} lines)"
                    f"<pre style='height:18em;overflow:auto'>{text}</pre>")

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.count += 1
        if self._stream is not None:
            self._stream.write(f"| {line}\n")
            self._stream.flush()
        if self._handle is not None and (self.count % 20 == 0 or line.startswith(("+ ", "error", "Wrote:"))):
            self._handle.update(self._html())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.update(self._html())
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def verification_table(record: VerifyRecord) -> Table:
    """One row per verify case of the verify stage's record."""
    rows = [("PASS" if c["passed"] else "FAIL", c["command"], c["case"],
             "yes" if c.get("guest_check") else "", c.get("problem", "") or ("" if c["passed"] else c["got"]))
            for c in record.cases]
    title = (f"{record.domain}: qemu-ga {record.agent_version}; "
             + ", ".join(f"{k} {'enabled' if v else 'disabled'}" for k, v in record.commands.items()))
    return Table(rows, ["result", "command", "case", "guest-check", "detail"], title)


def rollout_table(report: RolloutReport) -> Table:
    """One row per host of a rollout: its batch, how it ended, the package before and after."""
    rows = [(h.host, h.batch or "-", h.status, h.before or "-", h.after or "-", h.verify or "-",
             "; ".join(t for t in (h.message, h.fix) if t)) for h in report.hosts]
    return Table(rows, ["host", "batch", "status", "before", "after", "verify", "note"], report.summary())
