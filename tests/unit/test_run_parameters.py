"""`qganb run` checks parameters against the real notebooks' parameters cells before running anything."""

from __future__ import annotations

import pytest

from qganb.errors import ParameterError, UsageError
from qganb.notebook.runner import declared_parameters, notebook_of, plan_run
from qganb.stages.table import STAGE_NAMES as STAGES
from qganb.stages.table import route, stage_before

VALUES = {"run_dir": "runs/x", "srpm": "", "sha256": "", "recipes": ["r.yaml"], "changelog": "", "guest": "",
          "domain": "", "connect": "qemu:///system", "identity": "", "known_hosts": "", "installer": "auto",
          "flags": [], "unblock": False, "insecure": False,
          "install_builddeps": False}
ONE_GUEST = {**VALUES, "allow_downgrade": False, "stock": ""}
FLEET = {**VALUES, "inventory": "/i/fleet.yml", "serial": "1,25%,100%", "max_fail_percentage": 0, "forks": 10,
         "check": False, "limit": "", "rpms": [], "allow_downgrade": False, "reinstall": False}
BUILD = ["fetch", "prep", "edit", "diff", "spec", "build"]


def test_every_stage_notebook_has_a_tagged_parameters_cell_with_run_dir() -> None:
    for stage in STAGES:
        assert "run_dir" in declared_parameters(notebook_of(stage)), stage


def test_each_stage_gets_only_what_it_declares() -> None:
    plan = plan_run(VALUES, from_stage="edit", until_stage="build")
    assert plan.stages == ["edit", "diff", "spec", "build"]
    assert plan.parameters["edit"] == {"run_dir": "runs/x", "recipes": ["r.yaml"]}
    assert plan.parameters["spec"] == {"run_dir": "runs/x", "changelog": ""}


def test_an_unknown_parameter_is_an_error_listing_the_known_ones() -> None:
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\): chnagelog; the stage notebooks take: .*changelog"):
        plan_run({**VALUES, "chnagelog": "x"}, given={"chnagelog"})


def test_a_missing_value_names_the_notebook() -> None:
    values = dict(VALUES)
    del values["installer"]
    with pytest.raises(ParameterError, match="07-install.ipynb declares parameter.*installer"):
        plan_run(values)
    assert plan_run(values, until_stage="build").stages[-1] == "build"


def test_bad_stage_names_and_order() -> None:
    with pytest.raises(ParameterError, match="--from 'biuld' is not a stage"):
        plan_run(VALUES, from_stage="biuld")
    with pytest.raises(ParameterError, match="--from verify comes after --until build"):
        plan_run(VALUES, from_stage="verify", until_stage="build")


def test_notebooks_are_committed_without_outputs() -> None:
    import json

    for notebook in sorted(notebook_of("fetch").parent.glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), notebook.name
        assert sum("parameters" in c["metadata"].get("tags", []) for c in code) == 1, notebook.name


def test_the_cli_refuses_a_misspelt_parameter_before_making_a_run_directory(tmp_path) -> None:
    import subprocess
    import sys

    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "qganb", "run", "--recipe", "recipes/guest-get-uptime.yaml",
                           "-p", "chnagelog=x", "--run", str(run)], capture_output=True, text=True,
                          cwd=notebook_of("fetch").parents[1])
    assert done.returncode == 1
    assert done.stderr.startswith("qganb: error: unknown parameter(s): chnagelog; the stage notebooks take: ")
    assert not run.exists()


def test_insecure_reaches_the_fetch_notebook_from_run_and_exists_on_package() -> None:
    from qganb.cli import build_parser
    from qganb.cli.pipeline_commands import run_values

    values = run_values(build_parser().parse_args(["run", "--recipe", "r.yaml", "--insecure"]))
    assert plan_run({**values, "run_dir": "runs/x"}, until_stage="fetch").parameters["fetch"]["insecure"] is True
    values = run_values(build_parser().parse_args(["run", "--recipe", "r.yaml"]))
    assert plan_run({**values, "run_dir": "runs/x"}, until_stage="fetch").parameters["fetch"]["insecure"] is False
    assert build_parser().parse_args(["package", "--srpm", "x", "--recipe", "r", "--insecure"]).insecure is True


def test_install_builddeps_reaches_the_prep_and_build_notebooks_from_run_and_exists_on_package() -> None:
    from qganb.cli import build_parser

    args = build_parser().parse_args(["run", "--recipe", "r.yaml", "--install-builddeps"])
    assert args.install_builddeps is True
    plan = plan_run({**VALUES, "install_builddeps": True}, until_stage="build")
    assert plan.parameters["prep"]["install_builddeps"] is True
    assert plan.parameters["build"]["install_builddeps"] is True
    assert "install_builddeps" not in plan.parameters["edit"]
    assert build_parser().parse_args(["package", "--srpm", "x", "--recipe", "r"]).install_builddeps is False
    assert build_parser().parse_args(["package", "--srpm", "x", "--recipe", "r",
                                      "--install-builddeps"]).install_builddeps is True


def test_without_an_inventory_a_run_installs_and_verifies_on_one_guest_as_before() -> None:
    plan = plan_run(ONE_GUEST)
    assert plan.stages == [*BUILD, "install", "verify"] and not plan.fleet
    assert "rollout" not in plan.parameters
    assert plan_run({**ONE_GUEST, "inventory": ""}).stages == plan.stages


