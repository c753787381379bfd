"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import GlasswingError


class StorageError(GlasswingError):
    """A file could not be written (a full disk, a quota, a read-only or vanished folder)."""


_REASONS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EROFS: "the disk is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied", errno.EFBIG: "the file is larger than this system allows"}


def storage_error(target: str | os.PathLike, exc: OSError) -> StorageError:
    """One sentence for a failed write of ``target``: which file, where, and why."""
    reason = _REASONS.get(exc.errno or -1) or (exc.strerror or str(exc) or type(exc).__name__).lower()
    target = Path(target)
    return StorageError(f"Could not save {target.name} in {target.parent}: {reason}.")


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched. A failed write (``OSError``
    from the writer or from saving, e.g. a full disk) becomes a :class:`StorageError` naming the file.
    ``suffix`` defaults to the target's suffix so that writers that infer the format from the name
    (Keras, PIL) still work.
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
            dir=target.parent,
        )
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; exports and models are meant to be read by others
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        raise storage_error(target, exc) from exc
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
