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
        members.append({"name": found["name"], "type": found["type"], "doc": found["doc"].strip() or found["name"]})
    return members


def struct_name(command: str) -> str:
    """guest-get-load-average -> GuestLoadAverage: the naming upstream's query results follow."""
    words = command.removeprefix("guest-").removeprefix("get-").split("-")
    return "Guest" + "".join(word.capitalize() for word in words if word)


# The order a recipe's keys are written in; a key the form adds goes to its place in it.
_RECIPE_KEYS = ["command", "since", "doc", "arguments", "types", "returns", "implementation", "verify",
                "selinux-booleans"]


def _member_line(member: dict[str, Any]) -> str:
    """The form's `name type doc` line for a recipe member, its doc on one line."""
    return " ".join([str(member.get("name", "")), str(member.get("type", "")), *str(member.get("doc", "")).split()])


def _kept_members(text: str, what: str, loaded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The form's member lines over the members of a loaded recipe: a line names its member, and what
    the line does not show (optional, min/max, enum, pattern, a multi-line doc) stays as loaded; only
    what the line changed is taken from it."""
    by_name = {m["name"]: m for m in loaded if isinstance(m, dict) and "name" in m}
    members = []
    for member in _members(text, what):
        old = by_name.get(member["name"])
        if old is None:
            members.append(member)
            continue
        shown = _members(_member_line(old), what)[0]
        members.append({**old, **{k: v for k, v in member.items() if v != shown[k]}})
    return members


def _with_key(data: dict[str, Any], key: str, value: Any, order: list[str]) -> dict[str, Any]:
    """`data` with `key` set to `value`; a new key goes before the first key that comes after it in `order`."""
    if key in data:
        return {**data, key: value}
    before = set(order[:order.index(key)])
    out: dict[str, Any] = {}
    for name, old in data.items():
        if key not in out and name not in before:
            out[key] = value
        out[name] = old
    out.setdefault(key, value)
    return out


def _case_arguments(text: str) -> Any:
    """The `case args` box as YAML; empty means no arguments."""
    try:
        value = yaml.safe_load(text or "{}")
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise QganbError(f"case args: {text.strip()!r} is not valid YAML ({problem})",
                         "write a mapping such as {timeout: 60}") from None
    return {} if value is None else value


class RecipeDesigner:
    """A form for a command; Preview validates it against a QEMU tree, Save writes the YAML.

    `load(path)` (or `recipe=path`) fills the form from a recipe file; Save then writes back to that
    file, keeping every part of the recipe the form does not show, and leaves it alone when nothing
    changed. A new recipe (or a loaded one under a new command name) is written to `<command>.yaml`,
    never over an existing file unless the overwrite box is ticked.
    """

    _FIELDS_HINT = "uptime-seconds number seconds since boot"

    def __init__(self, directory: str | Path = "recipes", qemu: str = "7.2", recipe: str | Path | None = None) -> None:
        from qganb.notebook.support import project_path

        self.directory = project_path(directory)
        self.qemu = qemu
        self.command = w.Text(description="command", placeholder="guest-get-something")
        self.doc = w.Textarea(description="doc", placeholder="What the command does.")
        self.arguments = w.Textarea(description="arguments", placeholder="timeout int the heartbeat in seconds")
        self.fields = w.Textarea(description="returns", placeholder=self._FIELDS_HINT)
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
        # The loaded recipe: its file, its text as read, its data, and what each box showed for it.
        self.loaded_path: Path | None = None
        self._loaded_text = ""
        self._loaded_data: dict[str, Any] = {}
        self._shown: dict[str, str] = {}
        if recipe is not None:
            self.load(recipe)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _boxes(self) -> dict[str, Any]:
        return {"command": self.command, "doc": self.doc, "arguments": self.arguments, "fields": self.fields,
                "body": self.body, "case_arguments": self.case_arguments}

    def load(self, path: str | Path) -> RecipeDesigner:
        """Fill the form from the recipe file `path`; Save then writes back to it."""
        from qganb.errors import RecipeError
        from qganb.notebook.support import project_path
        from qganb.recipes.model import parse_recipe

        path = project_path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not a UTF-8 text file"
            raise RecipeError(path, None, None, f"cannot read the recipe: {why}", "check the path") from None
        parse_recipe(text, path)  # only a valid recipe is loaded: its errors name the line
        data = yaml.safe_load(text)
        returns = data.get("returns") or {}
        struct = returns.get("struct")
        cases = data["verify"]["cases"]
        shown = {
            "command": data["command"],
            "doc": data["doc"].rstrip("\n"),
            "arguments": "\n".join(_member_line(m) for m in data.get("arguments", [])),
            "fields": "\n".join(_member_line(m) for m in struct["fields"]) if struct else "",
            "body": data["implementation"]["posix"],
            "case_arguments": yaml.safe_dump(cases[0].get("arguments", {}), default_flow_style=True,
                                             width=1 << 30, allow_unicode=True).strip(),
        }
        for name, box in self._boxes().items():
            box.value = shown[name]
        # A list or builtin return has no fields to show: the box stays empty and the return as it is.
        self.fields.disabled = bool(returns) and struct is None
        self.fields.placeholder = self._FIELDS_HINT
        if self.fields.disabled:
            kind = f"a list of {returns['list']}" if "list" in returns else f"the builtin {returns.get('builtin')}"
            self.fields.placeholder = f"returns {kind}: edit the recipe file to change it"
        self.overwrite.value = False
        self.loaded_path, self._loaded_text, self._loaded_data, self._shown = path, text, data, shown
        self.last_message = f"loaded {path}"
        return self

    def _target(self) -> Path:
        """The file Save writes: the loaded one, unless the command was renamed."""
        command = self.command.value.strip()
        if self.loaded_path is not None:
            if command == self._loaded_data["command"]:
                return self.loaded_path
            return self.loaded_path.parent / f"{command}.yaml"
        return self.directory / f"{command}.yaml"

    def recipe_data(self) -> dict[str, Any]:
        if self.loaded_path is not None:
            return self._edited_data()
        command = self.command.value.strip()
        data: dict[str, Any] = {"command": command, "since": "1.0", "doc": self.doc.value.strip() + "\n"}
        arguments = _members(self.arguments.value, "arguments")
        if arguments:
            data["arguments"] = arguments
        fields = _members(self.fields.value, "returns")
        if fields:
            data["returns"] = self._new_returns(command, fields)
        data["implementation"] = {"posix": self.body.value.rstrip() + "\n"}
        data["verify"] = {"cases": [{"name": "answers", "arguments": _case_arguments(self.case_arguments.value),
                                     "satisfies": {"type": "object" if fields else "null"}}]}
        return data

    @staticmethod
    def _new_returns(command: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
        return {"doc": "the result", "struct": {"name": struct_name(command), "doc": f"Result of {command}.",
                                                "fields": fields}}

    def _edited_data(self) -> dict[str, Any]:
        """The loaded recipe with what the form changed: a box left as loaded changes nothing."""
        import copy

        data = copy.deepcopy(self._loaded_data)
        changed = {name: box.value != self._shown[name] for name, box in self._boxes().items()}
        command = self.command.value.strip()
        if changed["command"]:
            data["command"] = command
            struct = (data.get("returns") or {}).get("struct")
            if struct and struct.get("name") == struct_name(self._loaded_data["command"]):
                # A copy under a new name gets its own result type: two recipes declaring one type
                # cannot be applied together.
                struct["name"] = struct_name(command)
        if changed["doc"]:
            doc = self.doc.value.strip()
            # A one-line doc written without a newline stays so; more lines make a `|` block.
            data["doc"] = doc + "\n" if "\n" in doc or data["doc"].endswith("\n") else doc
        if changed["arguments"]:
            arguments = _kept_members(self.arguments.value, "arguments", data.get("arguments", []))
            data = _with_key(data, "arguments", arguments, _RECIPE_KEYS) if arguments else \
                {k: v for k, v in data.items() if k != "arguments"}
        if changed["fields"] and not self.fields.disabled:
            struct = (data.get("returns") or {}).get("struct")
            fields = _kept_members(self.fields.value, "returns", struct["fields"] if struct else [])
            if fields and struct:
                struct["fields"] = fields
            elif fields:
                data = _with_key(data, "returns", self._new_returns(command, fields), _RECIPE_KEYS)
            else:
                data.pop("returns", None)
        if changed["body"]:
            data["implementation"]["posix"] = self.body.value.rstrip() + "\n"
        if changed["case_arguments"]:
            cases = data["verify"]["cases"]
            cases[0] = _with_key(cases[0], "arguments", _case_arguments(self.case_arguments.value),
                                 ["name", "arguments"])
        return data

    def yaml_text(self) -> str:
        """The recipe file Save would write: a loaded recipe's text with only what changed rewritten."""
        from qganb.recipes.yaml_text import dump_recipe, update_recipe_text

        data = self.recipe_data()
        if self.loaded_path is not None:
            return update_recipe_text(self._loaded_text, data)
        return dump_recipe(data)

    def preview(self) -> Any:
        from qganb.recipes.model import parse_recipe
        from qganb.recipes.preview import preview_recipes
        from qganb.testbed.source_tree import unpacked_tree

        self.output.clear_output()
        with self.output:
            try:
                text = self.yaml_text()
                where = self._target() if self.command.value.strip() else self.directory / "new.yaml"
                recipe = parse_recipe(text, where)
                result = preview_recipes(unpacked_tree(self.qemu), [recipe])
            except QganbError as exc:
                self._failed(exc)
                return None
            self.last_message = result.as_text()
            from IPython.display import display

            display(Diff(text, "recipe YAML"), result)
            return result

    def _failed(self, error: QganbError) -> None:
        # Every problem of a broken recipe, not only the first (details() lists the others).
        self.last_message = "\n".join(filter(None, [str(error), error.details()]))
        print(f"error: {self.last_message}")
        return None

    def save(self) -> Path | None:
        """Write the recipe file (atomically); a loaded recipe with nothing changed is left as it is."""
        from qganb.recipes.model import parse_recipe
        from qganb.recipes.yaml_text import write_recipe_text

        self.output.clear_output()
        with self.output:
            try:
                text = self.yaml_text()
                path = self._target()
                parse_recipe(text, path)
                editing = path == self.loaded_path
                if editing:
                    on_disk = self._read_if_there(path)
                    if on_disk is not None and on_disk != self._loaded_text and not self.overwrite.value:
                        raise QganbError(f"{path} changed on disk since it was loaded",
                                         "load it again, or tick 'overwrite an existing file' to replace it")
                    if on_disk == text:
                        self.last_message = f"unchanged: {path} (nothing to save)"
                        print(self.last_message)
                        return path
                elif path.exists() and not self.overwrite.value:
                    raise QganbError(f"{path} exists", "tick 'overwrite an existing file' to replace it")
                try:
                    write_recipe_text(path, text)
                except OSError as exc:
                    raise QganbError(f"cannot write {path}: {exc.strerror}; the old file is as it was",
                                     "check the directory's permissions and free space") from None
                if self.loaded_path is not None:
                    # The form now shows the file as written, which the next Save edits (under a new
                    # command name too: the copy is the recipe being edited from now on).
                    self.load(path)
            except QganbError as exc:
                self._failed(exc)
                return None
            self.last_message = f"wrote {path}"
            print(self.last_message)
            return path

    @staticmethod
    def _read_if_there(path: Path) -> str | None:
        try:
            return path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise QganbError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from None


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
