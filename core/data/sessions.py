"""Upload folders per browser session under ``data_dir()/sessions/<session id>/``, and their cleanup.

Each use of a session folder touches a marker file; :func:`cleanup_idle_sessions` removes folders
whose marker is older than a given age, so uploads do not outlive the tab that made them.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from core import config
from core.errors import ParameterError
from core.paths import child_folder, is_inside

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MARKER = ".last-used"


def sessions_root() -> Path:
    return config.data_dir() / "sessions"


def _checked(session_id: str) -> str:
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise ParameterError("session_id must be 1 to 64 letters, digits, '-' or '_'.")
    return session_id


def _folder(session_id: str) -> Path:
    """The session's folder; refused when it is a link (or leads) out of the sessions folder."""
    folder = sessions_root() / _checked(session_id)
    if os.path.lexists(folder):
        child_folder(sessions_root(), folder, "session")
    return folder


def touch_session(session_id: str) -> None:
    """Mark the session as in use now (called by :func:`session_dir`)."""
    folder = _folder(session_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).touch()


def session_dir(session_id: str, create: bool = True) -> Path:
    """The folder for one browser session's uploads (created and marked as used by default)."""
    folder = _folder(session_id)
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
    if not folder.is_dir() or not is_inside(folder, sessions_root()):
        return False  # a link, or anything else that is not a real session folder, is left alone
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
