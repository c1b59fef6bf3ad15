"""The downstream patches every fixture spec carries, so a new patch always lands on top of others.

Each is a small, real change to qemu-ga, written as exact text edits. They are turned into
`git format-patch` files against the very tree they will be applied to, so they apply with fuzz 0
in every style (`patch -p1`, `%autopatch`, `git am`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from qganb.errors import FixtureBuildFailed


@dataclass(frozen=True)
class TextEdit:
    path: str
    old: str
    new: str


@dataclass(frozen=True)
class DownstreamPatch:
    subject: str
    body: str
    tracker: str  # what the el7 spec's `# For ...` comment cites
    el7_number: int  # el7 numbers leave gaps, as CentOS's do
    edits: tuple[TextEdit, ...]


AUTHOR_NAME = "qganb fixtures"
AUTHOR_EMAIL = "fixtures@qganb.invalid"
# Fixed dates make the commits, hence the patch files, byte-for-byte reproducible.
COMMIT_DATES = ("2026-03-02T10:00:00+00:00", "2026-05-18T10:00:00+00:00", "2026-10-12T10:00:00+00:00")

PATCHES: tuple[DownstreamPatch, ...] = (
    DownstreamPatch(
        subject="qga: say what a successful guest-ping means",
        body="The guest-ping documentation ran two sentences together. Say that a\n"
        "reply means the agent is running and reading its channel.",
        tracker="fixture#1 - guest-ping documentation is unclear",
        el7_number=1,
        edits=(
            TextEdit(
                "qga/qapi-schema.json",
                "# Ping the guest agent, a non-error return implies success\n",
                "# Ping the guest agent.  A non-error return means that the agent\n"
                "# is running and reading its channel.\n",
            ),
        ),
    ),
    DownstreamPatch(
        subject="qga: name the channel path when the channel cannot be opened",
        body="\"failed to create guest agent channel\" does not say which device\n"
        "was tried; print the path so a missing virtio-serial port is obvious.",
        tracker="fixture#2 - channel failure does not name the device",
        el7_number=2,
        edits=(
            TextEdit(
                "qga/main.c",
                '        g_critical("failed to create guest agent channel");\n',
                '        g_critical("failed to create guest agent channel on %s",\n'
                '                   path ? path : "(inherited socket)");\n',
            ),
        ),
    ),
    DownstreamPatch(
        subject="qga: log the signal that stops the agent",
        body="Report the signal number in words operators search logs for.",
        tracker="fixture#5 - shutdown reason missing from the log",
        el7_number=5,
        edits=(
            TextEdit(
                "qga/main.c",
                '    g_debug("received signal num %d, quitting", sig);\n',
                '    g_debug("received signal %d, shutting down", sig);\n',
            ),
        ),
    ),
)


def definitions_digest() -> str:
    """Changes whenever a patch definition changes, so cached trees are rebuilt."""
    return hashlib.sha256(repr((PATCHES, COMMIT_DATES, AUTHOR_NAME, AUTHOR_EMAIL)).encode()).hexdigest()


def _apply(edit: TextEdit, tree: Path, patch: DownstreamPatch) -> None:
    target = tree / edit.path
    text = target.read_text(encoding="utf-8")
    count = text.count(edit.old)
    if count != 1:
        raise FixtureBuildFailed(
            f"downstream patch {patch.subject!r}: expected its text once in {edit.path}, found it {count} times",
            "this QEMU version differs; adjust the TextEdit in qganb/testbed/downstream_patches.py",
        )
    target.write_text(text.replace(edit.old, edit.new), encoding="utf-8")


def write_patches(tree: Path, scratch: Path, out_dir: Path) -> list[Path]:
    """Create the patch files for `tree` (left unmodified) in `out_dir`; return them in order.

    Only the touched files are copied into a small git repository: the diff context comes from
    the real files, so the patches apply to the full tree.
    """
    import git  # imported here: the CLI imports this module at start-up, for its choices

    touched = sorted({e.path for p in PATCHES for e in p.edits})
    work = scratch / "patch-repo"
    for rel in touched:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes((tree / rel).read_bytes())
    repo = git.Repo.init(work)
    env = {
        "GIT_AUTHOR_NAME": AUTHOR_NAME,
        "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
        "GIT_COMMITTER_NAME": AUTHOR_NAME,
        "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    }
    with repo.git.custom_environment(**env):
        repo.git.add("--all")
        repo.git.commit("--quiet", "--no-verify", "-m", "pristine")
    for patch, date in zip(PATCHES, COMMIT_DATES, strict=True):
        for edit in patch.edits:
            _apply(edit, work, patch)
        with repo.git.custom_environment(**{**env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}):
            repo.git.add("--all")
            repo.git.commit("--quiet", "--no-verify", "-m", f"{patch.subject}\n\n{patch.body}")
    out_dir.mkdir(parents=True, exist_ok=True)
    names = repo.git.format_patch(
        "--no-signature", "--output-directory", str(out_dir), f"HEAD~{len(PATCHES)}"
    ).splitlines()
    return [Path(n) if Path(n).is_absolute() else work / n for n in names]
