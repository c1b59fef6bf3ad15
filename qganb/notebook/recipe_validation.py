"""`%%qga_recipe --validate`: `qganb recipe validate` run in the kernel, keeping between runs what
is known not to have changed, with the verify cases shown as a table.

The kernel is the edit loop: change a line of the C body, run the cell again. A run should cost
what the incremental build costs. What a `qganb recipe validate` spends beside its build, and what
the kernel does about it (each kept thing is checked on every run, so no result is ever stale):

- listing the tree's ~19 000 files (find, ~0.1 s): kept while an inotify watch on the tree saw no
  change (qganb.recipes.kept_listing);
- resolving `--qemu SERIES` to a tree (`apt-cache showsrc`, 0.15-0.5 s): kept while qganb's apt
  indexes and QGANB_* settings are those it was resolved with;
- the sandbox layer (a copy of /etc, 0.2-1.5 s of CPU and disk, which on two cores slows the build
  it runs beside): the next run's layer is made right after a run, while the cell is edited, and
  used only if an inotify watch on /etc set up before the copy saw no change; used layers are
  removed after the result is shown;
- starting Python and importing qganb: the kernel already runs.

The scratch copy's configured build directory is kept on disk by validate itself.
"""

from __future__ import annotations

import atexit
import collections
import html
import os
import threading
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from qganb import paths
from qganb.agent.sandbox import Sandbox
from qganb.errors import QganbError
from qganb.notebook.display import LogTail, Table
from qganb.recipes.kept_listing import KeptListings
from qganb.recipes.model import Recipe
from qganb.recipes.preview import RecipePreview, preview_of_plan
from qganb.recipes.validate import SandboxLayers, ValidationReport, validate_recipes
from qganb.tree_watch import TreeWatch, watchable

ETC = Path("/etc")


class LayersAhead(SandboxLayers):
    """The kernel's sandbox layers: one made ahead for the next run, used layers removed in the
    background (by threads that are not daemons, so none outlives the kernel)."""

    def __init__(self) -> None:
        self._ahead: tuple[TreeWatch, Sandbox] | None = None
        self._lock = threading.Lock()
        self._background: list[threading.Thread] = []
        self.used_ahead = 0  # runs that got a layer made ahead (the benchmark reports it)

    def new(self) -> Sandbox:
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is not None:
            watch, layer = ahead
            unchanged = not watch.changed()
            watch.close()
            if unchanged and not layer.failed():
                self.used_ahead += 1
                return layer
            self._remove([layer])  # /etc changed since the copy began: copy it again
        return Sandbox()

    def done(self, layers: list[Sandbox]) -> None:
        self._remove(layers)

    def prepare_next(self) -> None:
        """Make the next run's layer, in the background, so that the result is shown meanwhile."""
        self._start(self._prepare, "qganb-sandbox-ahead")

    def _prepare(self) -> None:
        """Start copying /etc for the next run when /etc can be watched (as root, on a local file
        system); otherwise the next run makes its own layer, as the command line does."""
        with self._lock:
            if self._ahead is not None or not watchable(ETC):
                return
            try:
                watch = TreeWatch(ETC, prune=())
            except OSError:
                return  # a directory of /etc this user cannot read, or no inotify watches left
            try:
                layer = Sandbox()
            except QganbError:
                watch.close()
                return  # no bwrap: the run that needs a layer says so
            self._ahead = (watch, layer)

    def _remove(self, layers: list[Sandbox]) -> None:
        if layers:
            self._start(lambda: SandboxLayers.done(self, layers), "qganb-sandbox-removal")

    def _start(self, work: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=work, name=name)  # not a daemon: it finishes before the kernel exits
        thread.start()
        self._background = [t for t in self._background if t.is_alive()] + [thread]

    def settle(self) -> None:
        """Wait until the background work is done: removals, and the layer being made ahead."""
        while self._background:
            self._background.pop().join()
        ahead = self._ahead
        if ahead is not None:
            try:
                ahead[1].wait()
            except Exception:  # noqa: BLE001 - the run that takes the layer sees it failed and makes another
                pass

    def close(self) -> None:
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead[0].close()
            ahead[1].remove()
        self.settle()


KEPT_LISTINGS = KeptListings()
LAYERS = LayersAhead()
atexit.register(LAYERS.close)
_series_trees: dict[tuple[str, ...], tuple[tuple[int, ...], Path]] = {}
_series_lock = threading.Lock()


