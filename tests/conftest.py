"""Shared fixtures: real QEMU source trees from the same sources as the fixture src.rpms (Debian's
source packages; the upstream 2.12.0 tarball from ../shared/fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from qganb import file_lock, paths
from qganb.process import run
from qganb.stages.prep import UNTRACKED_HEAVY
from qganb.testbed import qemu_source
from qganb.testbed.source_origin import orig_tarball
from tests.xdist_groups import assign, libvirt_held

SERIES = ["2.12", "5.2", "7.2", "10.0"]


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session")
def qemu_trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Unpacked QEMU 2.12, 5.2, 7.2 and 10.0 trees, each committed as a git baseline."""
    trees: dict[str, Path] = {}
    for series in SERIES:
        orig, orig_path = orig_tarball(series)
        source = qemu_source.prepare(orig, orig_path, paths.cache_dir() / "qemu")
        where = tmp_path_factory.mktemp(f"qemu-{series}")
        run(["tar", "--no-same-owner", "-xf", source.tarball, "-C", where])
        tree = where / f"qemu-{source.version}"
        _git(tree, "init", "-q")
        # As prep's baseline does: the parts qemu-ga never uses stay out of the commit (a quicker add).
        (tree / ".git" / "info" / "exclude").write_text("\n".join(UNTRACKED_HEAVY) + "\n")
        _git(tree, "add", "-A")
        _git(tree, "config", "gc.auto", "0")  # no background repack of the whole tree beside the builds
        _git(tree, "-c", "user.name=qganb tests", "-c", "user.email=tests@qganb.invalid",
             "commit", "-q", "-m", "pristine", "--no-verify")
        trees[series] = tree
    return trees


ROOT = Path(__file__).resolve().parents[1]
SHIPPED_RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
OPTIONAL_RESULT_RECIPE = ROOT / "tests" / "data" / "guest-qganb-optional-result.yaml"


@pytest.fixture(scope="session")
def validated(qemu_trees: dict[str, Path]):
    """`validated(series)`: one validate on that tree of every shipped recipe plus the optional-result
    test recipe, made once: a single qemu-ga build serves every test that checks one of them."""
    from qganb.recipes.model import load_recipes
    from qganb.recipes.validate import validate_recipes

    reports = {}

    def report_for(series: str):  # type: ignore[no-untyped-def]
        if series not in reports:
            reports[series] = validate_recipes(qemu_trees[series],
                                               load_recipes([*SHIPPED_RECIPES, OPTIONAL_RESULT_RECIPE]))
            print(reports[series].summary())
        return reports[series]

    return report_for


@pytest.fixture()
def clean_tree(qemu_trees: dict[str, Path]):
    """Asserts after the test that the tree is exactly its baseline, then resets it for the next test."""
    used: list[Path] = []

    def use(series: str) -> Path:
        used.append(qemu_trees[series])
        return qemu_trees[series]

    yield use
    for tree in used:
        status = _git(tree, "status", "--porcelain")
        _git(tree, "checkout", "-q", "--", ".")
        _git(tree, "clean", "-fdq")
        assert status == "", f"the tree was left modified:\n{status}"


def git_status(tree: Path) -> str:
    return _git(tree, "status", "--porcelain")


def git_reset(tree: Path) -> None:
    _git(tree, "checkout", "-q", "--", ".")
    _git(tree, "clean", "-fdq")


# The dnf guest's image build (debootstrap, minutes, mostly I/O) runs beside the other tests: it starts
# once the default guest is up (every cache it reads exists by then), in its own process so that
# tests that point QGANB_CACHE_DIR elsewhere cannot move it. The dnf tests' `up` waits for it on the
# image's lock (from another worker) or here (from this one).
_DNF_IMAGE: list[subprocess.Popen[bytes]] = []
_DNF_TESTS_SELECTED = False  # set at collection: without dnf tests there is no dnf image to build
DNF_IMAGE_LOG = Path(tempfile.gettempdir()) / "qganb-tests-dnf-image.log"


def _start_dnf_image_build() -> None:
    if _DNF_IMAGE:
        return
    code = "from qganb.testbed import guest; guest.build_image(variant='dnf')"
    with open(DNF_IMAGE_LOG, "wb") as log:
        _DNF_IMAGE.append(subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT,
                                           env={**os.environ, "QGANB_CACHE_DIR": str(paths.cache_dir())}))


def wait_for_the_dnf_image() -> None:
    """Let the background build finish; if it failed, the dnf guest's `up` builds again and says why."""
    for process in _DNF_IMAGE:
        process.wait()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Which worker runs which test: see tests/xdist_groups.py."""
    assign(config, items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    """Setup, call and teardown (session fixtures' too) under the host's libvirt lock, where the test
    needs it: see libvirt_held."""
    with libvirt_held(item):
        return (yield)


@pytest.fixture(scope="session")
def testbed_guest():
    """The real test guest, booted once for the session and stopped at the end."""
    from qganb.testbed import guest

    timings = guest.up()
    if _DNF_TESTS_SELECTED:
        _start_dnf_image_build()
    yield guest.current_image(), timings
    guest.down()
    # The dnf tests may be waiting for this build in the other worker: let it finish.
    wait_for_the_dnf_image()


@pytest.fixture(scope="session")
def testbed_fleet():
    """Three fleet guests on the stock agent, booted once for the fleet tests (test_fleet_rollout, then
    test_fleet_testbed, whose last test stops them); stopped at the end of the session in any case."""
    from qganb.testbed import fleet

    fleet.down_fleet()  # a fresh boot: a fleet left running would be kept as it is
    try:
        yield fleet.up_fleet(3)
    finally:
        fleet.down_fleet()


SEED_RECIPES = ["guest-set-watchdog-timeout", "guest-get-cpu-usage-rate"]


@pytest.fixture(scope="session")
def patched_run(tmp_path_factory: pytest.TempPathFactory):
    """A run directory whose pipeline built the patched agent RPM from the testbed's own fixture
    (el7 style, QEMU 7.2) with the two seed recipes."""
    from qganb.stages.pipeline import run_packaging
    from qganb.stages.run_dir import RunDir
    from qganb.testbed import guest
    from qganb.testbed.fixture_srpm import build_fixture_srpm

    # Up to three workers (the default guest's, the fleet's, the dnf guest's) need this run: they
    # build it one at a time, so that the later ones find the first one's objects in the compiler
    # cache instead of compiling the same tree side by side.
    shared = tmp_path_factory.getbasetemp().parent
    with file_lock.held(shared / "qganb-patched-run.lock"):
        fixture = build_fixture_srpm(*guest.STOCK_FIXTURE)
        run_dir = RunDir(tmp_path_factory.mktemp("patched-run"))
        root = Path(__file__).resolve().parents[1]
        run_packaging(str(fixture.path), [root / "recipes" / f"{r}.yaml" for r in SEED_RECIPES], run_dir,
                      say=lambda line: None)
    return run_dir


@pytest.fixture()
def stock_testbed(testbed_guest):
    """The test guest with its stock agent: put back when an earlier test installed another build."""
    from tests.guest_faults import put_stock_agent_back

    put_stock_agent_back()
    return testbed_guest


def pytest_collection_finish(session: pytest.Session) -> None:
    """After -m/-k deselection: whether the dnf guest's tests are in this session."""
    global _DNF_TESTS_SELECTED
    _DNF_TESTS_SELECTED = any(item.get_closest_marker("dnf_guest") is not None for item in session.items)
