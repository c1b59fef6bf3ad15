"""What the guest's qemu-ga configuration does to a command: read the service's ExecStart and its
EnvironmentFile (/etc/sysconfig/qemu-ga), expand the variables the way systemd does, and find the
exact line that blocks a command (BLACKLIST_RPC, BLOCK_RPCS, or an --allow-rpcs list without it).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

BLOCK_OPTIONS = ("--blacklist", "-b", "--block-rpcs")
ALLOW_OPTIONS = ("--allow-rpcs", "-a")
ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


@dataclass(frozen=True)
class ConfigLine:
    path: str
    number: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.number}: {self.text}"


@dataclass(frozen=True)
class Blocked:
    """A command the configuration disables, the line that does it and the line that would not."""

    command: str
    line: ConfigLine
    replacement: str | None  # None: the line is in the unit itself; a drop-in is the way to change it
    how: str  # "block list" or "allow list"

    def advice(self) -> str:
        if self.replacement is None:
            return (f"{self.command} is disabled by the {self.how} in {self.line}; override ExecStart in a drop-in "
                    "(`systemctl edit qemu-guest-agent`) to enable it")
        return (f"{self.command} is disabled by the {self.how} in {self.line}\n"
                f"    change it to: {self.replacement}\n"
                "    (or let qganb do it: install with --unblock)")


@dataclass
class AgentConfig:
    exec_start: ConfigLine | None
    environment_files: dict[str, str] = field(default_factory=dict)  # path -> content

    def variables(self) -> dict[str, tuple[str, ConfigLine]]:
        """Variables of the EnvironmentFiles (last one wins, as in systemd) and where each was set."""
        found: dict[str, tuple[str, ConfigLine]] = {}
        for path, content in self.environment_files.items():
            for number, text in enumerate(content.splitlines(), 1):
                match = ASSIGNMENT.match(text)
                if match and not text.lstrip().startswith("#"):
                    found[match[1]] = (_unquote(match[2]), ConfigLine(path, number, text))
        return found

    def agent_arguments(self) -> list[tuple[str, str, ConfigLine]]:
        """(option, value, line that set the value) for each block/allow option ExecStart passes."""
        if self.exec_start is None:
            return []
        variables = self.variables()
        result: list[tuple[str, str, ConfigLine]] = []
        for option, value in _options(_exec_words(self.exec_start.text)):
            if option == "$":
                # ${FILTER_RPC_ARGS}: a variable that holds options itself (EL9.4 and later).
                name = value.strip("${}")
                if name in variables:
                    text, origin = variables[name]
                    result += [(o, v, origin) for o, v in _options(shlex.split(text)) if o != "$"]
            else:
                expanded, origin = _expand(value, variables, self.exec_start)
                result.append((option, expanded, origin))
        return result

    def blocked(self, commands: list[str]) -> list[Blocked]:
        found: list[Blocked] = []
        arguments = self.agent_arguments()
        for command in commands:
            for option, value, origin in arguments:
                names = [n.strip() for n in value.split(",") if n.strip()]
                # Only EnvironmentFile lines get a replacement: unit files belong to the package.
                editable = origin.path in self.environment_files
                if option in BLOCK_OPTIONS and command in names:
                    found.append(Blocked(command, origin, _rewrite(origin, command, remove=True) if editable else None,
                                         "block list"))
                elif option in ALLOW_OPTIONS and command not in names:
                    found.append(Blocked(command, origin, _rewrite(origin, command, remove=False) if editable else None,
                                         "allow list"))
        return found

    def unblocked_files(self, blocked: list[Blocked]) -> dict[str, str]:
        """New content of each EnvironmentFile whose lines block commands; unit lines are not touched."""
        changed: dict[str, list[str]] = {}
        for item in blocked:
            if item.replacement is None:
                continue
            lines = changed.setdefault(item.line.path, self.environment_files[item.line.path].splitlines())
            current = lines[item.line.number - 1]
            lines[item.line.number - 1] = _rewrite(ConfigLine(item.line.path, item.line.number, current),
                                                   item.command, remove=item.how == "block list") or current
        return {path: "\n".join(lines) + "\n" for path, lines in changed.items()}


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _exec_words(line: str) -> list[str]:
    command = line.split("=", 1)[1].lstrip("-@+!:")
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _options(words: list[str]) -> list[tuple[str, str]]:
    """Block/allow options and their values in qemu-ga's argv; ("$", word) for a bare variable."""
    found: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        option, has_value, value = word.partition("=")
        if option in BLOCK_OPTIONS + ALLOW_OPTIONS:
            if not has_value and index + 1 < len(words):
                index += 1
                value = words[index]
            found.append((option, value))
        elif word.startswith("$"):
            found.append(("$", word))
        index += 1
    return found


def _expand(value: str, variables: dict[str, tuple[str, ConfigLine]], unit_line: ConfigLine) -> tuple[str, ConfigLine]:
    """Expand ${VAR}/$VAR in an option value; the origin is the variable's line when one was used."""
    origin = unit_line

    def substitute(match: re.Match[str]) -> str:
        nonlocal origin
        name = match[1] or match[2]
        if name in variables:
            origin = variables[name][1]
            return variables[name][0]
        return ""

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", substitute, value), origin


def _rewrite(line: ConfigLine, command: str, *, remove: bool) -> str | None:
    """The same line with `command` taken out of (or added to) its comma-separated list."""
    if not ASSIGNMENT.match(line.text):
        return None

    def edit(match: re.Match[str]) -> str:
        names = [n for n in match[0].split(",") if n]
        if remove:
            names = [n for n in names if n != command]
        elif command not in names:
            names.append(command)
        return ",".join(names)

    # The list is the run of command names (guest-..., separated by commas) in the value.
    lists = list(re.finditer(r"guest-[a-z0-9-]+(?:,guest-[a-z0-9-]+)*", line.text))
    if not lists:
        if remove:
            return None
        # An empty allow list such as --allow-rpcs= : put the command after the '='.
        return re.sub(r"(--allow-rpcs=|-a\s+)", lambda m: m[1] + command, line.text, count=1)
    target = lists[-1] if not remove else next(m for m in lists if command in m[0].split(","))
    return line.text[:target.start()] + edit(target) + line.text[target.end():]


def parse_unit(text: str) -> tuple[ConfigLine | None, list[str]]:
    """The effective ExecStart (continuation lines joined) and the EnvironmentFile paths of
    `systemctl cat` output, which prints each unit file and drop-in after a `# /path` line."""
    exec_start: ConfigLine | None = None
    files: list[str] = []
    path, header = "unit", 0
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        first = index
        line = lines[index]
        while line.endswith("\\") and index + 1 < len(lines):
            index += 1
            line = line[:-1] + " " + lines[index].strip()
        index += 1
        if line.startswith("# /"):
            path, header = line[2:].strip(), first + 1
            continue
        stripped = " ".join(line.split())
        if stripped.startswith("ExecStart="):
            # An empty ExecStart= in a drop-in resets the list.
            exec_start = None if stripped == "ExecStart=" else ConfigLine(path, first + 1 - header, stripped)
        elif stripped.startswith("EnvironmentFile="):
            files.append(stripped.split("=", 1)[1].strip().lstrip("-"))
    return exec_start, files
