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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from qganb.testbed import guest

    if _was_running is False:
        guest.down()
