"""Session-wide: a test guest that the suite booted (the notebooks boot it on their own) is stopped
at the end, so `make test` leaves nothing running."""

from __future__ import annotations

import pytest

_was_running: bool | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _was_running
    from qganb.testbed import guest, libvirt_host

    try:
        _was_running = libvirt_host.domain_state(guest.DOMAIN) is not None
    except Exception:  # no virsh yet: nothing can be running
        _was_running = False


def _may_boot_the_default_guest(session: pytest.Session) -> bool:
    """Whether a test of this session could have booted the default guest: a `testbed` test that is
    not about the dnf guest (its own domain), or a notebook. A session of other tests leaves alone
    a guest that someone else booted meanwhile."""
    for item in session.items:
        if item.get_closest_marker("dnf_guest") is not None:
            continue
        if item.get_closest_marker("testbed") is not None or item.nodeid.partition("::")[0].endswith(".ipynb"):
            return True
    return False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from qganb.testbed import guest

    if _was_running is False and _may_boot_the_default_guest(session):
        guest.down()
