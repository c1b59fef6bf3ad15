"""rpm header queries, of a package file here or of an installed package on a guest: one NEVRA
type and one query format, so a package reads the same wherever it is asked about."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from qganb.errors import CommandFailed, RpmQueryFailed
from qganb.process import output_of

# One line per package, tab-separated. Source packages read as arch `src` (their ARCH tag holds
# the build host's arch). The conditionals are old rpm syntax: EL7's rpm 4.11 reads them too.
NEVRA_QUERY = "%{NAME}\t%|EPOCH?{%{EPOCH}}:{}|\t%{VERSION}\t%{RELEASE}\t%|SOURCEPACKAGE?{src}:{%{ARCH}}|\n"
# Tells two builds with one NEVRA apart (each fresh run makes `.qganb1`); rpm 4.11 has it too.
HEADER_DIGEST_QUERY = "%{SHA1HEADER}\n"

# What rpm allows in each field (and nothing that could climb out of a path, start an option or
# split a word): a NEVRA read from a guest ends up in file names and messages.
FIELD_PATTERNS = {
    "name": re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*"),
    "epoch": re.compile(r"[0-9]*"),
    "version": re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+~^]*"),
    "release": re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+~^]*"),
    "arch": re.compile(r"[A-Za-z0-9_]+"),
}


@dataclass(frozen=True, order=True)
class Nevra:
    name: str
    epoch: str | None
    version: str
    release: str
    arch: str

    @classmethod
    def parse_query(cls, line: str, origin: str = "the package file") -> Nevra:
        """One line of NEVRA_QUERY's output, each field checked against FIELD_PATTERNS."""
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 5:
            raise RpmQueryFailed(f"rpm answered {line.strip()!r} to a NEVRA query", f"check {origin}")
        for (field, pattern), value in zip(FIELD_PATTERNS.items(), fields):
            if not pattern.fullmatch(value):
                raise RpmQueryFailed(f"rpm answered a NEVRA whose {field} {value!r} is not valid; refused",
                                     f"check the package's header on {origin} (rpm -qi); qganb will not use it")
        name, epoch, version, release, arch = fields
        return cls(name, epoch or None, version, release, arch)

    @property
    def nevr(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{self.name}-{epoch}{self.version}-{self.release}"

    @property
    def is_source(self) -> bool:
        return self.arch == "src"

    def __str__(self) -> str:
        return f"{self.nevr}.{self.arch}"


def query_file(rpm: Path, query_format: str) -> str:
    """`rpm -qp --qf FORMAT` of a package file (signatures are checked by fetch, not here)."""
    try:
        return output_of(["rpm", "-qp", "--nosignature", "--qf", query_format, rpm])
    except CommandFailed as exc:
        raise RpmQueryFailed(f"rpm cannot read the header of {rpm}: {exc.tail[-1] if exc.tail else 'no message'}",
                             "check that the file is a complete RPM") from exc


def nevra_of(rpm: Path) -> Nevra:
    return Nevra.parse_query(query_file(rpm, NEVRA_QUERY))


def header_digest_of(rpm: Path) -> str:
    return query_file(rpm, HEADER_DIGEST_QUERY).strip()


def installed_query_argv(name: str, query_format: str = NEVRA_QUERY) -> list[str]:
    """The argv that asks a guest's rpm database about an installed package."""
    return ["rpm", "-q", "--qf", query_format, name]


def file_query_argv(path: str, query_format: str = NEVRA_QUERY) -> list[str]:
    """The argv that reads a package file's header on a guest."""
    return ["rpm", "-qp", "--nosignature", "--qf", query_format, path]
