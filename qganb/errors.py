"""Every exception qganb raises, in one module: each says what failed and what to do about it.

The tree follows the package layout: tools and commands, recipes and trees, RPM work, the agent
seam, the guest over SSH, the stages and the runner, the testbed. Catch `QganbError` for all of
them; `str()` is one line (problem; fix) and `details()` adds what a terminal or notebook should
show below it (a command's log tail, a guest's install log), or "" when there is nothing more.
"""

from __future__ import annotations

import shlex
from pathlib import Path


class QganbError(Exception):
    """Root of qganb's errors. `str()` is a single line: the problem, then the fix."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.problem}; {self.fix}" if self.fix else self.problem

    def details(self) -> str:
        """More lines for display below the message; empty when the message says it all."""
        return ""


def _tail_lines(title: str, tail: list[str]) -> list[str]:
    return [f"{title.format(n=len(tail))}", *(f"  {line}" for line in tail)]


# --- running tools -------------------------------------------------------------------------------

class CommandFailed(QganbError):
    """An external command exited non-zero. Keeps the argv, the exit status and the log tail."""

    def __init__(self, argv: list[str], returncode: int, tail: list[str], log_path: str | None = None,
                 fix: str | None = None) -> None:
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
        return "\n".join(lines + _tail_lines("last {n} lines:", self.tail))


class CommandTimedOut(QganbError):
    """An external command ran past its time limit and was stopped."""

    def __init__(self, argv: list[str], timeout: float, fix: str | None = None) -> None:
        self.argv = argv
        self.timeout = timeout
        super().__init__(f"`{argv[0]}` did not finish within {timeout:g} s and was stopped",
                         fix or "check what it waits for (network, a lock, a hung service), then run it again")

    def details(self) -> str:
        return f"command: {shlex.join(self.argv)}"


class ToolMissing(QganbError):
    """A system tool qganb drives is not installed."""


class UsageError(QganbError):
    """A command was given options that do not fit together, or a value it cannot use."""


# --- recipes and QEMU trees ----------------------------------------------------------------------

class RecipeError(QganbError):
    """A recipe is invalid, or cannot be applied to a tree. Names the file, line and field."""

    def __init__(self, path: object, line: int | None, field: str | None, problem: str, fix: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.what = problem
        where = self.path + (f":{line}" if line else "")
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {problem}", fix)


class RecipeProblems(RecipeError):
    """Several independent problems in one recipe, shown at once: the first is the message (file, line,
    field and fix as for one problem), `details()` and `problems` list them all."""

    def __init__(self, problems: list[RecipeError]) -> None:
        first = problems[0]
        self.problems = problems
        more = f" (and {len(problems) - 1} more, listed below)" if len(problems) > 1 else ""
        super().__init__(first.path, first.line, first.field, first.what + more, first.fix or "")

    def details(self) -> str:
        if len(self.problems) < 2:
            return ""
        return "\n".join([f"all {len(self.problems)} problems:"] + [f"  {p}" for p in self.problems])


class TreeError(QganbError):
    """A QEMU source tree is not what qganb expects (not prepped, unknown layout)."""


class ValidationFailed(QganbError):
    """A recipe applied, but a check (QAPI generator, build, verify case) failed."""


class ConfigureFailed(QganbError):
    """QEMU's configure stopped: the build host lacks something, the recipe is not involved."""

    def __init__(self, version: str, reason: list[str], failure: CommandFailed,
                 packages: tuple[str, ...] = ()) -> None:
        self.reason = reason
        self.failure = failure
        self.packages = packages
        install = (f"install {' '.join(packages)} (apt-get install -y --no-install-recommends {' '.join(packages)})"
                   if packages else "install what configure's ERROR above asks for")
        super().__init__(
            f"configure failed for QEMU {version}: " + " ".join(reason),
            f"{install} on this build host (`make setup` installs the ones qganb knows for every supported QEMU), "
            f"then run again; full log: {failure.log_path}")

    def details(self) -> str:
        return self.failure.details()


