"""What the stage notebooks share: paths relative to the project, and the run directory."""

from __future__ import annotations

from pathlib import Path

from qganb import paths
from qganb.errors import RolloutError
from qganb.stages.run_dir import RunDir


def project_path(path: str | Path) -> Path:
    """`path` as given when absolute, else relative to the project checkout (or the working
    directory outside one), so notebooks run the same from notebooks/, the root or papermill."""
    given = Path(path).expanduser()
    if given.is_absolute():
        return given
    root = paths.source_checkout() or Path.cwd()
    return (root / given).resolve()


def run_path(run_dir: str | Path) -> Path:
    """Where a run directory named by a notebook parameter or `%qga_run` lives: an absolute path as given;
    a relative one inside the runs directory (QGANB_RUNS_DIR, else the checkout's `runs/`), where a leading
    `runs/` names that directory, so the default `runs/notebooks` follows QGANB_RUNS_DIR too."""
    given = Path(run_dir).expanduser()
    if given.is_absolute():
        return given
    parts = given.parts[1:] if given.parts[:1] == ("runs",) else given.parts
    return paths.runs_dir().joinpath(*parts).resolve()


def open_run(run_dir: str | Path) -> RunDir:
    """The run directory a stage notebook works in (created when the first stage runs)."""
    return RunDir(run_path(run_dir))


def testbed_srpm() -> str:
    """The default fixture src.rpm (QEMU 7.2, el7 style: what the testbed guest runs), built once."""
    from qganb.testbed import guest
    from qganb.testbed.fixture_srpm import build_fixture_srpm

    return str(build_fixture_srpm(*guest.STOCK_FIXTURE).path)


def rollout_inventory(inventory: str) -> Path:
    """The rollout notebook's inventory: `inventory` (relative to the project), or when empty the
    local testbed fleet's, which must have been set up."""
    if inventory:
        return project_path(inventory)
    from qganb.fleet.rollout import testbed_inventory

    path = testbed_inventory()
    if not path.is_file():
        raise RolloutError(f"no inventory given, and the testbed fleet has none ({path})",
                           "set the parameter inventory to an Ansible inventory (qganb run --inventory FILE), or "
                           "set up the testbed fleet first")
    return path
