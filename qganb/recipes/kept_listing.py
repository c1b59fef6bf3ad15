"""Keeps a tree's listing in a long-lived process (a notebook kernel) while nothing changed the tree.

find(1) lists a QEMU tree's ~19 000 files in about 0.1 s, a tenth of an incremental build, on every
validate. A kernel that validates the same tree again and again watches it instead (qganb.tree_watch)
and lists it again only after a change. The watch is set up before the listing is taken, so no
change can fall between the two unseen.
"""

from __future__ import annotations

import errno

import os
import threading
from collections import OrderedDict
from pathlib import Path

from qganb.recipes.tree_mirror import TreeListing
from qganb.tree_watch import TreeWatch, watchable


class KeptListing:
    """A listing taken earlier, handed to mirror_tree in place of a new TreeListing."""

    def __init__(self, source: Path, raw: bytes) -> None:
        self.source = source
        self._raw = raw

    def raw(self) -> bytes:
        return self._raw


class KeptListings:
    """Per tree, a watch and the listing taken just after it was set up; at most `trees` trees,
    the least recently used dropped first."""

    def __init__(self, trees: int = 4) -> None:
        self.trees = trees
        self._kept: OrderedDict[Path, tuple[TreeWatch, bytes]] = OrderedDict()
        self._unwatchable: set[Path] = set()
        self._lock = threading.Lock()
        self.reused = 0  # listings answered from memory (the benchmark reports it)

    def listing(self, source: str | os.PathLike[str]) -> TreeListing | KeptListing:
        """The tree's listing: the kept one while its watch saw nothing, else a fresh one, kept
        when the tree can be watched."""
        root = Path(source).resolve()
        with self._lock:
            kept = self._kept.get(root)
            if kept is not None:
                watch, raw = kept
                if not watch.changed():
                    self._kept.move_to_end(root)
                    self.reused += 1
                    return KeptListing(root, raw)
                watch.close()
                del self._kept[root]
            if root in self._unwatchable or not watchable(root):
                return TreeListing(root)
            try:
                watch = TreeWatch(root)
            except OSError as exc:
                # Out of inotify watches or instances (fs.inotify.max_user_*): list on every run from now
                # on. Any other error (a race with a file being removed) only skips keeping it this time.
                if exc.errno in (errno.ENOSPC, errno.EMFILE):
                    self._unwatchable.add(root)
                return TreeListing(root)
            try:
                raw = TreeListing(root).raw()
            except BaseException:
                watch.close()
                raise
            self._kept[root] = (watch, raw)
            while len(self._kept) > self.trees:
                _, (old, _) = self._kept.popitem(last=False)
                old.close()
            return KeptListing(root, raw)

    def forget(self) -> None:
        with self._lock:
            for watch, _ in self._kept.values():
                watch.close()
            self._kept.clear()
