"""`qganb run` checks parameters against the real notebooks' parameters cells before running anything."""

from __future__ import annotations

import pytest

from qganb.errors import ParameterError
from qganb.notebook.runner import declared_parameters, notebook_of, plan_run
from qganb.stages.table import STAGE_NAMES as STAGES

VALUES = {"run_dir": "runs/x", "srpm": "", "sha256": "", "recipes": ["r.yaml"], "changelog": "", "guest": "",
          "domain": "", "connect": "qemu:///system", "identity": "", "known_hosts": "", "installer": "auto",
          "flags": [], "unblock": False, "insecure": False,
          "install_builddeps": False}


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
