"""The run report: `report.html` with a summary, a stage timing chart, the verification table and
(when the run rolled out to a fleet) the rollout's hosts and timeline, linking each executed stage
notebook rendered to HTML by nbconvert."""

from __future__ import annotations

import html
from pathlib import Path

from qganb.fleet.report import RolloutReport
from qganb.notebook.display import rollout_table, verification_table
from qganb.stages.records import BuildRecord, EditRecord, FetchRecord, InstallRecord, RolloutRecord
from qganb.stages.run_dir import RunDir
from qganb.stages.table import STAGES
from qganb.stages.verify import recorded_verification


def timing_chart(timings: dict[str, float]) -> str:
    """A horizontal bar per stage, as inline SVG (no plotting library needed for a few bars)."""
    stages = [s.name for s in STAGES if s.name in timings]
    longest = max([timings[s] for s in stages] + [1.0])
    row, label, width = 24, 70, 420
    bars = []
    for index, stage in enumerate(stages):
        y = index * row
        length = max(1.0, timings[stage] / longest * width)
        bars.append(f"<text x='0' y='{y + 16}' font-size='13'>{stage}</text>"
                    f"<rect x='{label}' y='{y + 4}' width='{length:.1f}' height='16' fill='#4c72b0'/>"
                    f"<text x='{label + length + 6:.1f}' y='{y + 16}' font-size='13'>{timings[stage]:.1f} s</text>")
    height = row * len(stages) + 4
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{label + width + 80}' height='{height}' "
            f"role='img' aria-label='stage timings'>{''.join(bars)}</svg>")


def rollout_section(record: RolloutRecord) -> str:
    """The rollout's verdict, its hosts and its timeline (from rollout.json, while it is there)."""
    verdict = "complete" if record.ok else "stopped" if record.stopped else "incomplete"
    heading = f"<h2>{'Check' if record.check else 'Rollout'}: {verdict}</h2>"
    if not record.report.is_file():
        return (heading + f"<p>{html.escape(record.summary)}</p>"
                f"<p>(the hosts' detail, {html.escape(str(record.report))}, is gone)</p>")
    report = RolloutReport.load(record.report)  # the table's caption is its summary
    return heading + rollout_table(report)._repr_html_() + "<p></p>" + report.timeline_svg()


def write_report(run_dir: RunDir, timings: dict[str, float]) -> Path:
    from nbconvert import HTMLExporter

    out = run_dir.subdir("report")
    exporter = HTMLExporter()
    links = []
    for stage in STAGES:
        executed = run_dir.path / "notebooks" / stage.notebook
        if executed.is_file():
            body, _ = exporter.from_filename(str(executed))
            (out / f"{executed.stem}.html").write_text(body, encoding="utf-8")
            links.append(f"<li><a href='report/{executed.stem}.html'>{executed.stem}</a> "
                         f"({timings.get(stage.name, 0):.1f} s)</li>")
    summary = []
    if (fetched := run_dir.loaded(FetchRecord)) is not None:
        summary.append(("src.rpm", fetched.nevra))
    if (edited := run_dir.loaded(EditRecord)) is not None:
        summary.append(("commands", ", ".join(edited.commands)))
    if (built := run_dir.loaded(BuildRecord)) is not None:
        summary += [("built", p.nevra) for p in built.packages]
    if (installed := run_dir.loaded(InstallRecord)) is not None:
        summary.append(("installed on", f"{installed.target} ({installed.domain}): {installed.installed}"))
    if (rolled := run_dir.loaded(RolloutRecord)) is not None:
        counts = ", ".join(f"{n} {status}" for status, n in rolled.counts.items())
        summary.append(("checked on" if rolled.check else "rolled out to", f"{rolled.inventory} ({counts})"))
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>"
                   for k, v in summary)
    verification = ""
    record = recorded_verification(run_dir)
    if record is not None:
        verdict = "passed" if record.passed else "FAILED"
        verification = f"<h2>Verification: {verdict}</h2>" + verification_table(record)._repr_html_()
    rollout = rollout_section(rolled) if rolled is not None else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qganb run {html.escape(run_dir.path.name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} td,th{{padding:2px 8px}}</style></head>
<body><h1>qganb run {html.escape(run_dir.path.name)}</h1>
<table>{rows}</table>
<h2>Stage timings ({sum(timings.values()):.0f} s in all)</h2>
{timing_chart(timings)}
{verification}
{rollout}
<h2>Executed notebooks</h2><ul>{''.join(links)}</ul>
</body></html>
"""
    report = run_dir.path / "report.html"
    report.write_text(page, encoding="utf-8")
    return report
