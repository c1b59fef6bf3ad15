"""IPython magics (`%load_ext qganb`): call a guest agent, list its commands, define a recipe in a cell.

    %qga [--domain D [--connect URI] | --socket PATH] COMMAND [JSON-ARGS]
    %qga_commands [--domain D [--connect URI] | --socket PATH]
    %%qga_recipe [--qemu SERIES | --source TREE] [--validate [--no-sandbox]] [--save PATH]
    %qga_run [RUN_DIR]

Without --domain or --socket the agent is the testbed guest's, through virsh. qganb's own errors show
as their message, fix and details (no traceback); `%tb` shows where they were raised.
"""

from __future__ import annotations

import argparse
import html
import json
import shlex
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from qganb.agent.transport import DEFAULT_URI
from qganb.errors import QganbError
from qganb.notebook.display import Table, verification_table


class QgaResult:
    """An agent's answer: a table for a list of objects, pretty JSON otherwise; `.value` is the data."""

    def __init__(self, command: str, value: Any) -> None:
        self.command = command
        self.value = value

    def _table(self) -> Table | None:
        rows = self.value if isinstance(self.value, list) else None
        if rows and all(isinstance(r, dict) for r in rows):
            headers = list(dict.fromkeys(k for r in rows for k in r))
            return Table([[r.get(h) for h in headers] for r in rows], headers, self.command)
        return None

    def _repr_html_(self) -> str:
        table = self._table()
        if table is not None:
            return table._repr_html_()
        return f"<b>{html.escape(self.command)}</b><pre>{html.escape(json.dumps(self.value, indent=2))}</pre>"

    def __repr__(self) -> str:
        table = self._table()
        return str(table) if table is not None else json.dumps(self.value, indent=2)


def _target_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, add_help=False, exit_on_error=False)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--domain")
    where.add_argument("--socket")
    parser.add_argument("--connect", default=DEFAULT_URI)
    return parser


def _parse(parser: argparse.ArgumentParser, line: str) -> argparse.Namespace:
    try:
        args, rest = parser.parse_known_args(shlex.split(line))
    except (argparse.ArgumentError, ValueError) as exc:
        raise QganbError(f"%{parser.prog}: {exc}", f"usage: {parser.format_usage().strip()}") from exc
    args.rest = rest
    return args


def call_agent(args: argparse.Namespace, command: str, arguments: dict[str, Any] | None = None) -> Any:
    """One command through the agent seam: the socket, the named domain, or the testbed's."""
    from qganb.agent import open_agent

    domain = args.domain
    if not domain and not args.socket:
        from qganb.testbed import guest

        domain = guest.DOMAIN
    agent = open_agent(domain=domain or "", uri=args.connect, socket=args.socket or "")
    try:
        return agent.execute(command, arguments)
    finally:
        agent.close()


def our_commands() -> set[str]:
    """Commands the project's recipes add (recipes/*.yaml)."""
    from qganb import paths
    from qganb.recipes.model import load_recipe

    root = paths.source_checkout()
    found: set[str] = set()
    for path in sorted((root / "recipes").glob("*.yaml")) if root else []:
        try:
            found.add(load_recipe(path).command)
        except QganbError:
            continue
    return found


