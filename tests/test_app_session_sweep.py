"""Idle sessions' upload folders are swept from every page (one sweep, in dashboard.state), never this one."""

from __future__ import annotations

import os
import time

from streamlit.testing.v1 import AppTest


def _page() -> None:
    from dashboard import state

    state.session_id()  # what app.py (and so every page) runs before the page itself
    (state.sessions.session_dir(state.session_id()) / "photo.png").write_bytes(b"x")


def test_a_page_run_removes_idle_sessions_folders_and_keeps_its_own(tmp_path, monkeypatch):
    from core.data import sessions
    from dashboard import state

    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path))
    for name in ("GLASSWING_CLASSROOM", "GLASSWING_SESSION_IDLE_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    state.classroom.clear()  # default classroom: idle sessions go after 120 minutes
    monkeypatch.setattr(state, "_last_sweep", [0.0])  # as in a fresh server process
    for sid, idle_minutes in (("idle-student", 180), ("recent-student", 30)):
        (sessions.session_dir(sid) / "upload.zip").write_bytes(b"x")
        stamp = time.time() - idle_minutes * 60
        os.utime(tmp_path / "sessions" / sid / ".last-used", (stamp, stamp))

    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception, at.exception
    left = sorted(p.name for p in (tmp_path / "sessions").iterdir())
    assert "idle-student" not in left and "recent-student" in left
    assert len(left) == 2  # and this session's own folder, just used
    state.classroom.clear()
