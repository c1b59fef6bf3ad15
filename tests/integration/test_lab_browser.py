"""JupyterLab in a real headless browser: the overview notebook runs, and the magics and widgets work as
a user sees them (rendered controls, typed values, clicks), not only as Python objects."""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from qganb.recipes.model import load_recipe
from qganb.recipes.preview import render_diff_html
from tests.integration.test_widgets import BODY

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
# Debian's /usr/bin/chromium is a shell wrapper that sources /etc/chromium.d; this is the binary it execs.
CHROMIUM = Path("/usr/lib/chromium/chromium")
# A cold JupyterLab and kernel take several seconds on 2 cores: generous, but every wait ends.
START_SECONDS = 90
CELL_MS = 60_000
UI_MS = 30_000

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook tab in front
NOTEBOOK = f"{PANEL} .jp-Notebook"
CELLS = f"{NOTEBOOK} .jp-Cell"
# What JupyterLab shows instead of a widget when ipywidgets' manager is missing or broken.
FALLBACKS = ("Error displaying widget", "Loading widget...", "VBox(children=")


@dataclass
class Lab:
    url: str
    token: str
    base: Path  # root (what the server serves), config, runtime, settings, workspaces, the log
    log: Path
    process: subprocess.Popen[bytes]

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}{'&' if '?' in path else '?'}token={self.token}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _wait_until_answering(lab: Lab) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {lab.process.returncode}:\n{_log_tail(lab.log)}")
        try:
            lab.api("/api/status")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer on {lab.url} within {START_SECONDS} s:\n{_log_tail(lab.log)}")


def _stop(lab: Lab) -> None:
    """Kernels first, then the server, cleanly; its process group when that takes too long, and any
    kernel of ours (its connection file is in our runtime directory) that outlived it."""
    try:
        for kernel in lab.api("/api/kernels"):
            lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        lab.api("/api/shutdown", method="POST")
    except OSError:  # a server that is gone already (URLError is an OSError)
        pass
    try:
        lab.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(lab.process.pid, sig)
                lab.process.wait(timeout=wait)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
    for pid in _pids_mentioning(str(lab.base / "runtime")):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """`jupyter lab` from this venv on a private copy of notebooks/ and recipes/, with its own
    config, data, runtime, settings and workspaces (nothing read from or written to ~/.jupyter);
    kernels import qganb from this checkout."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    for folder in ("notebooks", "recipes"):
        shutil.copytree(ROOT / folder, root / folder)
    # No news or update checks (they would try the network) and no toast over the buttons.
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                          "checkForUpdates": False}))
    env = {**os.environ,
           "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTER_DATA_DIR": str(base / "data"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "IPYTHONDIR": str(base / "ipython"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    token = secrets.token_hex(16)
    port = _free_port()
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={base / 'workspaces'}",
               f"--LabApp.user_settings_dir={base / 'settings'}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "jupyter.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    running = Lab(f"http://127.0.0.1:{port}", token, base, log, process)
    try:
        _wait_until_answering(running)
        yield running
    finally:
        _stop(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -e '.[test]' (it is in the test extra)")
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: scripts/bootstrap-host.sh installs Debian's chromium")
    playwright = sync_playwright().start()
    try:
        # Debian's browser, never `playwright install` (no browser downloads here).
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


class Steps:
    """A screenshot after each step; a failure says where they are, with the server's log."""

    def __init__(self, page: Any, directory: Path, lab: Lab) -> None:
        self.page = page
        self.directory = directory
        self.lab = lab
        self.count = 0
        directory.mkdir(parents=True, exist_ok=True)

    def done(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=self.directory / f"{self.count:02d}-{name}.png")

    @contextmanager
    def explained(self) -> Iterator[Steps]:
        try:
            yield self
        except BaseException as exc:
            try:
                self.page.screenshot(path=self.directory / "failed.png", timeout=10_000)
            except Exception:  # a dead page must not hide the real failure
                pass
            exc.add_note(f"screenshots of each step (and failed.png): {self.directory}\n"
                         f"JupyterLab's log: {self.lab.log}")
            raise


def _steps(page: Any, tmp_path: Path, lab: Lab) -> Steps:
    return Steps(page, tmp_path / "screenshots", lab)


def _wait_for_kernel_idle(page: Any) -> None:
    """The status bar reads "Python 3 (ipykernel) | Idle": the kernel is up, and done with what it was
    asked (the toolbar's indicator already says idle while there is no kernel yet)."""
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"^Python 3 \(ipykernel\) \| Idle$")).wait_for(
        timeout=CELL_MS)