class BuildSystemFailed(QganbError):
    """make/ninja failed without a compiler error: the tree or the host, not the recipe's C."""

    def __init__(self, version: str, failure: CommandFailed) -> None:
        self.failure = failure
        last = next((line for line in reversed(failure.tail) if line.strip()), "no output")
        super().__init__(
            f"the build system stopped on QEMU {version} without a compiler error in any file: {last.strip()}",
            "this is not in the recipe's C: check the tree is complete and that the build tools named in the "
            f"log are installed; full log: {failure.log_path}")

    def details(self) -> str:
        return self.failure.details()


# --- RPM work: fetch, prep, diff, spec, build ----------------------------------------------------

class DownloadFailed(QganbError):
    """An http(s) download failed or was refused (a redirect that drops TLS)."""


class FetchError(QganbError):
    """The source RPM could not be fetched or is not a usable source RPM."""


class RpmQueryFailed(QganbError):
    """rpm could not read a package's header."""


class PrepError(QganbError):
    """The source RPM could not be prepped."""


class MissingBuildRequires(PrepError):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            "rpmbuild -bp stopped on missing BuildRequires: " + ", ".join(missing),
            "install them (--install-builddeps runs `dnf builddep`), or prep with nodeps (--nodeps): on "
            "Debian the rpm database knows none of the system's packages, so the check cannot pass there")


class DiffError(QganbError):
    """The edited tree cannot be turned into a patch."""


class SpecError(QganbError):
    """The spec cannot take the patch."""


class BuildFailed(QganbError):
    """rpmbuild failed; keeps the failed command for its log tail."""

    def __init__(self, failure: CommandFailed, problem: str, fix: str) -> None:
        self.failure = failure
        super().__init__(problem, fix)

    def details(self) -> str:
        return self.failure.details()


class MissingBuildDependency(BuildFailed):
    """The build's configure stopped on a dependency the host lacks. Names what configure said, the
    spec's BuildRequires entry for it and the package that provides it on this host."""

    def __init__(self, failure: CommandFailed, configure_said: str, spec_entry: str | None,
                 rpm_name: str | None, packages: list[str], install: list[str] | None) -> None:
        self.configure_said = configure_said
        self.spec_entry = spec_entry
        self.rpm_name = rpm_name
        self.packages = packages  # what provides it on this host (Debian packages, or the rpm name)
        self.install = install  # the argv that installs them
        entry = (f"the spec's BuildRequires: {spec_entry}" if spec_entry
                 else f"BuildRequires: {rpm_name}, which the spec does not declare" if rpm_name
                 else "no BuildRequires qganb knows provides it")
        problem = f"configure stopped on a missing build dependency ({entry}): {configure_said}"
        if packages and install:
            fix = (f"install {', '.join(packages)}: `{shlex.join(install)}` (or build with --install-builddeps), "
                   "then build again")
        else:
            fix = "install the package that provides it on this host, then build again"
        super().__init__(failure, problem, fix)


class BuildDepsNotInstallable(QganbError):
    """--install-builddeps could not install the missing BuildRequires."""


# --- the agent seam: virsh, a unix socket, a local qemu-ga ---------------------------------------

class AgentError(QganbError):
    """Talking to a qemu-ga instance failed."""


class AgentNotConnected(AgentError):
    """The agent does not answer: not connected, not running, closed the channel or timed out."""


class HypervisorUnreachable(AgentError):
    """libvirt does not answer at the URI."""


