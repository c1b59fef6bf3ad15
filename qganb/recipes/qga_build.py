"""Builds only qemu-ga from a QEMU tree: configure once per tree, then incremental rebuilds.

The configure flags per QEMU version are the verified ones in FIELD-NOTES §1; the fixture specs
use the same table, so a validated recipe builds the same way rpmbuild will build it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from qganb.errors import CommandFailed, ConfigureFailed
from qganb.process import LineSink, require_tool, run
from qganb.recipes.qemu_tree import QemuTree
from qganb.rpm import build_host
from qganb.rpm.build_requires import configure_miss, explain_miss, host_family
from qganb.rpm.compiler_cache import compiler_cache_env

ONLY_QGA = [
    "--target-list=", "--disable-system", "--disable-user", "--disable-tools",
    "--enable-guest-agent", "--disable-docs", "--without-default-features", "--disable-install-blobs",
]


def configure_flags(version: tuple[int, int, int], python: str) -> list[str]:
    """Flags that configure a qemu-ga-only build of this QEMU version.

    `python` is used from 8.1, where configure finds meson through it (it must carry meson >= 1.5
    for 9.x/10.x), and before 5.2, whose configure runs the QAPI generator with it; the meson-based
    versions in between take Debian's meson with --meson=meson.
    """
    if version < (5, 2):
        # 2.12 .. 5.1 build the agent with make, as a target of its own: with tools or system
        # emulation on, configure wants pixman; without --disable-capstone make descends into the
        # bundled capstone, whose generated tables an upstream tarball may lack (FIELD-NOTES §1).
        # Its configure runs `python` unless told: name the interpreter (3.x works from 2.12 on).
        return ["--target-list=", "--disable-system", "--disable-user", "--disable-tools", "--enable-guest-agent",
                "--disable-docs", "--disable-werror", "--disable-capstone", f"--python={python}"]
    if version < (6, 0):
        # 5.2 builds the agent only with tools enabled; dfsg tarballs drop the bundled meson.
        return ["--meson=meson", "--enable-tools", "--disable-system", "--disable-user",
                "--enable-guest-agent", "--disable-docs", "--disable-werror", "--disable-blobs"]
    if version < (8, 1):
        return ["--meson=meson", *ONLY_QGA]
    return [f"--python={python}", *ONLY_QGA]


def uses_meson(version: tuple[int, int, int]) -> bool:
    return version >= (5, 2)


@dataclass(frozen=True)
class BuildResult:
    binary: Path
    log_path: Path
    warnings: list[str]
    compiled: list[str]  # the C files this build compiled: after a recipe edit, only the edited ones


# make's quiet rule lines ("  CC      qga/commands-posix.o") and ninja's ("[2/5] Compiling C object
# qga/qemu-ga.p/commands-posix.c.o"), reduced to the C file.
_COMPILED_LINE = re.compile(r"^\s*(?:CC\s+(?P<make>\S+)\.o|\[\d+/\d+\] Compiling C object (?P<ninja>\S+)\.c\.o)\s*$")


def compiled_files(output: str) -> list[str]:
    found = []
    for line in output.splitlines():
        m = _COMPILED_LINE.match(line)
        if m and m.group("make"):
            found.append(m.group("make") + ".c")
        elif m and m.group("ninja"):
            directory, _, name = m.group("ninja").rpartition("/")
            found.append(f"{directory.split('.p', 1)[0].rsplit('/', 1)[0]}/{name}.c" if directory else name + ".c")
    return found


_COMPILER_LINE = re.compile(r"^(?:\.\./)*(?P<path>(?:[\w.+-]+/)*[\w.+-]+\.[ch]):(?P<line>\d+):(?:\d+:)? (?P<kind>error|warning): (?P<msg>.*)$")


def compiler_messages(output: str, kind: str | None = None) -> list[tuple[str, int, str, str]]:
    """(path, line, kind, message) for each gcc diagnostic in a build log."""
    found = []
    for line in output.splitlines():
        m = _COMPILER_LINE.match(line.strip())
        if m and (kind is None or m.group("kind") == kind):
            found.append((m.group("path"), int(m.group("line")), m.group("kind"), m.group("msg")))
    return found


def missing_blobs(tree: Path) -> list[str]:
    """Firmware files pc-bios/meson.build lists but a dfsg tarball lacks (5.2 checks them)."""
    build_file = tree / "pc-bios" / "meson.build"
    if not build_file.is_file():
        return []
    match = re.search(r"blobs\s*=\s*files\((.*?)\)", build_file.read_text(), re.S)
    if not match:
        return []
    return [n for n in re.findall(r"'([^']+)'", match.group(1)) if not (tree / "pc-bios" / n).exists()]


def configure_problem(tail: list[str]) -> list[str]:
    """The lines where configure says what stopped it: its `ERROR:` paragraph (both the shell
    configure of 2.12..5.1 and meson's), else the last lines."""
    for index in range(len(tail) - 1, -1, -1):
        if re.match(r"\s*(?:\S+:\d+:\d+: )?ERROR:", tail[index]):
            block = [tail[index].strip()]
            block += [line.strip() for line in tail[index + 1:index + 4] if line.strip()]
            return block
    return [line.strip() for line in tail[-5:] if line.strip()]


class QgaBuild:
    """A build directory for one tree; configure runs only when its inputs changed."""

    def __init__(self, tree: QemuTree, build_dir: Path) -> None:
        self.tree = tree
        self.build_dir = build_dir
        self.log_path = build_dir.parent / "build.log"
        self.configured_now = False  # configure ran in this object's life: the next build is a full one

    def _env(self, *, cached: bool = True) -> dict[str, str]:
        # Either way the compiler is the same `cc` (the masquerade directory only comes first on
        # PATH), so switching between the two never makes ninja rebuild anything.
        return compiler_cache_env(self.build_dir.parent) if cached else {}

    def _configure_argv(self) -> list[str]:
        if self.tree.version >= (8, 1):
            python = str(build_host.meson_python(self.log_path))
        else:
            python = shutil.which("python3") or "python3"
        return [str(self.tree.root / "configure"), *configure_flags(self.tree.version, python)]

    def _stamp(self, argv: list[str]) -> str:
        return hashlib.sha256(json.dumps([argv, str(self.tree.root)]).encode()).hexdigest()

    def configure(self, on_line: LineSink | None = None) -> bool:
        """Configure if needed; True when configure ran."""
        argv = self._configure_argv()
        stamp_file = self.build_dir / ".qganb-configured"
        if stamp_file.is_file() and stamp_file.read_text() == self._stamp(argv):
            return False
        for name in missing_blobs(self.tree.root):
            (self.tree.root / "pc-bios" / name).touch()
        if self.build_dir.exists():
            shutil.rmtree(self.build_dir)
        self.build_dir.mkdir(parents=True)
        try:
            run(argv, cwd=self.build_dir, env=self._env(), log_path=self.log_path, on_line=on_line)
        except CommandFailed as exc:
            miss = configure_miss("\n".join(exc.tail))
            # The package table is Debian's; elsewhere configure's own words are the advice.
            packages = explain_miss(miss, []).debian if miss is not None and host_family() == "debian" else ()
            raise ConfigureFailed(self.tree.version_text, configure_problem(exc.tail), exc, packages) from exc
        stamp_file.write_text(self._stamp(argv))
        self.configured_now = True
        return True

    def build(self, on_line: LineSink | None = None) -> BuildResult:
        """Configure when needed, then build qga/qemu-ga incrementally."""
        # ccache pays off on the full build after configure (a tree already built elsewhere hits);
        # an incremental build compiles just the edited file, always a miss, which ccache only slows.
        fresh = self.configure(on_line) or self.configured_now
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        if uses_meson(self.tree.version):
            require_tool("ninja", "ninja-build")
            argv = ["ninja", "-C", str(self.build_dir), "qga/qemu-ga"]
            binary = self.build_dir / "qga" / "qemu-ga"
        else:
            argv = ["make", "-C", str(self.build_dir), f"-j{os.cpu_count() or 2}", "qemu-ga"]
            binary = self.build_dir / "qemu-ga"
        try:
            run(argv, env=self._env(cached=fresh), log_path=self.log_path, on_line=on_line)
        finally:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                f.seek(start)
                self.last_output = f.read()
        return BuildResult(binary, self.log_path, [
            f"{p}:{n}: {m}" for p, n, _, m in compiler_messages(self.last_output, "warning")],
            compiled_files(self.last_output))


__all__ = ["BuildResult", "CommandFailed", "QgaBuild", "compiler_messages", "configure_flags", "missing_blobs"]
