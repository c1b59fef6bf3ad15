"""The one stage table: name, notebook and record type of every stage, in pipeline order. The run
directory, the runner, the report, the CLI and the magics all read it.

A run takes one of two routes through it: to one guest (install, then verify), or to a fleet, where
the rollout takes the place of both. Both routes share fetch ... build."""

from __future__ import annotations

from dataclasses import dataclass

from qganb.errors import ParameterError
from qganb.stages.records import (
    BuildRecord,
    DiffRecord,
    EditRecord,
    FetchRecord,
    InstallRecord,
    PrepRecord,
    RolloutRecord,
    SpecRecord,
    StageRecord,
    VerifyRecord,
)


# The package room that holds a stage's module (`run(run_dir, ...) -> Record`) when it is not
# qganb.stages: the rollout drives qganb.fleet, which itself builds on the install and verify stages.
_HOMES = {RolloutRecord.STAGE: "fleet"}
# The stages of one route only; every other stage belongs to both.
GUEST_ONLY: tuple[str, ...] = (InstallRecord.STAGE, VerifyRecord.STAGE)
FLEET_ONLY: tuple[str, ...] = (RolloutRecord.STAGE,)


@dataclass(frozen=True)
class Stage:
    name: str
    number: int
    record: type[StageRecord]

    @property
    def notebook(self) -> str:
        """The stage notebook's file name in notebooks/ (and in a run's notebooks/)."""
        return f"{self.number:02d}-{self.name}.ipynb"

    @property
    def module(self) -> str:
        """The module whose `run(run_dir, ...)` is this stage."""
        return f"qganb.{_HOMES.get(self.name, 'stages')}.{self.name}"


_IN_ORDER: tuple[type[StageRecord], ...] = (FetchRecord, PrepRecord, EditRecord, DiffRecord, SpecRecord, BuildRecord,
                                            InstallRecord, VerifyRecord, RolloutRecord)
STAGES: tuple[Stage, ...] = tuple(Stage(record.STAGE, number, record) for number, record in enumerate(_IN_ORDER, 1))
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)


def route(*, fleet: bool) -> tuple[Stage, ...]:
    """The stages of one run, in order: fetch ... build, then install and verify on one guest, or
    (`fleet`) the rollout to an inventory instead."""
    left_out = GUEST_ONLY if fleet else FLEET_ONLY
    return tuple(s for s in STAGES if s.name not in left_out)


def stage_named(name: str) -> Stage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise ParameterError(f"{name!r} is not a stage", f"pick one of: {', '.join(STAGE_NAMES)}")


def stages_after(name: str) -> tuple[Stage, ...]:
    """The stages built on `name`'s result: those after it on a route that has it (a new build
    makes install, verify and rollout stale; a new install only verify)."""
    stage = stage_named(name)
    routes = [r for r in (route(fleet=False), route(fleet=True)) if stage in r]
    return tuple(s for s in STAGES[stage.number:] if any(s in r for r in routes))


def stage_before(name: str, *, fleet: bool) -> Stage | None:
    """The stage whose record `name` starts from on its route (None for the first)."""
    stages = route(fleet=fleet)
    index = stages.index(stage_named(name))
    return stages[index - 1] if index else None