class AgentTimedOut(AgentNotConnected):
    """No answer within the time limit: the agent (or the path to it) is slow or hung."""

    def __init__(self, problem: str, fix: str, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(problem, fix)


class UnknownDomain(AgentError):
    """libvirt has no such domain."""


class AgentNotConfigured(AgentError):
    """The domain has no guest agent channel."""


class SandboxUnavailable(AgentError):
    """The sandbox that recipe C runs in on the build host cannot be set up."""


class AgentCommandError(AgentError):
    """The agent answered the command with an error object."""

    def __init__(self, command: str, error_class: str, desc: str, problem: str | None = None,
                 fix: str | None = None) -> None:
        self.command = command
        self.error_class = error_class
        self.desc = desc
        super().__init__(problem or f"{command} failed in the agent: {error_class}: {desc}", fix)


class CommandNotFound(AgentCommandError):
    """The running agent does not know the command (an old binary, or not built in)."""


class CommandDisabled(AgentCommandError):
    """The agent knows the command but its configuration blocks it."""


# --- the guest over SSH --------------------------------------------------------------------------

class SshError(QganbError):
    """The SSH connection to the guest failed; nothing was run there."""


class HostUnreachable(SshError):
    pass


class HostKeyRejected(SshError):
    pass


class AuthenticationFailed(SshError):
    pass


class ConnectionLost(SshError):
    pass


class SudoUnavailable(SshError):
    pass


class SshCommandFailed(SshError):
    """A command on the guest exited non-zero."""

    def __init__(self, target: object, argv: list[str], returncode: int, output: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.tail = output.strip().splitlines()[-10:]
        super().__init__(f"`{shlex.join(argv)}` on {target} exited with status {returncode}: "
                         + (self.tail[-1] if self.tail else "no output"))

    def details(self) -> str:
        return "\n".join([f"command: {shlex.join(self.argv)}", f"exit status: {self.returncode}",
                          *_tail_lines("last {n} lines:", self.tail)])


# --- stages: the run directory, install, verify --------------------------------------------------

class StageMissing(QganbError):
    """A stage needs the result of an earlier one that has not run (or was recorded by another
    version of qganb)."""


class InstallError(QganbError):
    """The install could not start or finish; the guest is as it was unless the message says otherwise."""


class PreviousPackageUnavailable(InstallError):
    pass


class DowngradeRefused(InstallError):
    """The guest runs a newer package than the one to install."""


class InstallLocked(InstallError):
    """Another install transaction holds the guest's lock."""


class InstallOutcomeUnknown(InstallError):
    """The transaction outlived the wait: it goes on on the guest, unchecked by libvirt so far."""


class NothingToResume(InstallError):
    """`--resume` found no unfinished install."""


class InstallRolledBack(InstallError):
    """The new package failed; the previous one is back and its agent answers."""

    def __init__(self, problem: str, fix: str, log_tail: list[str]) -> None:
        self.tail = log_tail
        super().__init__(problem, fix)

    def details(self) -> str:
        return "\n".join(_tail_lines("last {n} lines of the guest's install log:", self.tail))


class RollbackFailed(InstallRolledBack):
    """Even the previous package could not be brought back: the operator must act."""


class VerifyError(QganbError):
    """The guest's agent does not run what the run built."""


class VersionMismatch(VerifyError):
    pass


# --- the notebook runner -------------------------------------------------------------------------

class RunnerError(QganbError):
    pass


class ParameterError(RunnerError):
    pass


class StageFailed(RunnerError):
    """A stage notebook failed in a cell; keeps the cell's error and the end of the stage's output."""

    def __init__(self, stage: str, notebook: Path, cell: int | None, ename: str, evalue: str,
                 tail: list[str], run_dir: Path, resume: list[str] | None = None) -> None:
        self.stage = stage
        self.notebook = notebook
        self.cell = cell
        self.tail = tail
        where = f" in cell {cell}" if cell is not None else ""
        again = shlex.join(["qganb", "run", "--run", str(run_dir), "--from", stage, *(resume or [])])
        super().__init__(f"stage {stage} failed{where}: {ename}: {evalue}",
                         f"see {notebook}; fix the cause, then resume with `{again}`")

    def details(self) -> str:
        return "\n".join([f"notebook: {self.notebook}", *_tail_lines("last {n} lines of its output:", self.tail)])


# --- the testbed ---------------------------------------------------------------------------------

class RolloutError(QganbError):
    """A fleet rollout could not start or finish: its inventory, its builds, Ansible itself."""


class RolloutIncomplete(RolloutError):
    """The rollout ran, but not every host ended with the build installed (or unchanged) and verified."""


class FixtureError(QganbError):
    """A testbed fixture (QEMU source, src.rpm) could not be produced."""


class UnknownQemuVersion(FixtureError):
    pass


class UnknownSpecStyle(FixtureError):
    pass


class SourceDownloadFailed(FixtureError):
    pass


class SourceMissing(FixtureError):
    """A fixture's QEMU source is neither cached nor reachable where the user pointed."""


class FixtureBuildFailed(FixtureError):
    pass


class LibvirtUnavailable(QganbError):
    """libvirtd does not answer on this host."""


class TestbedError(QganbError):
    """The local test guest could not be built or started."""
