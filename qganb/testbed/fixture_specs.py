"""Writes the fixture spec and its extra sources in one of the real distro styles (FIELD-NOTES §4)."""

from __future__ import annotations

import re
from importlib import resources

from qganb.errors import UnknownSpecStyle
from qganb.recipes.qga_build import configure_flags
from qganb.testbed.catalog import STYLES, SpecStyle
from qganb.testbed.qemu_source import PatchInfo, PreparedSource

BLOCKED_BY_DEFAULT = (
    "guest-file-open,guest-file-close,guest-file-read,guest-file-write,"
    "guest-file-seek,guest-file-flush,guest-exec,guest-exec-status"
)


# The QEMU version each series' fixture is built from, for the shared configure table.
SERIES_VERSION = {"2.12": (2, 12, 0), "5.2": (5, 2, 0), "7.2": (7, 2, 0), "10.0": (10, 0, 0)}
MESON_MINIMUM = {"5.2": "0.55.0", "7.2": "0.61.3", "10.0": "1.5.0"}
# What CentOS 7's qemu-guest-agent spec (2.12.0-3.el7) declares, in its order (FIELD-NOTES §1):
# the build host must map these to its own packages (gperftools-devel for --enable-tcmalloc).
EL7_MAKE_BUILDREQUIRES = ("zlib-devel", "glib2-devel", "systemd", "systemd-devel", "python", "systemtap-sdt-devel",
                          "perl-podlators", "texinfo", "gperftools-devel")
_COMMON_FLAGS = ["--prefix=%{_prefix}", "--sysconfdir=%{_sysconfdir}", "--localstatedir=%{_localstatedir}"]


def uses_make(series: str) -> bool:
    """2.12 .. 5.1 build with configure + make, the rest with meson + ninja."""
    return SERIES_VERSION[series] < (5, 2, 0)


def check_style(name: str) -> SpecStyle:
    if name not in STYLES:
        raise UnknownSpecStyle(
            f"spec style {name!r} is unknown",
            f"choose one of {', '.join(STYLES)}",
        )
    return STYLES[name]


def _template(name: str) -> str:
    return resources.files("qganb.testbed").joinpath("templates", name).read_text(encoding="utf-8")


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = re.search(r"@[A-Z_]+@", text)
    if leftover:
        raise AssertionError(f"template placeholder {leftover.group()} was not filled")
    return text


def _patch_tags(style: SpecStyle, patches: tuple[PatchInfo, ...]) -> str:
    lines: list[str] = []
    for index, patch in enumerate(patches, start=1):
        if style.name == "el7":
            lines += [f"# For {patch.tracker}", f"Patch{patch.el7_number}: {patch.filename}"]
        elif style.name == "el9":
            lines += [f"# For {patch.tracker}", f"Patch{index:04d}: {patch.filename}"]
        else:
            lines.append(f"Patch: {patch.filename}")
    return "\n".join(lines) + "\n"


def _patch_lines(style: SpecStyle, patches: tuple[PatchInfo, ...]) -> str:
    if style.name != "el7":
        return ""
    return "\n".join(f"%patch{p.el7_number} -p1" for p in patches)


def _block_argument(style: SpecStyle, source: PreparedSource) -> str:
    if style.blocklist_variable == "FILTER_RPC_ARGS":
        return "$FILTER_RPC_ARGS"  # unbraced: systemd splits it into words
    prefer_old = style.name == "el7"
    if (prefer_old and source.has_blacklist_option) or not source.has_block_rpcs_option:
        return f"--blacklist=${{{style.blocklist_variable}}}"
    return f"--block-rpcs=${{{style.blocklist_variable}}}"


def _blocklist_assignment(style: SpecStyle, source: PreparedSource) -> str:
    if style.blocklist_variable == "FILTER_RPC_ARGS":
        option = "--block-rpcs" if source.has_block_rpcs_option else "--blacklist"
        return f'FILTER_RPC_ARGS="{option}={BLOCKED_BY_DEFAULT}"'
    return f"{style.blocklist_variable}={BLOCKED_BY_DEFAULT}"


def _el7_build(source: PreparedSource) -> dict[str, str]:
    """The el7 template's build system parts: CentOS 7's own make build for 2.12, meson after."""
    if uses_make(source.series):
        return {
            "BUILDREQUIRES": "%global have_tcmalloc 1\n\n" + "".join(
                f"BuildRequires: {name}\n" for name in EL7_MAKE_BUILDREQUIRES if name != "gperftools-devel")
            + "%if 0%{?have_tcmalloc}\nBuildRequires: gperftools-devel\n%endif\n",
            "BUILD_COMMAND": "make -C build %{?_smp_mflags} V=1 qemu-ga",
            "BINARY": "build/qemu-ga",
            "README": "README",
        }
    return {
        "BUILDREQUIRES": "".join(f"BuildRequires: {name}\n" for name in (
            "gcc", f"meson >= {MESON_MINIMUM[source.series]}", "ninja-build", "glib2-devel", "python3",
            "systemd-units")),
        "BUILD_COMMAND": "ninja -C build %{?_smp_mflags} qga/qemu-ga",
        "BINARY": "build/qga/qemu-ga",
        "README": "README.rst",
    }


def render_spec(style: SpecStyle, source: PreparedSource) -> str:
    if uses_make(source.series) and style.name != "el7":
        raise UnknownSpecStyle(f"QEMU {source.series} is packaged in the el7 style only (it is CentOS 7's QEMU)",
                               "use --style el7")
    # 8.1+ configure finds meson through --python: the build host defines %{__python3} to suit.
    flags = [*_COMMON_FLAGS, *configure_flags(SERIES_VERSION[source.series], "%{__python3}")]
    if uses_make(source.series):
        flags.append("%{?have_tcmalloc:--enable-tcmalloc}")
    text = _template(f"{style.name}.spec.in")
    values = {
        "VERSION": source.version,
        "PATCH_TAGS": _patch_tags(style, source.patches),
        "CONFIGURE_FLAGS": " \\\n".join(f"  {flag}" for flag in flags),
    }
    if style.name == "el7":
        values |= {"PATCH_LINES": _patch_lines(style, source.patches), **_el7_build(source)}
    else:
        text = text.replace("@PATCH_LINES@\n", "")
        values["MESON_BUILDREQUIRES"] = f"meson >= {MESON_MINIMUM[source.series]}"
    return _fill(text, values)


def render_sources(style: SpecStyle, source: PreparedSource) -> dict[str, bytes]:
    """The non-tarball, non-patch sources the spec lists, by file name."""
    files = {
        "qemu-guest-agent.service": _fill(_template("qemu-guest-agent.service.in"),
                                          {"BLOCK_ARGUMENT": _block_argument(style, source)}),
        "qemu-ga.sysconfig": _fill(_template("qemu-ga.sysconfig.in"),
                                   {"BLOCKLIST_ASSIGNMENT": _blocklist_assignment(style, source)}),
        "99-qemu-guest-agent.rules": _template("99-qemu-guest-agent.rules"),
    }
    if style.name == "el7":
        files["build_configure.sh"] = _template("build_configure.sh")
    return {name: text.encode() for name, text in files.items()}
