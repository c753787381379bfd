"""Reading a small settings file a person names (a training config, augmentation settings, run.json).

Such a path may be anything: ``/dev/zero``, a FIFO that never ends, a 10 GB log. The file is checked to
be a regular file and read only up to a cap, so a wrong path costs one sentence, not the memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.errors import ParameterError


def read_small_text(path: str | os.PathLike, max_bytes: int, what: str) -> str:
    """The text of ``path`` (UTF-8), refused with a :class:`ParameterError` starting with ``what`` when it
    is missing, not a regular file, larger than ``max_bytes`` or not text."""
    path = Path(path)
    try:
        path = path.expanduser()
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise ParameterError(f"{what}: {path} is a folder, not a file.")
        if not stat.S_ISREG(st.st_mode):
            raise ParameterError(f"{what}: {path} is a pipe, a device or a socket, not a file.")
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)  # a file may grow after stat: never read more than the cap
    except (OSError, RuntimeError) as exc:  # RuntimeError: "~nobody/x" names a user that does not exist
        shown = str(path) if len(str(path)) <= 80 else f"{str(path)[:60]}...({len(str(path))} characters)"
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ParameterError(f"{what}: cannot read {shown} ({reason.rstrip('.')}).") from None
    if len(data) > max_bytes:
        raise ParameterError(f"{what}: {path} is larger than {max_bytes:,} bytes, too large for a settings "
                             "file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterError(f"{what}: {path} is not a text file (not UTF-8).") from None
