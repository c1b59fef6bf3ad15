"""Writes the figures table of benchmarks/README.md from benchmarks/results/*.json.

Run last by `make bench`, so the README always shows the figures of the last run, each with the
targets it was checked against.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def _fixture_cache(r: dict[str, Any]) -> str:
    return f"warm `qganb testbed srpm` {r['qganb_warm_median']:.2f} s (bare `rpm -qp` {r['rpm_qp_median']:.2f} s)"


def _testbed_start(r: dict[str, Any]) -> str:
    warm = r["warm"]
    text = f"warm: guest-ping {warm['median_guest_ping']} s, sshd {warm['median_sshd']} s"
    if r.get("cold"):
        cold = r["cold"]
        text = (f"cold: image build {cold['image_build_seconds']} s + guest-ping {cold['boot_to_guest_ping_seconds']} s "
                f"= {cold['total_seconds']} s to sshd; " + text)
    return text


def _edit_loop(r: dict[str, Any]) -> str:
    times = r["body_change_seconds"]
    rej = r["rejection_seconds"]
    med = statistics.median
    return (f"body change: validate {med(times['validate'])} s vs ninja {med(times['ninja'])} s "
            f"(**{r['validate_vs_ninja']}×**); rejected: C error {med(rej['c-error'])} s, doc error "
            f"{med(rej['qapi-doc-error'])} s vs `rpmbuild -bb` {r['rpmbuild_bb_seconds']} s "
            f"(**{r['rejection_vs_rpmbuild_bb']['c-error']:.1%}**, **{r['rejection_vs_rpmbuild_bb']['qapi-doc-error']:.1%}**)")


def _notebook_edit_loop(r: dict[str, Any]) -> str:
    times = r["body_change_seconds"]
    steps = r["kernel_step_medians"]
    med = statistics.median
    return (f"body change: `%%qga_recipe --validate` in a warm kernel {med(times['kernel'])} s vs ninja "
            f"{med(times['ninja'])} s (**{r['kernel_vs_ninja']}×**; `qganb recipe validate` {med(times['cli'])} s, "
            f"{r['cli_vs_ninja']}×); in the kernel: build {steps['build']} s, cases {steps['cases']} s, everything "
            f"beyond the build {r['kernel_beyond_build_median']} s")


def _pipeline_overhead(r: dict[str, Any]) -> str:
    return (f"`qganb run` {r['median_qganb']} s vs bare script {r['median_bare']} s (**{r['ratio']}×**); "
            f"without ccache {r['median_qganb_no_ccache']} s ({r['ratio_no_ccache']}×)")


def _runner_overheads(r: dict[str, Any]) -> str:
    med = statistics.median
    return (f"body change to verified on the guest {med(r['after_body_change_seconds'])} s vs first full run "
            f"{med(r['full_run_seconds'])} s (**{r['loop_vs_full']}×**; {r['loop_vs_full_warm_cache']}× a warm-cache "
            f"full run); kernel + papermill {r['kernel_and_papermill_seconds_total']} s per run; runner peak RSS "
            f"**{r['runner_peak_rss_mb']} MB**")


def _demo_stages(r: dict[str, Any]) -> str:
    stages = ", ".join(f"{k} {v}" for k, v in r["stage_seconds"].items())
    guest = (f"guest up {r['testbed_up_seconds']} s beside the stages" if r.get("testbed_up_beside_stages")
             else f"guest up {r['testbed_up_seconds']} s before the stages")
    return f"`make demo` {r['demo_total_seconds']} s: fixture {r['fixture_seconds']} s, {guest}; {stages} s"


def _first_demo(r: dict[str, Any]) -> str:
    cold, warm = r["cold"], r["warm"]
    stages = ", ".join(f"{k} {v}" for k, v in cold["stage_seconds"].items())
    return (f"cold `make demo` in a fresh clone **{cold['make_demo_seconds']} s**: set-up {cold['setup_seconds']} s, "
            f"`demo.sh` {cold['demo_sh_seconds']} s (fixture {cold['fixture_seconds']} s, guest up "
            f"{cold['guest_up_seconds']} s beside {stages} s); warm **{warm['make_demo_seconds']} s** "
            f"(`demo.sh` {warm['demo_sh_seconds']} s); {r['note']}"
            + (f"; apt measured apart {r['apt_seconds']} s" if r.get("apt_seconds") else ""))


def _rollout_scaling(r: dict[str, Any]) -> str:
    batches = ", ".join(f"{k} guest(s) {v} s" for k, v in r["median_batch_seconds"].items())
    one = r["one_guest"]
    return (f"batch after the canary: {batches} (3 vs 1: **{r['batch_of_3_vs_1']}×**); one guest: rollout "
            f"{statistics.median(one['rollout_seconds'])} s vs `qganb install` "
            f"{statistics.median(one['qganb_install_seconds'])} s (Ansible adds {one['ansible_overhead_seconds']} s)")


def _install_overhead(r: dict[str, Any]) -> str:
    phases = ", ".join(f"{k} {v}" for k, v in r["qganb_phase_seconds_median"].items() if k != "total")
    return (f"`qganb install` {statistics.median(r['qganb_install_seconds'])} s vs bare scp + `rpm -U` + restart + "
            f"guest-ping {statistics.median(r['bare_seconds'])} s (**{r['install_vs_bare']}×**); its phases: {phases} s")


def _suite_time(r: dict[str, Any]) -> str:
    wall = r["make_test_seconds"]
    total = f"{wall / 60:.1f} min" if wall is not None else f"pytest {r['pytest_seconds'] / 60:.1f} min"
    groups = ", ".join(f"{k} {v:.0f}" for k, v in r["group_seconds"].items())
    busy = ", ".join(f"{k} {v:.0f}" for k, v in r["worker_busy_seconds"].items())
    return (f"`make test` on a clean clone **{total}** ({r['outcome']}; {r['workers']} workers, busy {busy} s); "
            f"by group: {groups} s")


FIGURES: dict[str, Callable[[dict[str, Any]], str]] = {
    "first_demo": _first_demo, "fixture_cache": _fixture_cache, "testbed_start": _testbed_start, "edit_loop": _edit_loop,
    "notebook_edit_loop": _notebook_edit_loop,
    "pipeline_overhead": _pipeline_overhead, "runner_overheads": _runner_overheads, "demo_stages": _demo_stages,
    "install_overhead": _install_overhead, "rollout_scaling": _rollout_scaling, "suite_time": _suite_time,
}


def table() -> str:
    rows = ["| benchmark | figures (medians) | targets |", "|---|---|---|"]
    for name, figures in FIGURES.items():
        path = HERE / "results" / f"{name}.json"
        if not path.is_file():
            rows.append(f"| `{name}` | not run yet | |")
            continue
        result = json.loads(path.read_text())
        try:
            text = figures(result)
        except KeyError as exc:
            rows.append(f"| `{name}` | results in an older format (no {exc}): run `make bench` | |")
            continue
        targets = "; ".join(f"{'PASS' if ok else 'FAIL'}: {t}" for t, ok in result.get("targets", {}).items())
        rows.append(f"| `{name}` | {text} | {targets} |")
    return "\n".join(rows)


def main() -> int:
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{README} lacks the {START} ... {END} markers the table goes between")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    README.write_text(f"{before}{START}\n{table()}\n{END}{after}")
    print(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
