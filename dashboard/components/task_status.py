"""A background task's progress on the page, followed until it is done (:mod:`dashboard.services.tasks`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

from core.errors import Message
from core.progress import Progress
from dashboard import state
from dashboard.i18n import N_, _
from dashboard.services import tasks

POLL_SECONDS = 1.0
LEAVE_NOTE = N_("You can look at other pages meanwhile: the work goes on, and its result is here when you come "
              "back.")


def wait_seconds() -> float:
    """How long a page waits for work before showing its progress instead (GLASSWING_TASK_WAIT_SECONDS)."""
    from core.config import env_number

    return env_number("GLASSWING_TASK_WAIT_SECONDS", 5.0, 0.0, 3600.0)


def run_in_background(key: Hashable, title: str | Message, work: Callable[[Progress], Any], start: bool = True,
                      wait: float | None = None, error_prefix: str = "") -> Any:
    """The result of ``work(progress)`` for ``key``; None (after its progress bar, or its error) until then.

    ``title`` says what the work is, best as a :class:`core.errors.Message` (each session that follows the
    task reads it in its own language), and ``work`` reports through :func:`core_words.relay` for the same
    reason. Work done within ``wait`` seconds (default :func:`wait_seconds`) is shown at once, without a bar.
    ``start`` False only shows a task already started (by this page earlier, another page or another
    session with the same inputs), for work that waits for a button. ``error_prefix`` names what failed
    before the error's sentence. The session is recorded as one that asked (:func:`last_key`).
    """
    task = tasks.start(key, title, work, owner=state.session_id()) if start else tasks.find(key)
    if task is None:
        return None
    task.wait(wait_seconds() if wait is None else wait)
    if task.error is not None:  # kept until the person asks again: a rerun never restarts failing work
        error = task.shown_error(_)
        st.error(_("{what}: {error}").format(what=error_prefix, error=error) if error_prefix else error)
        if st.button(_("Try again"), key="task_retry_" + hashlib.sha1(repr(key).encode()).hexdigest()[:12]):
            tasks.forget(key)
            st.rerun()
        return None
    if task.done:
        return task.result
    _follow(key)
    return None


def last_key(kind: str) -> Hashable | None:
    """The key of this session's last task of ``kind`` (still running or kept), so that a reloaded page
    (a new Streamlit session on the same session id) finds the work it had started."""
    task = tasks.latest(state.session_id(), kind)
    return None if task is None else task.key


@st.fragment(run_every=POLL_SECONDS)
def _follow(key: Hashable) -> None:
    """Redrawn every second on its own; the whole page reruns once the task is done, to show the result."""
    task = tasks.find(key)
    if task is None or task.done:
        st.rerun()
        return
    elapsed = f" · {_seconds(task)}" if _seconds(task) else ""
    line = _("{title}: {text}").format(title=task.shown_title(_), text=task.shown_text(_))
    st.progress(task.fraction, text=line + elapsed)
    st.caption(_(LEAVE_NOTE))


def _seconds(task: tasks.Task) -> str:
    seconds = time.monotonic() - task.started
    return f"{seconds:.0f} s" if seconds >= 2 else ""
