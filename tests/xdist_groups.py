"""Which pytest-xdist worker runs which test.

The suite runs in two workers. Tests that share one guest, or one costly session fixture, form a group
that a single worker runs in order; the rest go to whichever worker is free. xdist's own
`--dist loadgroup` marks a group by appending `@group` to each nodeid, which pytest 9.2's read-only
node ids no longer allow, so the groups travel another way: each worker writes the group of every
test it collected to a file the controller named (GROUPS_FILE_VARIABLE), and the controller's
scheduler reads it when the collections are in. The xdist_group marks are still set, so an xdist
whose own suffix works groups the same tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

GROUPS_FILE_VARIABLE = "QGANB_TEST_GROUPS_FILE"
GUEST, FLEET, TREES, DNF = "guest", "fleet", "trees", "dnf"
# The default guest (domain qganb-testbed) takes one test at a time, and the notebooks share
# runs/notebooks in file order (07 and 08 install on that guest).
_GUEST_FIXTURES = {"testbed_guest", "stock_testbed"}
# The fleet's three guests and the tests that read its inventory.
_FLEET_MODULES = {"test_fleet_rollout.py", "test_fleet_testbed.py", "test_rollout_stage.py"}
# Unpacked trees and their validate builds: one set in one worker, not one per worker.
_TREE_FIXTURES = {"qemu_trees", "validated", "clean_tree"}
# Queue order: the longest chains first, so that they start at once and the single tests fill in.
GROUP_ORDER = [GUEST, TREES, FLEET, DNF]


def group_of(item: pytest.Item) -> str | None:
    """The group `item` must run in, or None when any worker may run it."""
    path = Path(item.nodeid.partition("::")[0])
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("dnf_guest") is not None:
        return DNF
    if path.name in _FLEET_MODULES:
        return FLEET
    if path.suffix == ".ipynb" or fixtures & _GUEST_FIXTURES:
        return GUEST
    if fixtures & _TREE_FIXTURES:
        return TREES
    return None


def _queue_rank(item: pytest.Item, group: str | None) -> int:
    """Groups first, then the single tests that build from QEMU sources (minutes each), then the
    other integration tests, then the unit tests: the small ones last even out the workers' ends."""
    if group is not None:
        return GROUP_ORDER.index(group)
    if item.get_closest_marker("fixture_build") is not None:
        return len(GROUP_ORDER)
    return len(GROUP_ORDER) + (1 if "/integration/" in item.nodeid else 2)


def assign(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test's group, order the queue (the scheduler hands work out in collection order;
    within a group and within a rank the collection's order is kept), and, in a worker, write the
    groups for the controller."""
    groups = {item.nodeid: group for item in items if (group := group_of(item)) is not None}
    for item in items:
        if item.nodeid in groups:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    items.sort(key=lambda item: _queue_rank(item, groups.get(item.nodeid)))
    target = os.environ.get(GROUPS_FILE_VARIABLE)
    if target and hasattr(config, "workerinput"):
        # Both workers write the same content: each writes whole, and the last one wins.
        fd, scratch = tempfile.mkstemp(dir=Path(target).parent, prefix=".groups-")
        with os.fdopen(fd, "w") as out:
            json.dump(groups, out)
        os.replace(scratch, target)


def name_groups_file() -> Path:
    """In the controller, before the workers start: where they write the groups."""
    fd, name = tempfile.mkstemp(prefix="qganb-test-groups-", suffix=".json")
    os.close(fd)
    os.environ[GROUPS_FILE_VARIABLE] = name
    return Path(name)


def make_scheduler(config: pytest.Config, log: object) -> object:
    """LoadGroupScheduling whose groups come from the workers' file."""
    from xdist.scheduler.loadgroup import LoadGroupScheduling

    class GroupFileScheduling(LoadGroupScheduling):
        groups: dict[str, str] = {}

        def schedule(self) -> None:
            if self.collection is None:  # the first call: every worker has sent its collection
                target = os.environ.get(GROUPS_FILE_VARIABLE, "")
                text = Path(target).read_text() if target and Path(target).is_file() else ""
                self.groups = json.loads(text) if text.strip() else {}
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            return self.groups.get(nodeid) or super()._split_scope(nodeid)

    return GroupFileScheduling(config, log)  # type: ignore[arg-type]


# A test may stop the host's libvirtd (its marker: stops_libvirtd). While it does, no other worker
# may be using libvirt: each test of the groups on other guests (the fleet, the dnf guest) runs,
# with the session fixtures it sets up or tears down, holding the host's libvirt shared; that test
# holds it alone. The default guest's tests need nothing: that test is one of them, in their worker.
_SHARES_LIBVIRT = {FLEET, DNF}


def _libvirt_lock_path() -> Path:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "serial")  # the same in every worker of one run
    return Path(tempfile.gettempdir()) / f"qganb-tests-libvirt-{run}.lock"


@contextlib.contextmanager
def libvirt_held(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("stops_libvirtd") is not None:
        mode = fcntl.LOCK_EX
    elif group_of(item) in _SHARES_LIBVIRT:
        mode = fcntl.LOCK_SH
    else:
        yield
        return
    with open(_libvirt_lock_path(), "a+") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