def _apt_stamp(cache: Path) -> tuple[int, ...]:
    """What `unpacked_tree` reads to pick a series' newest source: the private apt indexes
    (apt-get update replaces files in `lists`, which changes its mtime) and the sources list."""
    stamp: list[int] = []
    for path in (cache / "debian" / "lists", cache / "debian" / "sources.list"):
        try:
            st = path.stat()
            stamp += [st.st_mtime_ns, st.st_size, st.st_ino]
        except FileNotFoundError:
            stamp += [0, 0, 0]
    return tuple(stamp)


def series_tree(series: str) -> Path:
    """`unpacked_tree(series)`, resolved again only when its inputs may have changed."""
    from qganb.testbed.source_tree import unpacked_tree

    cache = paths.cache_dir()
    key = (series, str(cache), *sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("QGANB_")))
    stamp = _apt_stamp(cache)  # taken before resolving: a change during it shows at the next run
    with _series_lock:
        kept = _series_trees.get(key)
        if kept is not None and kept[0] == stamp and (kept[1] / "VERSION").is_file():
            return kept[1]
        tree = unpacked_tree(series)
        _series_trees[key] = (stamp, tree)
        return tree


class RecipeValidation:
    """The result of `%%qga_recipe --validate`: one row per verify case. `.report` is validate's
    ValidationReport, `.preview` the schema entry, C prototype and diff that were built."""

    HEADERS = ["command", "case", "result", "expected", "got / note"]
    # A plan holds the changed files twice (~0.5 MB for QEMU 7.2) and IPython's output history keeps
    # every result: only the newest results keep theirs, so a long edit loop does not grow the kernel.
    KEEP_PLANS = 8
    _with_plans: collections.deque[RecipeValidation] = collections.deque()

    def __init__(self, report: ValidationReport, note: str = "") -> None:
        self.report = report
        self.note = note  # e.g. why --save did not write the file
        self._with_plans.append(self)
        while len(self._with_plans) > self.KEEP_PLANS:
            self._with_plans.popleft().report.plan = None

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def table(self) -> Table:
        rows = [(c.command, c.case, "PASS" if c.passed else "FAIL", c.expected,
                 c.got + (f" ({c.problem})" if c.problem else "")) for c in self.report.cases]
        failed = sum(not c.passed for c in self.report.cases)
        title = (f"QEMU {self.report.qemu_version} ({self.report.tree}): "
                 f"{len(rows) - failed} passed, {failed} failed")
        return Table(rows, self.HEADERS, title)

    @cached_property
    def preview(self) -> RecipePreview:
        if self.report.plan is None:
            raise QganbError(f"this result is older than the {self.KEEP_PLANS} newest, whose plans the kernel keeps",
                             "run the cell again, or run it without --validate for the preview alone")
        return preview_of_plan(self.report.plan)

    def details(self) -> list[str]:
        """How it was checked: build kind and time, what compiled, the agent's confinement."""
        report = self.report
        compiled = f", compiled {', '.join(report.compiled)}" if report.compiled else ", nothing to compile"
        lines = [f"build: {'configured + full' if report.configured else 'incremental'}, "
                 f"{report.build_seconds:.1f} s{compiled}",
                 f"agent: {report.sandbox}"]
        return lines + ([self.note] if self.note else [])

    def _repr_html_(self) -> str:
        # The preview is not rendered here: diffing the C file costs 10-25 ms on every run of the
        # edit loop, for a diff that only changes where the body changed.
        details = "<br>".join(f"<code>{html.escape(line)}</code>" for line in self.details())
        return (f"{self.table._repr_html_()}<p>{details}<br>"
                "<code>_.preview</code> shows the schema entry, C prototype and diff that were built</p>")

    def __repr__(self) -> str:
        return "\n".join([str(self.table), *self.details()])


def validate_cell(tree: Path, recipes: list[Recipe], *, sandbox: bool = True) -> RecipeValidation:
    """Validate `recipes` on `tree` as `qganb recipe validate` does, the build's output streaming
    into a live log pane (and to `qganb run`'s terminal under the runner)."""
    started = time.monotonic()
    listing = KEPT_LISTINGS.listing(tree)
    listed = time.monotonic() - started
    tail = LogTail(f"qemu-ga build: {', '.join(r.command for r in recipes)} on {tree}")
    try:
        report = validate_recipes(tree, recipes, on_line=tail, listing=listing, sandbox=sandbox, layers=LAYERS)
    finally:
        tail.close()
        if sandbox:
            LAYERS.prepare_next()
    report.seconds["listing"] = listed
    report.seconds["total"] = time.monotonic() - started
    return RecipeValidation(report)


def settle() -> None:
    """Wait for what the kernel does in the background after a run (the benchmark calls it
    between its timed sides, as a user's editing time would hide it)."""
    LAYERS.settle()
