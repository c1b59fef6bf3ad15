"""Turns a Debian orig tarball into what a distro spec expects: `qemu-<version>.tar.xz` plus patches.

The prepared source is cached under a key made of the orig tarball's sha256 and the definitions
used here, and is moved into place only when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from qganb import file_lock
from qganb.errors import CommandFailed, FixtureBuildFailed
from qganb.process import require_tool, run
from qganb.recipes.qga_build import missing_blobs
from qganb.testbed import downstream_patches
from qganb.testbed.debian_sources import OrigTarball

# Bump when the preparation below changes in a way that changes its output.
PREPARE_FORMAT = 2  # 2: repacked at xz -1


@dataclass(frozen=True)
class PatchInfo:
    filename: str
    subject: str
    tracker: str
    el7_number: int


@dataclass(frozen=True)
class PreparedSource:
    """A repacked tarball, its downstream patches, and facts read from the tree."""

    directory: Path
    version: str  # from the tree's VERSION file, e.g. 7.2.0
    series: str
    source_version: str
    orig_sha256: str
    has_blacklist_option: bool  # `--blacklist` (up to the 8.x series, later removed)
    has_block_rpcs_option: bool  # `--block-rpcs` (6.x/7.x on)
    placeholder_blobs: tuple[str, ...]
    patches: tuple[PatchInfo, ...]

    @property
    def tarball(self) -> Path:
        return self.directory / f"qemu-{self.version}.tar.xz"

    def patch_path(self, patch: PatchInfo) -> Path:
        return self.directory / "patches" / patch.filename

    @classmethod
    def load(cls, directory: Path) -> PreparedSource:
        data = json.loads((directory / "facts.json").read_text())
        data["patches"] = tuple(PatchInfo(**p) for p in data["patches"])
        data["placeholder_blobs"] = tuple(data["placeholder_blobs"])
        return cls(directory=directory, **data)


def preparation_key(orig: OrigTarball) -> str:
    material = f"{PREPARE_FORMAT}\n{orig.sha256}\n{downstream_patches.definitions_digest()}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _top_directory(extract_dir: Path, orig_name: str) -> Path:
    entries = [p for p in extract_dir.iterdir()]
    if len(entries) != 1 or not entries[0].is_dir():
        raise FixtureBuildFailed(
            f"{orig_name} does not unpack into a single directory",
            "delete it from qganb's cache (make clean-cache) and retry",
        )
    return entries[0]


def prepare(orig: OrigTarball, orig_path: Path, cache_root: Path) -> PreparedSource:
    """The prepared source for `orig`, built once and then read from the cache."""
    final = cache_root / f"qemu-{orig.series}-{preparation_key(orig)}"
    if (final / "facts.json").is_file():
        return PreparedSource.load(final)
    # One preparation per source at a time: it unpacks and may recompress 100+ MB, and a second
    # process asking meanwhile (a test worker, `make demo`'s background boot) reuses the first's.
    with file_lock.held(cache_root.parent / "locks" / f"{final.name}.lock"):  # beside the cache: no stray entry in it
        if (final / "facts.json").is_file():
            return PreparedSource.load(final)
        return _prepare(orig, orig_path, cache_root, final)


def _prepare(orig: OrigTarball, orig_path: Path, cache_root: Path, final: Path) -> PreparedSource:
    require_tool("tar", "tar")
    require_tool("xz", "xz-utils")
    cache_root.mkdir(parents=True, exist_ok=True)
    # The unpacked tree goes to the temporary directory (a tmpfs, where there is one, makes light work
    # of its 20 000 files); only the result is written into the cache, then moved into place.
    scratch = Path(tempfile.mkdtemp(prefix="qganb-prepare-"))
    staging_parent = Path(tempfile.mkdtemp(prefix=".prepare-", dir=cache_root))
    try:
        staging = staging_parent / "result"
        (staging / "patches").mkdir(parents=True)
        unpacked = scratch / "unpacked"
        unpacked.mkdir()
        try:
            run(["tar", "-xf", orig_path, "-C", unpacked], log_path=scratch / "tar.log")
        except CommandFailed as exc:
            raise FixtureBuildFailed(
                f"{orig_path.name} does not unpack: {exc.tail[-1] if exc.tail else exc}",
                "delete it from qganb's cache (make clean-cache) and retry",
            ) from exc
        top = _top_directory(unpacked, orig_path.name)
        version = (top / "VERSION").read_text().strip()
        main_c = (top / "qga" / "main.c").read_text(errors="replace")

        patch_files = downstream_patches.write_patches(top, scratch, staging / "patches")
        patches = tuple(
            PatchInfo(path.name, p.subject, p.tracker, p.el7_number)
            for path, p in zip(patch_files, downstream_patches.PATCHES, strict=True)
        )

        placeholders = missing_blobs(top)
        for name in placeholders:
            (top / "pc-bios" / name).touch()

        wanted_top = f"qemu-{version}"
        tarball = staging / f"{wanted_top}.tar.xz"
        if not placeholders and top.name == wanted_top and orig_path.name.endswith(".tar.xz"):
            # Already what a spec's %setup expects: reuse the bytes rather than recompress 100+ MB.
            shutil.copyfile(orig_path, tarball)
        else:
            if top.name != wanted_top:
                top = top.rename(top.with_name(wanted_top))
            _repack(top, tarball, scratch)

        source = PreparedSource(
            directory=final,
            version=version,
            series=orig.series,
            source_version=orig.source_version,
            orig_sha256=orig.sha256,
            has_blacklist_option='"blacklist"' in main_c,
            has_block_rpcs_option='"block-rpcs"' in main_c,
            placeholder_blobs=tuple(placeholders),
            patches=patches,
        )
        facts = asdict(source)
        del facts["directory"]
        (staging / "facts.json").write_text(json.dumps(facts, indent=2) + "\n")
        os.replace(staging, final)
        return source
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(staging_parent, ignore_errors=True)


def _repack(top: Path, tarball: Path, scratch: Path) -> None:
    """tar | xz with a fixed order, owner and mtime so equal trees give equal bytes."""
    plain = scratch / "repack.tar"
    run(
        ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=2026-01-01 00:00Z",
         "-cf", plain, "-C", top.parent, top.name],
        log_path=scratch / "tar.log",
    )
    # -1: a tenth of -6's CPU (5 s against 49 s for 5.2's 175 MB) for a quarter more bytes (24 MB
    # against 19 MB), and it unpacks about as fast.
    run(["xz", "-T0", "-1", "--keep", plain], log_path=scratch / "tar.log")
    shutil.move(plain.with_suffix(".tar.xz"), tarball)  # from the temporary directory: maybe another file system
