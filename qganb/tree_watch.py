"""Tells a long-lived process (a notebook kernel) whether anything under a directory changed, so
what it derived from the directory (a listing, a copy) can be kept exactly as long as it is true.

One inotify watch per directory, set up top-down: a directory is watched before its entries are
read, so a change either shows in what is read or raises an event. Files with more than one link
and files bind-mounted into the tree get watches of their own, as a change made through another
path reaches only the file's own watch, not the directory's.

inotify sees every write, truncation, attribute change, creation, deletion and rename made through
this kernel. It cannot see writes through a shared mmap(2), nor changes that another machine makes
on a network file system: `watchable()` is False there, and callers keep nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
from collections.abc import Collection
from pathlib import Path

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
# Everything that changes a file's type, size, mtime, mode, link target or name. Reads are not
# watched: copying files out of a tree is no change to it.
CHANGES = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
           | IN_DELETE_SELF | IN_MOVE_SELF)

# statfs f_type of local file systems, whose every change passes through this kernel.
LOCAL_FILE_SYSTEMS = {
    0xEF53: "ext2/3/4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs", 0x794C7630: "overlayfs",
    0xF2F52010: "f2fs", 0x2FC12FC1: "zfs",
}


class _StatFs(ctypes.Structure):
    # struct statfs opens with f_type; the rest is only room for the kernel to write into.
    _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 120)]


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "inotify_init1") else None


_LIBC = _libc()


def _local(path: Path) -> bool:
    assert _LIBC is not None
    buf = _StatFs()
    if _LIBC.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        return False
    return (buf.f_type & 0xFFFFFFFF) in LOCAL_FILE_SYSTEMS


def watchable(path: Path) -> bool:
    """Whether inotify sees every change under `path`: Linux, with `path` and every mount below it on
    a local file system (a change made on an NFS or FUSE server raises no event here)."""
    if _LIBC is None:
        return False
    return _local(path) and all(_local(point) for point in _mount_points_under(path))


def _mount_points_under(root: Path) -> list[Path]:
    """Mount points below `root` (from /proc/self/mountinfo, whose paths escape blanks as octal)."""
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    prefix = str(root).rstrip("/") + "/"
    found = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
            if point.startswith(prefix):
                found.append(Path(point))
    return found


class TreeWatch:
    """Watches every directory of `root` but those named in `prune` (and what is under them).

    `changed()` is True from the first event on, for good: setting up a new watch is cheap next
    to what a stale result would cost, so a changed watch is replaced, never brought up to date.
    Raises OSError when inotify refuses (fs.inotify.max_user_watches or max_user_instances).
    """

    def __init__(self, root: Path, prune: Collection[str] = (".git",)) -> None:
        assert _LIBC is not None, "check watchable() first"
        self.root = root
        self._changed = False
        fd = _LIBC.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._fd = fd
        try:
            self._watch_tree(root, set(prune))
            for point in _mount_points_under(root):
                if not point.is_dir():
                    self._watch(point, directory=False)
        except BaseException:
            self.close()
            raise

    def _watch_tree(self, root: Path, prune: set[str]) -> None:
        pending = [str(root)]
        while pending:
            directory = pending.pop()
            # Watched before it is read: an entry made after the read raises an event.
            if not self._watch(Path(directory), directory=True):
                continue
            try:
                entries = os.scandir(directory)
            except (FileNotFoundError, NotADirectoryError):
                self._changed = True  # gone since its parent was read: the next use starts over
                continue
            with entries:
                for entry in entries:
                    if entry.name in prune:
                        continue
                    # A symlink is a name in its directory, whose watch sees it change; never followed.
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        try:
                            linked = entry.stat(follow_symlinks=False).st_nlink > 1
                        except FileNotFoundError:
                            self._changed = True  # gone since the directory was read (an editor's swap file)
                            continue
                        if linked:
                            self._watch(Path(entry.path), directory=False)

    def _watch(self, path: Path, *, directory: bool) -> bool:
        assert _LIBC is not None
        mask = CHANGES | IN_DONT_FOLLOW | (IN_ONLYDIR if directory else 0)
        if _LIBC.inotify_add_watch(self._fd, os.fsencode(path), mask) >= 0:
            return True
        err = ctypes.get_errno()
        if err in (errno.ENOENT, errno.ENOTDIR):
            self._changed = True  # removed or replaced while the watch was set up
            return False
        raise OSError(err, f"inotify_add_watch {path}: {os.strerror(err)}")

    def changed(self) -> bool:
        """True once anything under the tree changed since this watch was set up."""
        if self._changed or self._fd < 0:
            return True
        try:
            # Any event at all is a change (an overflowed queue included): nothing needs parsing.
            if os.read(self._fd, 65536):
                self._changed = True
        except BlockingIOError:
            pass
        return self._changed

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