@magics_class
class QganbMagics(Magics):
    @line_magic
    def qga(self, line: str) -> QgaResult:
        """%qga [--domain D [--connect URI] | --socket PATH] COMMAND [JSON-ARGS]: call one agent command."""
        args = _parse(_target_parser("qga"), line)
        if not args.rest:
            raise QganbError("%qga needs a command, e.g. %qga guest-info", "add the command name")
        command, *json_args = args.rest
        arguments = None
        if json_args:
            text = " ".join(json_args)
            try:
                arguments = json.loads(text)
            except ValueError as exc:
                raise QganbError(f"%qga: arguments {text!r} are not JSON: {exc}",
                                 'write them as a JSON object, e.g. {"timeout": 60}') from exc
            if not isinstance(arguments, dict):
                raise QganbError("%qga: arguments must be a JSON object", 'e.g. {"timeout": 60}')
        return QgaResult(command, call_agent(args, command, arguments))

    @line_magic
    def qga_commands(self, line: str) -> Table:
        """%qga_commands [--domain D | --socket PATH]: every command, enabled or not, ours marked."""
        args = _parse(_target_parser("qga_commands"), line)
        info = call_agent(args, "guest-info")
        ours = our_commands()
        rows = [(c["name"], "yes" if c["enabled"] else "no", "recipe" if c["name"] in ours else "")
                for c in sorted(info["supported_commands"], key=lambda c: c["name"])]
        return Table(rows, ["command", "enabled", "ours"], f"qemu-ga {info['version']}: {len(rows)} commands")

    @cell_magic
    def qga_recipe(self, line: str, cell: str) -> Any:
        """%%qga_recipe [--qemu SERIES | --source TREE] [--validate [--no-sandbox]] [--save PATH]: a recipe
        in YAML, checked against a QEMU tree (default: the 7.2 tree from the fixture sources).

        Without --validate the tree's QAPI generator checks it and the result is a preview (schema
        entry, C prototype, diff). --validate does what `qganb recipe validate` does: builds qemu-ga
        with it in a scratch copy of the tree (incrementally after the first run, the build's output
        streaming meanwhile), runs every verify case against that agent in a bubblewrap sandbox
        (unconfined with --no-sandbox) and returns a table of the cases; `.report` holds the
        figures, `.preview` the preview. A C or configure error is raised as qganb's error.
        --save writes the cell to PATH once it passed what was asked (every case, with --validate).
        """
        from qganb.errors import UsageError
        from qganb.recipes.model import parse_recipe

        parser = argparse.ArgumentParser(prog="qga_recipe", add_help=False, exit_on_error=False)
        parser.add_argument("--qemu", default="7.2")
        parser.add_argument("--source")
        parser.add_argument("--save")
        parser.add_argument("--validate", action="store_true")
        parser.add_argument("--no-sandbox", action="store_true")
        args = _parse(parser, line)
        if args.rest:
            raise UsageError(f"%%qga_recipe: unknown arguments {' '.join(args.rest)}",
                             f"usage: {parser.format_usage().strip()}")
        if args.no_sandbox and not args.validate:
            raise UsageError("%%qga_recipe: --no-sandbox only applies with --validate",
                             "add --validate, or drop --no-sandbox")
        recipe = parse_recipe(cell, Path(args.save or "<%%qga_recipe cell>"))
        from qganb.notebook.recipe_validation import series_tree, validate_cell

        tree = Path(args.source) if args.source else series_tree(args.qemu)
        if args.validate:
            result = validate_cell(tree, [recipe], sandbox=not args.no_sandbox)
            if args.save and result.passed:
                Path(args.save).write_text(cell)
            elif args.save:
                result.note = f"not saved to {args.save}: a verify case failed"
            return result
        from qganb.recipes.preview import preview_recipes

        preview = preview_recipes(tree, [recipe])
        if args.save:
            Path(args.save).write_text(cell)
        return preview

    @line_magic
    def qga_run(self, line: str) -> Table:
        """%qga_run [RUN_DIR]: the stages a run directory holds and its verification result."""
        from qganb.notebook.support import run_path
        from qganb.stages.run_dir import RunDir
        from qganb.stages.verify import recorded_verification

        run = RunDir.existing(run_path(line.strip() or "runs/notebooks"))  # a typo must not make a run
        record = recorded_verification(run)
        if record is not None:
            return verification_table(record)
        return Table([(name, run.finished(name)) for name in run.recorded_stages()], ["stage", "finished"],
                     str(run.path))


def error_lines(error: QganbError) -> list[str]:
    """What a notebook shows for one of qganb's errors: the problem, the fix and the details, no traceback."""
    lines = [f"{type(error).__name__}: {error.problem}"]
    if error.fix:
        lines.append(f"fix: {error.fix}")
    if details := error.details():
        lines += details.splitlines()
    lines.append("(%tb shows where in qganb it was raised)")
    return lines


def _show_qganb_error(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
                      tb_offset: int | None = None) -> None:
    # IPython's handler for the exception types given to set_custom_exc: it must display the error itself.
    # The cell still fails (papermill and nbval see the error), but the user reads one message instead of a
    # traceback through qganb's internals, which says nothing about what to do.
    assert isinstance(value, QganbError)
    shell._get_exc_info((etype, value, tb))  # records it as the last error, for %tb and %debug
    shell._showtraceback(etype, value, error_lines(value))


def load(ipython: Any) -> None:
    ipython.register_magics(QganbMagics)
    ipython.set_custom_exc((QganbError,), _show_qganb_error)
