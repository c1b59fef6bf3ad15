"""The one exception hierarchy: every error says what failed and what to do about it."""

from __future__ import annotations


class QganbError(Exception):
    """Root of qganb's errors. `str()` is a single line: the problem, then the fix."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.problem}; {self.fix}" if self.fix else self.problem


class CommandFailed(QganbError):
    """An external command exited non-zero. Keeps the argv, the exit status and the log tail."""

    def __init__(
        self,
        argv: list[str],
        returncode: int,
        tail: list[str],
        log_path: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.argv = argv
        self.returncode = returncode
        self.tail = tail
        self.log_path = log_path
        where = f" (full log: {log_path})" if log_path else ""
        super().__init__(f"`{argv[0]}` exited with status {returncode}{where}", fix)

    def details(self) -> str:
        """The command, the exit status and the last lines of its output, for display."""
        lines = [f"command: {' '.join(self.argv)}", f"exit status: {self.returncode}"]
        if self.log_path:
            lines.append(f"log: {self.log_path}")
        lines.append(f"last {len(self.tail)} lines:")
        lines.extend(f"  {line}" for line in self.tail)
        return "\n".join(lines)


class ToolMissing(QganbError):
    """A system tool qganb drives is not installed."""


class FixtureError(QganbError):
    """A testbed fixture (QEMU source, src.rpm) could not be produced."""


class UnknownQemuVersion(FixtureError):
    pass


class UnknownSpecStyle(FixtureError):
    pass


class SourceDownloadFailed(FixtureError):
    pass


class FixtureBuildFailed(FixtureError):
    pass


class RecipeError(QganbError):
    """A recipe is invalid, or cannot be applied to a tree. Names the file, line and field."""

    def __init__(self, path: object, line: int | None, field: str | None, problem: str, fix: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        where = self.path + (f":{line}" if line else "")
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {problem}", fix)


class TreeError(QganbError):
    """A QEMU source tree is not what qganb expects (not prepped, unknown layout)."""


class ValidationFailed(QganbError):
    """A recipe applied, but a check (QAPI generator, build, verify case) failed."""


class AgentError(QganbError):
    """Talking to a qemu-ga instance failed."""


class AgentNotAnswering(AgentError):
    pass


class AgentCommandError(AgentError):
    """The agent answered a command with an error object."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        self.command = command
        self.error_class = error_class
        self.desc = desc
        super().__init__(f"{command} failed in the agent: {error_class}: {desc}")
