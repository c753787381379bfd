"""A small, bounded, thread-safe cache of evaluation results, and the keys that make reuse safe.

A key names the model (its name and the file it was loaded from with the file's modification time
and size, so a retrained run never gets stale results), the dataset and split, and a fingerprint of
the item list (paths, labels, and each file's modification time and size). Entries are evicted
least-recently-used when there are too many or when together they hold too many predictions.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from core.data.splits import Item
from core.zoo import LoadedModel

T = TypeVar("T")


def model_identity(loaded: LoadedModel) -> tuple:
    """``(name, source, path, mtime_ns, size)``; a model with no file is identified by its object."""
    path = loaded.path
    if path is not None and path.is_file():
        stat = path.stat()
        return (loaded.name, loaded.source, str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return (loaded.name, loaded.source, f"object-{id(loaded.model)}", 0, 0)


def items_fingerprint(items: Sequence[Item], class_names: Sequence[str]) -> str:
    """SHA-256 over the class names and every item's path, label, modification time and size."""
    digest = hashlib.sha256()
    for name in class_names:
        digest.update(name.encode("utf-8", "surrogatepass") + b"\0")
    for item in items:
        try:
            stat = os.stat(item.path)
            mtime, size = stat.st_mtime_ns, stat.st_size
        except OSError:
            mtime, size = -1, -1
        digest.update(f"{os.fspath(item.path)}\0{int(item.label)}\0{mtime}\0{size}\n"
                      .encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class ResultCache:
    """LRU cache bounded by entry count and by total size (e.g. predictions held).

    :meth:`get_or_compute` computes a missing entry once even when several threads (sessions) ask
    for it at the same time; the others wait and share the result.
    """

    def __init__(self, max_entries: int = 8, max_size: int = 200_000) -> None:
        self.max_entries = max_entries
        self.max_size = max_size
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key][0]

    def put(self, key: Hashable, value: Any, size: int = 1) -> None:
        with self._lock:
            self._entries[key] = (value, size)
            self._entries.move_to_end(key)
            # Evict the oldest, but always keep the entry just stored, however large it is.
            while len(self._entries) > 1 and (
                len(self._entries) > self.max_entries
                or sum(s for _, s in self._entries.values()) > self.max_size
            ):
                self._entries.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], T], size: Callable[[T], int] = lambda _: 1) -> T:
        value = self.get(key)
        if value is not None:
            return value
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        try:
            with key_lock:
                value = self.get(key)  # another thread may have computed it while we waited
                if value is None:
                    value = compute()
                    self.put(key, value, size(value))
        finally:
            with self._lock:
                self._computing.pop(key, None)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
