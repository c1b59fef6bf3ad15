"""The ipywidgets layer driven as a user would (values typed, buttons clicked), on a real QEMU tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.recipes.model import load_recipe
from qganb.notebook.widgets import RecipeDesigner

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
