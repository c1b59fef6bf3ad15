"""The notebook surfaces without a QEMU tree: run paths and QGANB_RUNS_DIR, %qga_run on a path that is
no run, qganb's errors shown without a traceback, the patch viewer on diffs with and without git
headers, and the log pane's rendering."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ipywidgets as w
import pytest
from IPython.core.interactiveshell import InteractiveShell

from qganb import paths
from qganb.errors import QganbError, StageMissing
from qganb.notebook.support import open_run, run_path
from qganb.notebook.widgets import DiffViewer, LogPane, split_patch

ROOT = Path(__file__).resolve().parents[2]
PLAIN = ("--- a/qga/commands-posix.c\n+++ b/qga/commands-posix.c\n@@ -1,2 +1,3 @@\n ctx\n+added\n"
         "--- a/qga/qapi-schema.json\n+++ b/qga/qapi-schema.json\n@@ -5 +5,2 @@\n-x\n+y\n+z\n")
GIT = ("From 1 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] qga: two files\n---\n qga/a.c | 2 +-\n\n"
       "diff --git a/qga/a.c b/qga/a.c\nindex 1..2 100644\n--- a/qga/a.c\n+++ b/qga/a.c\n@@ -1 +1 @@\n-old\n+new\n"
       "diff --git a/qga/gone.c b/qga/gone.c\ndeleted file mode 100644\n--- a/qga/gone.c\n+++ /dev/null\n"
       "@@ -1 +0,0 @@\n-bye\n")


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "qganb")
    return ipython


def test_relative_run_paths_follow_qganb_runs_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QGANB_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert run_path("runs/notebooks") == tmp_path / "elsewhere" / "notebooks"
    assert run_path("notebooks") == tmp_path / "elsewhere" / "notebooks"
    assert run_path("runs/demo-1/") == tmp_path / "elsewhere" / "demo-1"
    assert run_path(tmp_path / "abs") == tmp_path / "abs"
    run = open_run("runs/notebooks")
    assert run.path == tmp_path / "elsewhere" / "notebooks"
    monkeypatch.delenv("QGANB_RUNS_DIR")
    assert run_path("runs/notebooks") == paths.runs_dir() / "notebooks"


def test_qga_run_reads_the_runs_directory_and_never_makes_a_run(
        shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QGANB_RUNS_DIR", str(tmp_path))
    missing = tmp_path / "no-such-run"
    with pytest.raises(StageMissing, match="is not a run directory"):
        shell.run_line_magic("qga_run", str(missing))
    assert not missing.exists()  # a mistyped path makes no directory, no logs/
    with pytest.raises(StageMissing, match="notebooks is not a run directory"):
        shell.run_line_magic("qga_run", "")
    assert not (tmp_path / "notebooks").exists()
    run = open_run("runs/notebooks")  # what the stage notebooks create with their default run_dir
    run.manifest_path.write_text('{"stages": {}}')
    table = shell.run_line_magic("qga_run", "")
    assert table.title == str(tmp_path / "notebooks") and table.rows == []


def test_qganb_errors_in_a_cell_show_the_message_and_fix_without_a_traceback(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = shell.run_cell(f"%qga --socket {tmp_path}/absent.sock guest-ping")
    assert isinstance(result.error_in_exec, QganbError)  # the cell still fails, for papermill and nbval
    shown = capsys.readouterr().out
    assert shown.splitlines()[0].startswith(f"{type(result.error_in_exec).__name__}: ")
    assert "fix: " in shown and "%tb" in shown
    assert "Traceback" not in shown and "qganb/agent" not in shown and "File " not in shown
    tb = shell.run_cell("%tb")  # the traceback is there when asked for, of this very error
    assert tb.error_in_exec is None and "absent.sock" in capsys.readouterr().out
    result = shell.run_cell("1 / 0")  # other errors keep IPython's own traceback
    assert isinstance(result.error_in_exec, ZeroDivisionError) and "Traceback" in capsys.readouterr().out


def test_the_patch_viewer_splits_plain_unified_diffs_like_recipe_previews() -> None:
    assert list(split_patch(PLAIN)) == ["qga/commands-posix.c", "qga/qapi-schema.json"]
    viewer = DiffViewer(text=PLAIN)
    assert viewer.choice.options == ("qga/commands-posix.c", "qga/qapi-schema.json")
    assert "added" in viewer.output.value and "+z" not in viewer.output.value
    viewer.choice.value = "qga/qapi-schema.json"
    assert "+z" in viewer.output.value and "added" not in viewer.output.value


def test_the_patch_viewer_reads_git_patches_and_says_when_there_is_nothing(tmp_path: Path) -> None:
    patch = tmp_path / "0001.patch"
    patch.write_text(GIT)
    viewer = DiffViewer(patch)
    assert list(viewer.files) == ["qga/a.c", "qga/gone.c"]  # a deleted file keeps its name
    assert "Subject" not in "".join(viewer.files.values())
    empty = DiffViewer(text="just a commit message\n")
    assert empty.files == {} and "No changed files" in empty.output.value
    assert empty.choice.layout.display == "none"
    with pytest.raises(QganbError, match="cannot read the patch"):
        DiffViewer(tmp_path / "missing.patch")


def test_the_log_pane_shows_readable_text_not_a_disabled_input() -> None:
    pane = LogPane("build", lines=2)
    assert "(no output yet)" in pane.area.value
    for line in ("one", "two <three>"):
        pane(line)
    pane("four")
    assert pane.text == "two <three>\nfour" and pane.count == 3
    assert isinstance(pane.area, w.HTML) and "class='qganb-log'" in pane.area.value
    assert "two &lt;three&gt;" in pane.area.value and "one" not in pane.area.value
    assert "last 2 of 3 lines" in pane.header.value
    assert not any(getattr(child, "disabled", False) for child in pane.widget.children)


@pytest.mark.skipif(os.geteuid() != 0, reason="what it checks, --allow-root, applies only to root")
def test_make_lab_starts_as_root_and_answers(tmp_path: Path) -> None:
    """scripts/lab.sh (what `make lab` runs) must start as root, where jupyter refuses without --allow-root."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    lab = subprocess.Popen([str(ROOT / "scripts" / "lab.sh"), f"--port={port}", "--IdentityProvider.token=t0k",
                            f"--LabApp.workspaces_dir={tmp_path / 'ws'}"], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=t0k", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                if lab.poll() is not None or time.monotonic() > deadline:
                    lab.kill()
                    raise AssertionError(f"JupyterLab did not start (exit {lab.poll()}):\n{lab.stdout.read()}") from None  # type: ignore[union-attr]
                time.sleep(0.5)
    finally:
        os.killpg(lab.pid, 15)
        lab.wait(timeout=30)
