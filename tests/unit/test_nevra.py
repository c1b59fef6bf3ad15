"""A NEVRA read from rpm (on this host or a guest) is checked before anything uses it in a path."""

from __future__ import annotations

import pytest

from qganb.errors import RpmQueryFailed
from qganb.rpm.query import Nevra


def test_a_real_nevra_line_parses() -> None:
    nevra = Nevra.parse_query("qemu-guest-agent\t10\t7.2.0\t3.el7.qganb1\tx86_64\n")
    assert str(nevra) == "qemu-guest-agent-10:7.2.0-3.el7.qganb1.x86_64"
    assert str(Nevra.parse_query("tiny\t\t1.0~rc1^git2+x\t1\tnoarch")) == "tiny-1.0~rc1^git2+x-1.noarch"


@pytest.mark.parametrize(("line", "field"), [
    ("qemu-guest-agent\t\t7.2.0\t3/../../etc\tx86_64", "release"),
    ("../../x\t\t1\t1\tx86_64", "name"),
    ("q\tten\t1\t1\tx86_64", "epoch"),
    ("q\t\t1 2\t1\tx86_64", "version"),
    ("q\t\t1\t1\tx86/64", "arch"),
    ("-rf\t\t1\t1\tx86_64", "name"),
    ("q\t\t\t1\tx86_64", "version"),
])
def test_a_nevra_with_characters_no_package_has_is_refused(line: str, field: str) -> None:
    with pytest.raises(RpmQueryFailed, match=rf"rpm answered a NEVRA whose {field} .* is not valid; "):
        Nevra.parse_query(line, origin="guest root@h:22")
