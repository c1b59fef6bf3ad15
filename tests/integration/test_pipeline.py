"""The packaging pipeline end to end on every fixture style and QEMU 5.2, 7.2 and 10.0.

Real rpm -i, rpmbuild -bp/-bb/-bs, git (GitPython) and specfile; the binary RPM's qemu-ga,
unpacked with rpm2cpio, answers the new command over a unix socket.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qganb.agent.local import LocalAgent
from qganb.agent.sandbox import Sandbox
from qganb.digests import sha256_of
from qganb.errors import BuildFailed, MissingBuildRequires
from qganb.recipes.model import load_recipe
from qganb.recipes.validate import run_cases_on
from qganb.rpm.payload import extract_payload
from qganb.stages import build, diff, edit, fetch, prep
from qganb.stages.pipeline import run_packaging
from qganb.stages.records import BuildRecord, DiffRecord, PrepRecord, SpecRecord
from qganb.stages.run_dir import RunDir
from qganb.testbed.fixture_srpm import build_fixture_srpm
from tests.http_fixtures import serve

pytestmark = pytest.mark.fixture_build
ROOT = Path(__file__).resolve().parents[2]
CASES = [
    ("el7", "5.2", "guest-set-watchdog-timeout", "git diff", "%patch -P 6 -p1"),
    ("el9", "7.2", "guest-get-cpu-usage-rate", "git diff", None),
    ("fedora", "10.0", "guest-list-mounts", "git format-patch", None),
]


def agent_answers_every_case(rpm: Path, recipe_path: Path, workdir: Path) -> None:
    recipe = load_recipe(recipe_path)
    root = extract_payload(rpm, workdir / "payload")
    sandbox = Sandbox()  # the recipe's C writes where it would on a guest: into the sandbox's layer
    try:
        with LocalAgent(root / "usr/bin/qemu-ga", sandbox=sandbox) as agent, agent.client() as client:
            info = client.execute("guest-info")
        assert {"name": recipe.command, "enabled": True} in [
            {"name": c["name"], "enabled": c["enabled"]} for c in info["supported_commands"]]
        for result in run_cases_on(recipe, root / "usr/bin/qemu-ga", sandbox):
            assert result.passed, result.line()
    finally:
        sandbox.remove()


@pytest.mark.parametrize(("style", "series", "command", "form", "patch_line"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_pipeline_builds_an_rpm_whose_agent_answers_the_new_command(
        style: str, series: str, command: str, form: str, patch_line: str | None, tmp_path: Path) -> None:
    fixture = build_fixture_srpm(series, style)
    recipe = ROOT / "recipes" / f"{command}.yaml"
    run_dir = RunDir(tmp_path / "run")
    with serve({"/q.src.rpm": fixture.path}) as (url, _):
        # The fixture is unsigned: a download of it is taken on its checksum.
        packages = run_packaging(url + "/q.src.rpm", [recipe], run_dir, sha256=sha256_of(fixture.path))
    assert run_dir.recorded_stages() == ["fetch", "prep", "edit", "diff", "spec", "build"]

    diffed = run_dir.load(DiffRecord)
    patch = diffed.path
    assert patch.name == f"qganb-{command}.patch" and diffed.form == form
    assert patch.read_text().startswith("From " if form == "git format-patch" else "diff --git a/qga/")
    specced = run_dir.load(SpecRecord)
    spec = specced.spec.read_text()
    assert specced.release_after == specced.release_before + ".qganb1"
    assert ("%patch -P" in spec) == (patch_line is not None)
    build_log = Path(run_dir.load(BuildRecord).log).read_text()
    assert patch.name in build_log, "the spec's own %prep applied the new patch"

    binary = [p for p in packages if not p.path.name.endswith(".src.rpm")]
    sources = [p for p in packages if p.path.name.endswith(".src.rpm")]
    assert len(binary) == 1 and len(sources) == 1
    assert binary[0].nevra.endswith(f"{fixture.dist}.qganb1.x86_64")
    assert sources[0].nevra.endswith(".qganb1.src")
    agent_answers_every_case(binary[0].path, recipe, tmp_path)


def test_rerunning_stages_is_idempotent_and_the_patch_reproducible(tmp_path: Path) -> None:
    fixture = build_fixture_srpm("7.2", "el7")
    recipe = ROOT / "recipes" / "guest-get-uptime.yaml"
    run_dir = RunDir(tmp_path / "run")
    run_packaging(str(fixture.path), [recipe], run_dir)
    first_prep, first_diff = run_dir.load(PrepRecord), run_dir.load(DiffRecord)
    first_build = run_dir.load(BuildRecord)
    rpm = first_build.packages[0].path
    run_packaging(str(fixture.path), [recipe], run_dir)
    assert run_dir.load(PrepRecord).baseline == first_prep.baseline
    assert run_dir.load(DiffRecord).sha256 == first_diff.sha256
    assert run_dir.load(SpecRecord).release_after == "3%{?dist}.qganb1", "the spec stage starts from the vendor spec"

    # Another run on the same src.rpm gives the same patch bytes (its stages up to the patch: the
    # build of those bytes is the one above).
    other = RunDir(tmp_path / "other")
    fetch.run(other, str(fixture.path))
    prep.run(other)
    edit.run(other, [recipe])
    assert diff.run(other).sha256 == first_diff.sha256
    assert other.load(DiffRecord).sha256 == first_diff.sha256

    # The next rebuild, from qganb's own src.rpm, counts up: .qganb2.
    srpm = first_build.packages[1].path
    again = RunDir(tmp_path / "again")
    packages = run_packaging(str(srpm), [ROOT / "recipes" / "guest-get-cpu-usage-rate.yaml"], again)
    assert again.load(SpecRecord).release_after == "3%{?dist}.qganb2"
    assert again.load(SpecRecord).patch_number == 7
    assert packages[0].nevra.endswith(".el7.qganb2.x86_64")
    assert rpm.exists()


def test_patch_that_does_not_apply_fails_the_build_and_keeps_the_previous_rpms(tmp_path: Path) -> None:
    fixture = build_fixture_srpm("7.2", "el9")
    run_dir = RunDir(tmp_path / "run")
    packages = run_packaging(str(fixture.path), [ROOT / "recipes" / "guest-get-uptime.yaml"], run_dir)
    patch = run_dir.path / "rpmbuild" / "SOURCES" / run_dir.load(DiffRecord).path.name
    lines = patch.read_text().splitlines(keepends=True)
    hunk = next(i for i, line in enumerate(lines) if line.startswith("@@"))
    context = next(i for i in range(hunk + 1, len(lines)) if lines[i].startswith(" "))
    lines[context] = " this context line is not in the tree\n"
    patch.write_text("".join(lines))
    with pytest.raises(BuildFailed) as info:
        build.run(run_dir)
    assert f"{patch.name} does not apply in the spec's %prep" in str(info.value)
    details = info.value.details()
    assert "exit status: 1" in details and "command: rpmbuild -bb" in details
    assert len([line for line in details.splitlines() if line.startswith("  ")]) <= 40
    assert all(p.path.exists() for p in packages), "the previous good RPMs are kept"


def test_build_failure_shows_command_status_and_log_tail(tmp_path: Path) -> None:
    fixture = build_fixture_srpm("7.2", "el7")
    broken = tmp_path / "guest-get-uptime.yaml"
    text = (ROOT / "recipes" / "guest-get-uptime.yaml").read_text()
    broken.write_text(text.replace("result->idle_seconds = idle;", "result->idle_seconds = idle_typo;"))
    run_dir = RunDir(tmp_path / "run")
    with pytest.raises(BuildFailed) as info:
        run_packaging(str(fixture.path), [broken], run_dir)
    assert "rpmbuild failed: `rpmbuild -bb` exited with status 1" in str(info.value)
    details = info.value.details()
    assert "idle_typo" in details and "exit status: 1" in details
    assert not run_dir.has_stage("build")


def test_missing_build_requires_are_listed(tmp_path: Path) -> None:
    fixture = build_fixture_srpm("7.2", "el7")
    run_dir = RunDir(tmp_path / "run")
    fetch.run(run_dir, str(fixture.path))
    with pytest.raises(MissingBuildRequires) as info:
        prep.run(run_dir, nodeps=False)
    assert "glib2-devel" in info.value.missing and "ninja-build" in info.value.missing
    assert "--nodeps" in str(info.value)
    assert not run_dir.has_stage("prep")