def _prompts(page: Any) -> list[str]:
    return page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt").evaluate_all(
        "nodes => nodes.map(n => n.textContent.trim())")


def _outputs(page: Any, scope: str = NOTEBOOK) -> list[dict[str, str]]:
    """Every output in `scope`: its MIME type and text (textContent, so cells out of view count too)."""
    return page.locator(f"{scope} .jp-OutputArea-output").evaluate_all(
        "nodes => nodes.map(n => ({mime: n.getAttribute('data-mime-type') || '', text: n.textContent}))")


def _assert_no_error_output(page: Any) -> None:
    errors = [o["text"] for o in _outputs(page) if o["mime"] == "application/vnd.jupyter.stderr"]
    assert not errors, "the notebook shows error output:\n" + "\n".join(errors)


def _run_new_cell(page: Any, source: str, execution_count: int) -> Any:
    """Types `source` into the last (empty) cell, runs it with Shift+Enter and waits until its kernel
    answered; returns the cell."""
    cells = page.locator(CELLS)
    index = cells.count() - 1
    cells.nth(index).locator(".cm-content").click()
    # insert_text, as a paste would: key by key, the editor would indent each new line again.
    page.keyboard.insert_text(source)
    page.keyboard.press("Shift+Enter")
    cell = cells.nth(index)
    cell.locator(".jp-InputPrompt", has_text=f"[{execution_count}]:").wait_for(timeout=CELL_MS)
    _wait_for_kernel_idle(page)
    return cell


# 'widgets' once the cell's output is rendered controls, 'fallback' for text in their place (a widget's
# text/plain repr is only shown when no widget manager renders it), null while it may still come.
_WIDGET_STATE = """(area, fallbacks) => {
    const outputs = [...area.querySelectorAll(':scope > .jp-OutputArea-child > .jp-OutputArea-output')];
    const text = area.textContent;
    if (!outputs.length || text.includes('Loading widget...')) return null;
    if (outputs.some(o => o.getAttribute('data-mime-type') === 'text/plain')
        || fallbacks.some(f => text.includes(f))) return 'fallback';
    return area.querySelector('.jupyter-widgets') ? 'widgets' : null;
}"""


def _rendered_widget(cell: Any) -> Any:
    """The cell's output area once its widget rendered as real controls; fails naming what JupyterLab
    shows instead (its text fallback, "Error displaying widget", a "Loading widget..." that stays)."""
    area = cell.locator(".jp-Cell-outputArea")
    deadline = time.monotonic() + UI_MS / 1000
    state = None
    while state is None and time.monotonic() < deadline:
        state = area.evaluate(_WIDGET_STATE, list(FALLBACKS))
        if state is None:
            time.sleep(0.2)
    shown = area.evaluate("a => [...a.querySelectorAll(':scope > * > .jp-OutputArea-output')].map("
                          "o => (o.getAttribute('data-mime-type') || '?') + ': ' + o.textContent.slice(0, 300))")
    assert state == "widgets", f"the widget did not render as controls ({state or 'nothing rendered'}):\n{shown}"
    return area


def _colours(area: Any, line: str) -> list[dict[str, str]]:
    """Computed text and background colour of the innermost elements whose text is exactly `line`."""
    return area.evaluate("""(root, line) => [...root.querySelectorAll('*')]
        .filter(e => e.textContent.trim() === line
                     && ![...e.children].some(c => c.textContent.trim() === line))
        .map(e => ({color: getComputedStyle(e).color, background: getComputedStyle(e).backgroundColor}))""", line)


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", css)[:3])


def _dominant(css: str, channel: int) -> bool:
    """Whether a colour leans clearly to one channel (1 = green for added lines, 0 = red for removed)."""
    rgb = _rgb(css)
    others = [v for i, v in enumerate(rgb) if i != channel]
    return "rgba(0, 0, 0, 0)" not in css and all(rgb[channel] > v + 10 for v in others)


def _hex_to_css(colour: str) -> str:
    value = colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(value[i:i + 2], 16) for i in (0, 2, 4)))


