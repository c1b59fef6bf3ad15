"""The one stage table: name, notebook and record type of every stage, in pipeline order. The run
directory, the runner, the report, the CLI and the magics all read it."""

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
    SpecRecord,
    StageRecord,
    VerifyRecord,
)


@dataclass(frozen=True)
class Stage:
    name: str
    number: int
    record: type[StageRecord]

    @property
    def notebook(self) -> str:
        """The stage notebook's file name in notebooks/ (and in a run's notebooks/)."""
        return f"{self.number:02d}-{self.name}.ipynb"

_IN_ORDER: tuple[type[StageRecord], ...] = (FetchRecord, PrepRecord, EditRecord, DiffRecord, SpecRecord, BuildRecord,
                                            InstallRecord, VerifyRecord)
STAGES: tuple[Stage, ...] = tuple(Stage(record.STAGE, number, record) for number, record in enumerate(_IN_ORDER, 1))
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)


def stage_named(name: str) -> Stage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise ParameterError(f"{name!r} is not a stage", f"pick one of: {', '.join(STAGE_NAMES)}")


def stages_after(name: str) -> tuple[Stage, ...]:
    return STAGES[stage_named(name).number:]
