"""The run report: `report.html` with a summary, a stage timing chart and the verification table,
linking each executed stage notebook rendered to HTML by nbconvert."""

from __future__ import annotations

import html
import json
from pathlib import Path

from qganb.display import verification_table
from qganb.run_dir import STAGES, RunDir


def timing_chart(timings: dict[str, float]) -> str:
    """A horizontal bar per stage, as inline SVG (no plotting library needed for eight bars)."""
    stages = [s for s in STAGES if s in timings]
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


def write_report(run_dir: RunDir, timings: dict[str, float]) -> Path:
    from nbconvert import HTMLExporter

    out = run_dir.subdir("report")
    exporter = HTMLExporter()
    links = []
    for stage in STAGES:
        executed = run_dir.path / "notebooks" / f"{STAGES.index(stage) + 1:02d}-{stage}.ipynb"
        if executed.is_file():
            body, _ = exporter.from_filename(str(executed))
            (out / f"{executed.stem}.html").write_text(body, encoding="utf-8")
            links.append(f"<li><a href='report/{executed.stem}.html'>{executed.stem}</a> "
                         f"({timings.get(stage, 0):.1f} s)</li>")
    manifest = run_dir.manifest()["stages"]
    summary = []
    if "fetch" in manifest:
        summary.append(("src.rpm", manifest["fetch"]["nevra"]))
    if "edit" in manifest:
        summary.append(("commands", ", ".join(manifest["edit"]["commands"])))
    if "build" in manifest:
        summary += [("built", p["nevra"]) for p in manifest["build"]["packages"]]
    if "install" in manifest:
        summary.append(("installed on", f"{manifest['install']['target']} ({manifest['install']['domain']}): "
                                         f"{manifest['install']['installed']}"))
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>"
                   for k, v in summary)
    verification = ""
    record_path = run_dir.path / "verification.json"
    if record_path.is_file() and "verify" in timings:
        record = json.loads(record_path.read_text())
        verdict = "passed" if record.get("passed") else "FAILED"
        verification = f"<h2>Verification: {verdict}</h2>" + verification_table(record)._repr_html_()
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qganb run {html.escape(run_dir.path.name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} td,th{{padding:2px 8px}}</style></head>
<body><h1>qganb run {html.escape(run_dir.path.name)}</h1>
<table>{rows}</table>
<h2>Stage timings ({sum(timings.values()):.0f} s in all)</h2>
{timing_chart(timings)}
{verification}
<h2>Executed notebooks</h2><ul>{''.join(links)}</ul>
</body></html>
"""
    report = run_dir.path / "report.html"
    report.write_text(page, encoding="utf-8")
    return report