def _parameter_defaults(notebook: Path) -> dict[str, Any]:
    """The literal values the notebook's `parameters` cell assigns (what runs without -p)."""
    cells = json.loads(notebook.read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    values[target.id] = ast.literal_eval(node.value)
    return values


def _designer_says(form: Any, expected: str) -> None:
    """Waits for the designer's answer to a click: `expected`, or the `error: ...` it prints instead."""
    said = form.locator(".widget-output")
    said.get_by_text(expected).first.or_(said.get_by_text("error:").first).first.wait_for(timeout=CELL_MS)
    text = said.text_content() or ""
    assert expected in text, f"the designer answered:\n{text}"


def _new_notebook(page: Any) -> None:
    """File > New > Notebook, and the Python kernel in the dialog that asks for one."""
    page.locator(".lm-MenuBar-item", has_text="File").first.click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^New$")).click()
    page.get_by_role("menuitem", name="Notebook", exact=True).click()
    dialog = page.locator(".jp-Dialog select")
    kernel = page.locator(f"{PANEL} .jp-KernelName", has_text="Python 3 (ipykernel)")
    dialog.or_(kernel).first.wait_for(timeout=CELL_MS)
    if dialog.is_visible():
        dialog.select_option(label="Python 3 (ipykernel)")
        page.locator(".jp-Dialog .jp-mod-accept").click()
    kernel.wait_for(timeout=CELL_MS)
    _wait_for_kernel_idle(page)


def test_the_overview_notebook_runs_in_jupyterlab(lab: Lab, page: Any, tmp_path: Path) -> None:
    notebook = ROOT / "notebooks" / "00-overview.ipynb"
    recipes = [load_recipe(ROOT / r) for r in _parameter_defaults(notebook)["recipes"]]
    with _steps(page, tmp_path, lab).explained() as steps:
        page.goto(lab.page_url("/lab/tree/notebooks/00-overview.ipynb"))
        page.locator(CELLS).first.wait_for(timeout=CELL_MS)
        _wait_for_kernel_idle(page)
        steps.done("overview-opened")

        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        count = len(_prompts(page))
        expected = [f"[{n}]:" for n in range(1, count + 1)]
        page.wait_for_function("([selector, expected]) => JSON.stringify([...document.querySelectorAll(selector)]"
                               ".map(n => n.textContent.trim())) === JSON.stringify(expected)",
                               arg=[f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt", expected], timeout=CELL_MS)
        _wait_for_kernel_idle(page)
        steps.done("overview-ran")

        assert _prompts(page) == expected, "every code cell ran once, in order"
        _assert_no_error_output(page)
        shown = "\n".join(o["text"] for o in _outputs(page))
        for recipe in recipes:
            assert recipe.command in shown, f"the table of recipes lacks {recipe.command}:\n{shown}"
            assert f"{recipe.command} -> {recipe.c_command}" in shown, shown


def test_magics_and_widgets_work_in_a_new_notebook(lab: Lab, page: Any, tmp_path: Path) -> None:
    designed = tmp_path / "designed"
    designed.mkdir()
    patch = tmp_path / "two-files.patch"
    patch.write_text("diff --git a/qga/a.c b/qga/a.c\n--- a/qga/a.c\n+++ b/qga/a.c\n@@ -1 +1 @@\n-old\n+new\n"
                     "diff --git a/qga/b.json b/qga/b.json\n--- a/qga/b.json\n+++ b/qga/b.json\n@@ -1 +1 @@\n-x\n+y\n")
    colour = re.search(r"background:(#[0-9a-fA-F]{6})", render_diff_html("+x"))
    assert colour, "render_diff_html gives an added line no background colour"
    added_background = _hex_to_css(colour[1])
    typed = {"command": "guest-get-load-average", "doc": "Report the one-minute load average of the guest.",
             "returns": "one-minute number the load average over one minute", "C body": BODY}

    with _steps(page, tmp_path, lab).explained() as steps:
        page.goto(lab.page_url("/lab?reset"))  # a fresh workspace: no tab of the previous test
        page.locator(".lm-MenuBar-item").first.wait_for(timeout=CELL_MS)
        _new_notebook(page)
        steps.done("new-notebook")

        _run_new_cell(page, "%load_ext qganb", 1)
        recipe = (ROOT / "recipes" / "guest-get-uptime.yaml").read_text()
        magic = _run_new_cell(page, "%%qga_recipe --qemu 7.2\n" + recipe, 2)
        output = magic.locator(".jp-Cell-outputArea")
        output.get_by_text("GuestUptime *qmp_guest_get_uptime(Error **errp);").wait_for()
        steps.done("qga-recipe-preview")
        added = output.evaluate("""root => [...root.querySelectorAll('div')]
            .filter(d => d.children.length === 0 && d.textContent.startsWith('+')
                         && !d.textContent.startsWith('+++'))
            .map(d => getComputedStyle(d).backgroundColor)""")
        assert added, "the recipe's diff has no added lines"
        assert set(added) == {added_background}, f"added lines are not on {added_background}: {set(added)}"

        designer = _run_new_cell(page, "from qganb.notebook.widgets import RecipeDesigner\n"
                                       f"designer = RecipeDesigner(directory={str(designed)!r})\ndesigner", 3)
        form = _rendered_widget(designer)
        for label in typed:
            form.get_by_label(label, exact=True).wait_for()
        for button in ("Preview", "Save"):
            form.locator("button.widget-button", has_text=button).wait_for()
        assert form.locator(".widget-text input").count() >= 2
        assert form.locator(".widget-textarea textarea").count() >= 4
        for label, text in typed.items():
            form.get_by_label(label, exact=True).press_sequentially(text)
        steps.done("designer-filled")
        said = {label: form.get_by_label(label, exact=True).input_value() for label in typed}
        assert said == typed, "the form holds what was typed"

        form.get_by_role("button", name="Preview").click()
        _designer_says(form, "GuestLoadAverage *qmp_guest_get_load_average(Error **errp)")
        steps.done("designer-preview")
        form.get_by_role("button", name="Save").click()
        saved = designed / f"{typed['command']}.yaml"
        _designer_says(form, f"wrote {saved}")
        steps.done("designer-saved")
        data = yaml.safe_load(saved.read_text())
        assert data["command"] == said["command"]
        assert data["doc"].strip() == said["doc"].strip()
        assert data["implementation"]["posix"].rstrip() == said["C body"].rstrip()
        name, kind, doc = said["returns"].split(" ", 2)
        assert data["returns"]["struct"]["fields"] == [{"name": name, "type": kind, "doc": doc}]
        assert "arguments" not in data, "no argument was typed"

        viewer = _run_new_cell(page, "from qganb.notebook.widgets import DiffViewer\n"
                                     f"DiffViewer({str(patch)!r})", 4)
        view = _rendered_widget(viewer)
        choice = view.locator(".widget-dropdown select")
        choice.wait_for()
        view.get_by_text("+new").first.wait_for()
        assert choice.locator("option").all_text_contents() == ["qga/a.c", "qga/b.json"]
        assert [c for c in _colours(view, "+new") if _dominant(c["color"], 1) or _dominant(c["background"], 1)]
        assert [c for c in _colours(view, "-old") if _dominant(c["color"], 0) or _dominant(c["background"], 0)]
        steps.done("diff-viewer")
        choice.select_option("qga/b.json")
        view.get_by_text("+++ b/qga/b.json").first.wait_for()
        assert "+new" not in view.text_content() and "+y" in view.text_content()
        assert [c for c in _colours(view, "+y") if _dominant(c["color"], 1) or _dominant(c["background"], 1)]
        steps.done("diff-viewer-switched")

        pane_cell = _run_new_cell(page, "from qganb.notebook.widgets import LogPane\npane = LogPane()\npane", 5)
        pane = _rendered_widget(pane_cell)
        lines = ["building qemu-ga", "[12/40] Compiling C object qga/commands-posix.c.o", "done <ok> & tidy"]
        _run_new_cell(page, "".join(f"pane({line!r})\n" for line in lines), 6)
        # Readable text, not a disabled, greyed-out input.
        page.wait_for_function("""([area, expected]) => [...area.querySelectorAll('pre.qganb-log')]
                                  .some(e => e.textContent.includes(expected))""",
                               arg=[pane.element_handle(), "\n".join(lines)], timeout=UI_MS)
        assert pane.locator("textarea, input, [disabled]").count() == 0, "the log pane holds a (disabled) input"
        steps.done("log-pane")

        # The preview's own diff (plain ---/+++ headers, no `diff --git`) in the patch viewer.
        plain = _run_new_cell(page, "from qganb.recipes.model import load_recipe\n"
                                    "from qganb.recipes.preview import preview_recipes\n"
                                    "from qganb.testbed.source_tree import unpacked_tree\n"
                                    f"shown = preview_recipes(unpacked_tree('7.2'), [load_recipe({str(ROOT / 'recipes' / 'guest-get-uptime.yaml')!r})])\n"
                                    "DiffViewer(text=shown.diff)", 7)
        plain_view = _rendered_widget(plain)
        plain_choice = plain_view.locator(".widget-dropdown select")
        plain_choice.wait_for()
        files = plain_choice.locator("option").all_text_contents()
        assert "qga/qapi-schema.json" in files and any(f.startswith("qga/commands") for f in files), files
        steps.done("diff-viewer-preview-diff")

        _assert_no_error_output(page)
        everywhere = page.locator(NOTEBOOK).text_content() or ""
        assert not [f for f in FALLBACKS if f in everywhere], "a widget shows JupyterLab's fallback"
