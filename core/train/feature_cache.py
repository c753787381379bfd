"""Backbone features kept on disk, so a second run on the same data, model and augmentation skips them.

With a frozen backbone the head costs a fraction of a second and the features most of a run (measured
on 600 digits: 0.36 s of 71 s). The key is a digest of every image's bytes and label, the model (name,
and the model file's size and time for a run folder or a .keras file), the input size, the
augmentation settings, the number of views, the seed and the features' layout (``heads.layout``).
Entries are written atomically under ``GLASSWING_DATA/feature-cache`` and the oldest are removed
beyond :data:`MAX_BYTES`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import StorageError, atomic_path
from core.config import data_dir

CACHE_DIR = "feature-cache"
MAX_BYTES = 2 * 1024**3  # the folder's cap; least recently used entries go first
VERSION = 2  # bump when the features' meaning changes (2: the head's input layout is in the key, issue #17)


def cache_root() -> Path:
    return data_dir() / CACHE_DIR


def model_identity(model: str) -> str:
    """A zoo name as is; a model file or run folder with its file's size and modification time."""
    path = Path(str(model))
    target = path / "model.keras" if path.is_dir() else path
    if target.is_file():
        stat = target.stat()
        return f"{target.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return str(model)


def cache_key(items: Sequence[Any], model: str, input_size: Sequence[int], augment: str | None,
              views: int, seed: int, layout: str = "") -> str:
    """Digest of the images' bytes and labels and of everything else that decides their features."""
    digest = hashlib.sha256(json.dumps(
        {"version": VERSION, "model": model_identity(model), "size": list(input_size), "augment": augment,
         "views": int(views), "seed": int(seed) if views > 1 else None, "layout": layout}, sort_keys=True).encode())
    for item in items:
        digest.update(f"{int(item.label)}:".encode())
        with open(item.path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:40]


def load(key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached ``(features, labels)``, or None (absent or unreadable: then it is recomputed)."""
    path = cache_root() / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            found = data["features"], data["labels"]
        os.utime(path)  # recently used: pruned last
        return found
    except (OSError, KeyError, ValueError):
        return None


def store(key: str, features: np.ndarray, labels: np.ndarray, max_bytes: int = MAX_BYTES) -> None:
    """Write an entry atomically (best effort: a full or read-only disk only costs the speed-up)."""
    buffer = io.BytesIO()
    np.savez(buffer, features=features, labels=labels)
    if buffer.tell() > max_bytes:
        return
    try:
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        with atomic_path(root / f"{key}.npz") as tmp:
            Path(tmp).write_bytes(buffer.getvalue())
        prune(max_bytes)
    except (OSError, StorageError):
        return


def prune(max_bytes: int = MAX_BYTES) -> None:
    """Remove the least recently used entries until the folder holds at most ``max_bytes``."""
    entries = []
    for path in cache_root().glob("*.npz"):
        try:
            stat = path.stat()
        except OSError:
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
