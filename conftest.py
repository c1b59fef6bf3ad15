"""Session-wide: a test guest that the suite booted (the notebooks boot it on their own) is stopped
at the end, so `make test` leaves nothing running; the rollout notebook runs only where its
default fleet exists."""

from __future__ import annotations

from pathlib import Path

import pytest

_was_running: bool | None = None
_groups_file: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """In pytest-xdist's controller: name the file the workers write the test groups to."""
    global _groups_file
    if config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        from tests.xdist_groups import name_groups_file

        _groups_file = name_groups_file()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _groups_file is not None:
        _groups_file.unlink(missing_ok=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadgroup`: the groups of tests/xdist_groups.py, which work with pytest 9.2."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.xdist_groups import make_scheduler

    return make_scheduler(config, log)


def pytest_sessionstart(session: pytest.Session) -> None:
    global _was_running
    from qganb.testbed import guest, libvirt_host

    try:
        _was_running = libvirt_host.domain_state(guest.DOMAIN) is not None
    except Exception:  # no virsh yet: nothing can be running
        _was_running = False


def _notebook_of(item: pytest.Item) -> str:
    """The notebook file name of an nbval item ("" for other tests)."""
    name = Path(item.nodeid.partition("::")[0]).name
    return name if name.endswith(".ipynb") else ""


def _rollout_notebook() -> str:
    from qganb.stages.table import stage_named

    return stage_named("rollout").notebook


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """nbval runs every notebook with its defaults, and the rollout notebook's defaults roll out to
    the local testbed fleet. Where that fleet's inventory does not exist there is nothing to roll
    out to: the notebook's cells are skipped, with the reason in pytest's summary, rather than
    failing on a missing fleet or passing without having run."""
    rollout = [item for item in items if _notebook_of(item) == _rollout_notebook()]
    if not rollout:
        return
    from qganb.fleet.rollout import testbed_inventory

    inventory = testbed_inventory()
    if not inventory.is_file():
        skip = pytest.mark.skip(reason=f"no testbed fleet inventory at {inventory}: {_rollout_notebook()}'s "
                                "defaults roll out to that fleet")
        for item in rollout:
            item.add_marker(skip)


# The tests this process ran: under pytest-xdist a worker collects every test but runs its share.
_ran: list[pytest.Item] = []


def pytest_runtest_setup(item: pytest.Item) -> None:
    _ran.append(item)


def _may_boot_the_default_guest() -> bool:
    """Whether a test this process ran could have booted the default guest: a `testbed` test that is
    not about the dnf guest (its own domain), or a notebook other than the rollout's (which talks
    only to the inventory's hosts). A session of other tests, or the other xdist worker, leaves alone
    a guest that someone else booted meanwhile or is still using."""
    from tests.xdist_groups import FLEET, group_of

    for item in _ran:
        # The dnf guest and the fleet are domains of their own; their worker may end while the
        # default guest's worker still uses that guest.
        if item.get_closest_marker("dnf_guest") is not None or group_of(item) == FLEET:
            continue
        if item.get_closest_marker("testbed") is not None or _notebook_of(item) not in ("", _rollout_notebook()):
            return True
    return False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from qganb.testbed import guest

    if _was_running is False and _may_boot_the_default_guest():
        guest.down()
