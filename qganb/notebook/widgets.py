"""ipywidgets for JupyterLab: a recipe designer that writes recipe YAML, a diff viewer and a live
log pane. They are an interactive layer over the same recipes and stages; headless runs never
need them."""

from __future__ import annotations

import collections
import html
import re
from pathlib import Path
from typing import Any

import ipywidgets as w
import yaml

from qganb.errors import QganbError
from qganb.notebook.display import Diff

_MEMBER = re.compile(r"^\s*(?P<name>[a-z][a-z0-9-]*)\s+(?P<type>\[?[A-Za-z][A-Za-z0-9]*\]?)\s*(?P<doc>.*)$")


def _members(text: str, what: str) -> list[dict[str, Any]]:
    """`name type doc` per line -> recipe members; a line that is not that names itself."""
    members = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        found = _MEMBER.match(line)
        if not found:
            raise QganbError(f"{what}, line {number}: {line.strip()!r} is not `name type doc`",
                             "write e.g. `timeout int the heartbeat in seconds`")
        members.append({"name": found["name"], "type": found["type"], "doc": found["doc"] or found["name"]})
    return members


def struct_name(command: str) -> str:
    """guest-get-load-average -> GuestLoadAverage: the naming upstream's query results follow."""
    words = command.removeprefix("guest-").removeprefix("get-").split("-")
    return "Guest" + "".join(word.capitalize() for word in words if word)


class RecipeDesigner:
    """A form for a new command; Preview validates it against a QEMU tree, Save writes the YAML."""

    def __init__(self, directory: str | Path = "recipes", qemu: str = "7.2") -> None:
        from qganb.notebook.support import project_path

        self.directory = project_path(directory)
        self.qemu = qemu
        self.command = w.Text(description="command", placeholder="guest-get-something")
        self.doc = w.Textarea(description="doc", placeholder="What the command does.")
        self.arguments = w.Textarea(description="arguments", placeholder="timeout int the heartbeat in seconds")
        self.fields = w.Textarea(description="returns", placeholder="uptime-seconds number seconds since boot")
        self.body = w.Textarea(description="C body", layout=w.Layout(width="90%", height="14em"),
                               placeholder="the body of qmp_guest_...(..., Error **errp)")
        self.case_arguments = w.Text(description="case args", value="{}")
        self.overwrite = w.Checkbox(description="overwrite an existing file", value=False)
        self.preview_button = w.Button(description="Preview", button_style="info")
        self.save_button = w.Button(description="Save", button_style="success")
        self.output = w.Output()
        self.preview_button.on_click(lambda _: self.preview())
        self.save_button.on_click(lambda _: self.save())
        self.widget = w.VBox([self.command, self.doc, self.arguments, self.fields, self.body, self.case_arguments,
                              w.HBox([self.preview_button, self.save_button, self.overwrite]), self.output])
        self.last_message = ""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def recipe_data(self) -> dict[str, Any]:
        command = self.command.value.strip()
        data: dict[str, Any] = {"command": command, "since": "1.0", "doc": self.doc.value.strip() + "\n"}
        arguments = _members(self.arguments.value, "arguments")
        if arguments:
            data["arguments"] = arguments
        fields = _members(self.fields.value, "returns")
        if fields:
            data["returns"] = {"doc": "the result", "struct": {"name": struct_name(command),
                                                              "doc": f"Result of {command}.", "fields": fields}}
        data["implementation"] = {"posix": self.body.value.rstrip() + "\n"}
        data["verify"] = {"cases": [{"name": "answers", "arguments": yaml.safe_load(self.case_arguments.value or "{}"),
                                     "satisfies": {"type": "object" if fields else "null"}}]}
        return data

    def yaml_text(self) -> str:
        return yaml.safe_dump(self.recipe_data(), sort_keys=False, default_flow_style=False)

    def preview(self) -> Any:
        from qganb.recipes.model import parse_recipe
        from qganb.recipes.preview import preview_recipes
        from qganb.testbed.source_tree import unpacked_tree

        self.output.clear_output()
        with self.output:
            try:
                text = self.yaml_text()
                recipe = parse_recipe(text, self.directory / f"{self.command.value.strip() or 'new'}.yaml")
                result = preview_recipes(unpacked_tree(self.qemu), [recipe])
            except QganbError as exc:
                self.last_message = str(exc)
                print(f"error: {exc}")
                return None
            self.last_message = result.as_text()
            from IPython.display import display

            display(Diff(text, "recipe YAML"), result)
            return result

    def save(self) -> Path | None:
        from qganb.recipes.model import parse_recipe

        self.output.clear_output()
        with self.output:
            try:
                text = self.yaml_text()
                path = self.directory / f"{self.command.value.strip()}.yaml"
                parse_recipe(text, path)
                if path.exists() and not self.overwrite.value:
                    raise QganbError(f"{path} exists", "tick 'overwrite an existing file' to replace it")
            except QganbError as exc:
                self.last_message = str(exc)
                print(f"error: {exc}")
                return None
            path.write_text(text)
            self.last_message = f"wrote {path}"
            print(self.last_message)
            return path