def test_with_an_inventory_the_rollout_replaces_install_and_verify() -> None:
    plan = plan_run(FLEET)
    assert plan.stages == [*BUILD, "rollout"] and plan.fleet
    assert plan.parameters["rollout"]["inventory"] == "/i/fleet.yml"
    assert set(plan.parameters["rollout"]) == set(declared_parameters(notebook_of("rollout")))
    assert plan_run(FLEET, from_stage="rollout").stages == ["rollout"]
    assert plan_run(FLEET, until_stage="build").stages == BUILD
    assert plan_run(FLEET, from_stage="spec", until_stage="rollout").stages == ["spec", "build", "rollout"]


def test_a_stage_off_the_runs_route_is_refused_with_the_way_to_it() -> None:
    with pytest.raises(ParameterError, match=r"--until rollout: the rollout stage runs only with --inventory "
                       r"\(it replaces install and verify\); give --inventory INVENTORY"):
        plan_run(VALUES, until_stage="rollout")
    with pytest.raises(ParameterError, match=r"--from install: a run with --inventory has no install stage \(the "
                       r"rollout replaces install and verify\); drop --inventory .*pick one of: fetch, .*, build, "
                       r"rollout$"):
        plan_run(FLEET, from_stage="install")
    with pytest.raises(ParameterError, match="--until 'rolout' is not a stage"):
        plan_run(FLEET, until_stage="rolout")


def test_a_typo_is_still_an_error_on_the_fleet_route() -> None:
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\): seriall; the stage notebooks take: .*serial"):
        plan_run({**FLEET, "seriall": "2"}, given={"seriall"})
    missing = dict(FLEET)
    del missing["forks"]
    with pytest.raises(ParameterError, match="09-rollout.ipynb declares parameter.*forks"):
        plan_run(missing)
    assert plan_run(missing, until_stage="build").stages == BUILD


def test_each_route_starts_a_stage_from_the_record_before_it() -> None:
    assert [s.name for s in route(fleet=True)] == [*BUILD, "rollout"]
    assert stage_before("rollout", fleet=True).name == "build"  # type: ignore[union-attr]
    assert stage_before("install", fleet=False).name == "build"  # type: ignore[union-attr]
    assert stage_before("verify", fleet=False).name == "install"  # type: ignore[union-attr]
    assert stage_before("fetch", fleet=True) is None


def _run_args(*extra: str):  # type: ignore[no-untyped-def]
    from qganb.cli import build_parser

    return build_parser().parse_args(["run", "--recipe", "r.yaml", *extra])


def test_run_gives_the_rollout_notebook_every_parameter_with_the_notebooks_own_defaults() -> None:
    import ast

    from qganb.cli.pipeline_commands import run_values

    plan = plan_run({**run_values(_run_args("--inventory", "inv.yml")), "run_dir": "runs/x", "install_builddeps": False})
    declared = declared_parameters(notebook_of("rollout"))
    given = plan.parameters["rollout"]
    for name, parameter in declared.items():
        if name not in ("run_dir", "inventory"):
            assert given[name] == ast.literal_eval(parameter["default"]), name
    assert given["inventory"] == "inv.yml"


def test_run_passes_the_rollout_options_through() -> None:
    from qganb.cli.pipeline_commands import run_values

    values = run_values(_run_args("--inventory", "inv.yml", "--serial", "1,50%", "--max-fail-percentage", "20",
                                  "--forks", "3", "--check", "--limit", "web*", "--reinstall", "--installer", "dnf"))
    rollout = plan_run({**values, "run_dir": "runs/x", "install_builddeps": False}).parameters["rollout"]
    assert {k: rollout[k] for k in ("serial", "max_fail_percentage", "forks", "check", "limit", "reinstall",
                                    "installer")} == {"serial": "1,50%", "max_fail_percentage": 20, "forks": 3,
                                                      "check": True, "limit": "web*", "reinstall": True,
                                                      "installer": "dnf"}
    values = run_values(_run_args("--inventory", "inv.yml", "-p", "serial=1,50%", "-p", 'rpms=["el9.rpm"]'))
    assert values["serial"] == "1,50%" and values["rpms"] == ["el9.rpm"]


@pytest.mark.parametrize("extra", [["--serial", "2"], ["--check"], ["--max-fail-percentage", "0"], ["--limit", "a"],
                                   ["-p", "forks=2"]])
def test_a_rollout_option_without_an_inventory_is_refused_not_ignored(extra: list[str]) -> None:
    from qganb.cli.pipeline_commands import run_values

    with pytest.raises(UsageError, match=r"needs --inventory: without one, the run installs on one guest"):
        run_values(_run_args(*extra))
    assert run_values(_run_args())["inventory"] == ""
    assert _run_args().until_stage is None  # the route's last stage: verify, as before


def test_the_cli_refuses_an_inventory_that_is_not_there_before_making_a_run_directory(tmp_path) -> None:
    import subprocess
    import sys

    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "qganb", "run", "--recipe", "recipes/guest-get-uptime.yaml",
                           "--inventory", str(tmp_path / "nope.yml"), "--run", str(run)], capture_output=True,
                          text=True, cwd=notebook_of("fetch").parents[1])
    assert done.returncode == 1
    assert done.stderr.startswith(f"qganb: error: --inventory {tmp_path / 'nope.yml'}: no such file or directory")
    assert not run.exists()
