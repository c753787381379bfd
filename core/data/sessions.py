"""Upload folders per browser session under ``data_dir()/sessions/<session id>/``, and their cleanup.

Each use of a session folder touches a marker file; :func:`cleanup_idle_sessions` removes folders
whose marker is older than a given age, so uploads do not outlive the tab that made them.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from core import config
from core.errors import ParameterError

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MARKER = ".last-used"


def sessions_root() -> Path:
    return config.data_dir() / "sessions"


def _checked(session_id: str) -> str:
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise ParameterError("session_id must be 1 to 64 letters, digits, '-' or '_'.")
    return session_id


def touch_session(session_id: str) -> None:
    """Mark the session as in use now (called by :func:`session_dir`)."""
    folder = sessions_root() / _checked(session_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).touch()


def session_dir(session_id: str, create: bool = True) -> Path:
    """The folder for one browser session's uploads (created and marked as used by default)."""
    folder = sessions_root() / _checked(session_id)
    if create:
        touch_session(session_id)
    return folder


def last_used(session_id: str) -> float | None:
    """Time (``time.time()`` scale) the session was last used, or None if it has no folder."""
    folder = sessions_root() / _checked(session_id)
    marker = folder / _MARKER
    if marker.is_file():
        return marker.stat().st_mtime
    return folder.stat().st_mtime if folder.is_dir() else None


def cleanup_session(session_id: str) -> bool:
    """Delete one session's folder; True if there was one."""
    folder = sessions_root() / _checked(session_id)
    if not folder.is_dir() or folder.is_symlink():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


def cleanup_idle_sessions(max_idle_seconds: float, now: float | None = None) -> list[str]:
    """Delete every session folder unused for more than ``max_idle_seconds``; returns their ids."""
    if max_idle_seconds < 0:
        raise ParameterError(f"max_idle_seconds must be 0 or more, got {max_idle_seconds}.")
    root = sessions_root()
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.is_symlink() or not _SESSION_ID.match(folder.name):
            continue
        used = last_used(folder.name)
        if used is not None and now - used > max_idle_seconds and cleanup_session(folder.name):
            removed.append(folder.name)
    return removed