_GIT_HEADER = re.compile(r"(?m)^(?=diff --git )")
_PLAIN_HEADER = re.compile(r"(?m)^(?=--- .*\n\+\+\+ )")


def _file_of(section: str) -> str | None:
    """The file a patch section changes: from `diff --git a/X b/Y`, else from its `+++ b/Y` line
    (`--- a/X` when the file is deleted); None for text that changes no file (a commit message)."""
    if found := re.match(r"diff --git a/(\S+)", section):
        return found[1]
    names = dict(re.findall(r"(?m)^(---|\+\+\+) (\S+)", section))
    for side, prefix in (("+++", "b/"), ("---", "a/")):
        name = names.get(side)
        if name and name != "/dev/null":
            return name.removeprefix(prefix)
    return None


def split_patch(text: str) -> dict[str, str]:
    """A patch's sections by the file they change: `git diff`/`format-patch` output (with `diff --git`
    headers) or a plain unified diff such as `RecipePreview.diff` (only `---`/`+++` headers)."""
    pattern = _GIT_HEADER if _GIT_HEADER.search(text) else _PLAIN_HEADER
    files: dict[str, str] = {}
    for section in pattern.split(text):
        name = _file_of(section)
        if name is not None:
            files[name] = files.get(name, "") + section
    return files


class DiffViewer:
    """A patch file by file: pick a file, see its hunks coloured. Give a patch file's path, or the diff
    text itself with `text=` (e.g. a recipe preview's `.diff`)."""

    def __init__(self, patch: str | Path | None = None, *, text: str | None = None) -> None:
        if (patch is None) == (text is None):
            raise QganbError("DiffViewer needs a patch file or diff text", "pass a path, or text=... (not both)")
        if text is None:
            path = Path(patch)  # type: ignore[arg-type]
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise QganbError(f"cannot read the patch {path}: {exc.strerror}", "check the path") from exc
        self.files = split_patch(text)
        self.choice = w.Dropdown(options=list(self.files), description="file")
        self.output = w.HTML()
        self.choice.observe(lambda _: self._show(), names="value")
        self.widget = w.VBox([self.choice, self.output])
        if not self.files:
            # An empty dropdown alone says nothing: say why there is nothing to pick.
            self.choice.layout.display = "none"
            what = "the text is empty" if not text.strip() else "it has no `diff --git` or `---`/`+++` file headers"
            self.output.value = f"<p><b>No changed files in this diff</b>: {html.escape(what)}.</p>"
        self._show()

    def _show(self) -> None:
        if self.choice.value:
            self.output.value = Diff(self.files[self.choice.value])._repr_html_()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class LogPane:
    """A live pane with the last lines of a long command; call it with each line (an on_line sink).
    The lines are shown as readable monospace text, not as a greyed-out disabled input."""

    def __init__(self, title: str = "log", lines: int = 20) -> None:
        self.title = title
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.count = 0
        self.header = w.HTML(f"<b>{html.escape(title)}</b>")
        self.area = w.HTML(self._html(), layout=w.Layout(width="95%"))
        self.widget = w.VBox([self.header, self.area])

    def _html(self) -> str:
        body = html.escape("\n".join(self.lines)) if self.lines else "(no output yet)"
        return ("<pre class='qganb-log' style='max-height:22em;overflow:auto;margin:0;padding:4px;"
                f"border:1px solid var(--jp-border-color2, #ccc)'>{body}</pre>")

    @property
    def text(self) -> str:
        """The lines the pane shows."""
        return "\n".join(self.lines)

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.count += 1
        self.area.value = self._html()
        more = self.count - len(self.lines)
        self.header.value = f"<b>{html.escape(self.title)}</b>" + (f" (last {len(self.lines)} of {self.count} lines)"
                                                                   if more else "")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
