"""A rollout's outcome: one row per host, the batches on a timeline, and rollout.json."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

GOOD = ("installed", "unchanged", "checked")
COLOURS = {"installed": "#2e7d32", "unchanged": "#607d8b", "checked": "#1565c0", "rolled back": "#ef6c00",
           "failed": "#c62828", "check failed": "#c62828", "unreachable": "#6a1b9a", "skipped": "#9e9e9e",
           "not reached": "#bdbdbd", "outcome unknown": "#000000"}


@dataclass
class HostOutcome:
    host: str
    status: str = "not reached"  # until its install task ends
    batch: int | None = None
    before: str | None = None
    after: str | None = None
    build: str | None = None
    verify: str = ""  # passed, FAILED, or "" when it did not run
    message: str = ""
    fix: str = ""
    started: float | None = None  # seconds since the rollout started
    ended: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in GOOD and self.verify != "FAILED"


@dataclass
class RolloutReport:
    inventory: str
    builds: list[str]
    serial: list[int | str]
    max_fail_percentage: int
    check: bool
    limit: str | None
    hosts: list[HostOutcome] = field(default_factory=list)
    seconds: float = 0.0
    ansible_rc: int | None = None
    directory: str = ""

    @property
    def ok(self) -> bool:
        """Every selected host ended installed, unchanged (or checked), and verified."""
        return bool(self.hosts) and all(h.ok for h in self.hosts)

    @property
    def stopped(self) -> bool:
        return any(h.status == "not reached" for h in self.hosts)

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for host in self.hosts:
            counted[host.status] = counted.get(host.status, 0) + 1
        return counted

    def summary(self) -> str:
        what = "check" if self.check else "rollout"
        parts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        verdict = ("complete" if self.ok else "stopped: a batch failed beyond --max-fail-percentage"
                   if self.stopped else "incomplete")
        return f"{what} of {len(self.hosts)} host(s) {verdict} in {self.seconds:.0f} s: {parts}"

    def table(self) -> str:
        rows = [("host", "batch", "status", "before", "after", "verify", "note")]
        for h in self.hosts:
            rows.append((h.host, str(h.batch or "-"), h.status, h.before or "-", h.after or "-", h.verify or "-",
                         h.message))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:6], widths)) + ("  " + r[6] if r[6] else "")
                         for r in rows).rstrip()

    def timeline(self) -> str:
        """The batches as text bars: each host from its install's start to its end."""
        spans = [h for h in self.hosts if h.started is not None and h.ended is not None]
        if not spans:
            return "(no host was reached)"
        end = max(h.ended or 0 for h in spans) or 1.0
        width = 50
        lines = []
        for h in sorted(spans, key=lambda h: (h.batch or 0, h.started or 0)):
            a = int((h.started or 0) / end * width)
            b = max(a + 1, int((h.ended or 0) / end * width))
            lines.append(f"batch {h.batch} {h.host[:20].ljust(20)} |{' ' * a}{'#' * (b - a)}{' ' * (width - b)}| "
                         f"{h.started:5.0f}-{h.ended:.0f} s {h.status}")
        return "\n".join(lines)

    def timeline_svg(self) -> str:
        """The same timeline as an SVG chart, for the notebook."""
        spans = [h for h in self.hosts if h.started is not None and h.ended is not None]
        end = max([h.ended or 0 for h in spans] + [1.0])
        row, left, width = 22, 190, 520
        height = row * (len(self.hosts) + 2)
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{height}" '
                 'font-family="sans-serif" font-size="12">']
        for i, h in enumerate(sorted(self.hosts, key=lambda h: (h.batch or 99, h.started or 0))):
            y = row * (i + 1)
            label = escape(f"batch {h.batch or '-'}  {h.host}")
            parts.append(f'<text x="4" y="{y + 14}">{label}</text>')
            if h.started is not None and h.ended is not None:
                x = left + h.started / end * width
                w = max(2.0, (h.ended - h.started) / end * width)
                parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
                             f'fill="{COLOURS.get(h.status, "#000")}"><title>{escape(h.status)}</title></rect>')
                parts.append(f'<text x="{x + w + 4:.1f}" y="{y + 14}">{escape(h.status)}</text>')
            else:
                parts.append(f'<text x="{left}" y="{y + 14}" fill="#757575">{escape(h.status)}</text>')
        axis = row * (len(self.hosts) + 1) + 14
        parts.append(f'<text x="{left}" y="{axis}">0 s</text>'
                     f'<text x="{left + width - 30}" y="{axis}">{end:.0f} s</text></svg>')
        return "".join(parts)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ok=self.ok, stopped=self.stopped, counts=self.counts())
        return data

    def save(self, path: Path) -> None:
        scratch = path.with_name(f".{path.name}.partial")
        scratch.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(scratch, path)

    @classmethod
    def load(cls, path: Path) -> RolloutReport:
        data = json.loads(path.read_text())
        for derived in ("ok", "stopped", "counts"):
            data.pop(derived, None)
        hosts = [HostOutcome(**h) for h in data.pop("hosts")]
        return cls(**data, hosts=hosts)
