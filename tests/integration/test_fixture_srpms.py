"""Fixture src.rpms built from real QEMU sources rebuild into RPMs whose qemu-ga answers.

Real apt-get source, real rpmbuild (-bs and --rebuild), real rpm2cpio and a real qemu-ga
listening on a unix socket. The first run downloads and builds; later runs reuse the cache.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qganb.agent.local import LocalAgent
from qganb.process import output_of
from qganb.rpm.payload import extract_payload
from qganb.testbed.fixture_specs import STYLES
from qganb.testbed import guest
from qganb.testbed.fixture_srpm import build_fixture_srpm

pytestmark = pytest.mark.fixture_build

FIXTURES = [("el7", "2.12"), ("el7", "5.2"), ("el7", "7.2"), ("el9", "7.2"), ("fedora", "10.0")]
EXPECTED_OPTION = {  # how each style's unit passes its blocklist, for each tree
    ("el7", "2.12"): "--blacklist=${BLACKLIST_RPC}",
    ("el7", "5.2"): "--blacklist=${BLACKLIST_RPC}",
    ("el7", "7.2"): "--blacklist=${BLACKLIST_RPC}",
    ("el9", "7.2"): "--block-rpcs=${BLOCK_RPCS}",
    ("fedora", "10.0"): "$FILTER_RPC_ARGS",
}


def rpm_query(path: Path, fmt: str) -> str:
    return output_of(["rpm", "-qp", "--nosignature", "--qf", fmt, path]).strip()


@pytest.mark.parametrize(("style", "series"), FIXTURES, ids=[f"{s}-{q}" for s, q in FIXTURES])
def test_fixture_rebuilds_into_an_rpm_whose_agent_answers(style: str, series: str, tmp_path: Path) -> None:
    fixture = build_fixture_srpm(series, style)
    spec_style = STYLES[style]

    # The src.rpm is what an operator downloads: right name, header and contents.
    assert fixture.path.name == (
        f"qemu-guest-agent-{fixture.version}-{spec_style.release}{spec_style.dist}.src.rpm"
    )
    assert fixture.version.startswith(series + ".")
    assert rpm_query(fixture.path, "%{EPOCH}") == str(spec_style.epoch)
    contents = output_of(["rpm", "-qpl", "--nosignature", fixture.path]).split()
    assert f"qemu-{fixture.version}.tar.xz" in contents
    assert sum(name.endswith(".patch") for name in contents) == 3
    assert {"qemu-guest-agent.service", "qemu-ga.sysconfig", "qemu-guest-agent.spec"} <= set(contents)

    # Rebuilt as a user would on this host (`rpmbuild --rebuild`), through the testbed's stock-build
    # cache: the same build a guest starting from this src.rpm runs, made once.
    stock = guest.stock_rpm(fixture.path)
    rpms = sorted(stock.parent.glob("*.rpm"))
    assert [r.name for r in rpms] == [
        f"qemu-guest-agent-{fixture.version}-{spec_style.release}{spec_style.dist}.x86_64.rpm"
    ]
    build_log = (stock.parent / guest.REBUILD_LOG).read_text()
    for n in range(1, 4):  # every downstream patch went in, whichever way the style applies them
        assert f"000{n}-qga-" in build_log

    root = extract_payload(rpms[0], tmp_path / "payload")
    unit = (root / "usr/lib/systemd/system/qemu-guest-agent.service").read_text()
    assert "EnvironmentFile=/etc/sysconfig/qemu-ga" in unit
    assert EXPECTED_OPTION[(style, series)] in unit
    assert (root / "etc/sysconfig/qemu-ga").read_text().count(spec_style.blocklist_variable + "=") == 1
    binary = root / "usr/bin/qemu-ga"
    assert b"shutting down" in binary.read_bytes(), "the downstream log patch is compiled in"

    with LocalAgent(binary) as agent, agent.client() as client:
        assert client.execute("guest-ping") == {}
        info = client.execute("guest-info")
    assert info["version"] == fixture.version
    commands = {c["name"]: c["enabled"] for c in info["supported_commands"]}
    assert commands["guest-ping"] is True and commands["guest-info"] is True


def test_asking_again_reuses_the_cached_src_rpm() -> None:
    first = build_fixture_srpm("7.2", "el7")
    stamp = first.path.stat().st_mtime_ns
    again = build_fixture_srpm("7.2", "el7")
    assert again == first
    assert again.path.stat().st_mtime_ns == stamp, "a cached fixture must not be rebuilt"
    leftovers = [p.name for p in first.path.parent.parent.iterdir() if p.name.startswith(".build-")]
    assert leftovers == []


def test_cli_prints_the_path_of_the_fixture(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "qganb", "testbed", "srpm", "--qemu", "7.2", "--style", "el9"],
                          capture_output=True, text=True, check=True)
    path = Path(done.stdout.strip())
    assert path.is_file() and path.name == "qemu-guest-agent-7.2.0-2.el9.src.rpm"
