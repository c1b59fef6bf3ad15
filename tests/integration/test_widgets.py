"""The ipywidgets layer driven as a user would (values typed, buttons clicked), on a real QEMU tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.recipes.model import load_recipe
from qganb.notebook.widgets import DiffViewer, LogPane, RecipeDesigner

pytestmark = pytest.mark.fixture_build
BODY = """\
GuestLoadAverage *result = g_new0(GuestLoadAverage, 1);
double loads[1];

if (getloadavg(loads, 1) != 1) {
    error_setg(errp, "getloadavg failed");
    g_free(result);
    return NULL;
}
result->one_minute = loads[0];
return result;
"""


def test_the_designer_previews_an_edit_of_a_loaded_recipe_without_writing_it(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "recipes" / "guest-set-watchdog-timeout.yaml"
    path = tmp_path / shipped.name
    path.write_bytes(shipped.read_bytes())
    designer = RecipeDesigner(recipe=path)
    designer.arguments.value += "\nquiet bool do not log the change"
    designer.preview_button.click()
    assert "qmp_guest_set_watchdog_timeout(int64_t timeout, bool quiet, Error **errp)" in designer.last_message
    assert "@quiet: do not log the change" in designer.last_message
    assert path.read_bytes() == shipped.read_bytes(), "Preview writes nothing"


def test_the_designer_previews_and_writes_a_recipe_that_loads(tmp_path: Path) -> None:
    designer = RecipeDesigner(tmp_path)
    designer.command.value = "guest-get-load-average"
    designer.doc.value = "Report the one-minute load average of the guest."
    designer.fields.value = "one-minute number the load average over one minute"
    designer.body.value = BODY
    designer.preview_button.click()
    assert "GuestLoadAverage *qmp_guest_get_load_average(Error **errp)" in designer.last_message
    designer.save_button.click()
    recipe = load_recipe(tmp_path / "guest-get-load-average.yaml")
    assert recipe.model.returns is not None and recipe.model.returns.struct.name == "GuestLoadAverage"
    designer.save_button.click()  # the file exists now: not overwritten unless asked
    assert "exists" in designer.last_message
    designer.arguments.value = "timeout: int"
    designer.preview_button.click()
    assert "arguments, line 1: 'timeout: int' is not `name type doc`" in designer.last_message


def test_diff_viewer_and_log_pane(tmp_path: Path) -> None:
    patch = tmp_path / "x.patch"
    patch.write_text("diff --git a/qga/a.c b/qga/a.c\n--- a/qga/a.c\n+++ b/qga/a.c\n@@ -1 +1 @@\n-old\n+new\n"
                     "diff --git a/qga/b.json b/qga/b.json\n--- a/qga/b.json\n+++ b/qga/b.json\n@@ -1 +1 @@\n-x\n+y\n")
    viewer = DiffViewer(patch)
    assert list(viewer.files) == ["qga/a.c", "qga/b.json"]
    assert "+new" in viewer.output.value
    viewer.choice.value = "qga/b.json"
    assert "+y" in viewer.output.value and "+new" not in viewer.output.value
    pane = LogPane(lines=2)
    for line in ("one", "two", "three"):
        pane(line)
    assert pane.area.value == "two\nthree" and pane.count == 3
