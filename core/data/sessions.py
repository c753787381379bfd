"""Upload folders per browser session under ``data_dir()/sessions/<session id>/``, and their cleanup.

Each use of a session folder touches a marker file; :func:`cleanup_idle_sessions` removes folders
whose marker is older than a given age, with the dataset versions the session made
(:mod:`core.data.versions`), so uploads do not outlive the tab that made them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import threading
import time
import uuid
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
    if removed:
        from core.data.versions import remove_versions_of

        for session_id in removed:  # the versions a session made go with its uploads (they hold its photos)
            remove_versions_of(session_id)
    return removed


# -- ids a browser may carry in its address --------------------------------------------------------------
# A session id in the address (``?session=...``) lets a reload find its uploads and jobs. Only ids this
# server issued are taken back: the address carries the id with an HMAC of it under a server secret, so
# nobody can hand a victim a link with an id they chose and later read what the victim uploads.
_SECRET_FILE = ".session-secret"
_secret_lock = threading.Lock()
_secret_cache: dict[str, bytes] = {}
_TOKEN = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})$")


def new_session_id() -> str:
    return uuid.uuid4().hex


def _server_secret() -> bytes:
    """GLASSWING_SESSION_SECRET, or a random secret kept (0600) in the data folder, shared by every
    process (and replica) that uses that folder."""
    configured = os.environ.get("GLASSWING_SESSION_SECRET", "")
    if configured:
        if len(configured) < 16:
            raise ParameterError("GLASSWING_SESSION_SECRET must be at least 16 characters; unset it to let "
                                 "Glasswing make one.")
        return configured.encode("utf-8")
    path = config.data_dir() / _SECRET_FILE
    with _secret_lock:
        if str(path) in _secret_cache:
            return _secret_cache[str(path)]
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of two processes starting at once, one writes and both read the same secret
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        for _ in range(50):  # the writer may not have finished its one write yet
            value = path.read_text(encoding="ascii").strip()
            if len(value) == 64:
                break
            time.sleep(0.01)
        else:
            raise ParameterError(f"{path} does not hold a session secret; delete it and restart the server.")
        _secret_cache[str(path)] = value.encode("ascii")
        return _secret_cache[str(path)]


def _signature(session_id: str) -> str:
    return hmac.new(_server_secret(), session_id.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def session_token(session_id: str) -> str:
    """What the address carries for ``session_id``: the id and its signature."""
    return f"{session_id}.{_signature(session_id)}"


def session_from_token(token: str) -> str | None:
    """The session id an address token stands for, or None for anything this server did not issue."""
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    sid, signature = match.groups()
    return sid if hmac.compare_digest(signature, _signature(sid)) else None

