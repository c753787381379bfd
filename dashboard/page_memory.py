"""What a person chose on each page, kept by the server for their session, so that a reload (a new
Streamlit session on the same session id, see ``state.init_session``) or coming back to a page shows the
same settings, the request they pressed for and its result, instead of the defaults.

Each page module lists the session-state entries that make up its state in ``REMEMBERED`` (widget keys,
the request a button asked for, a result kept in the session; a name ending in ``*`` is a prefix).
:mod:`dashboard.navigation` recalls them before the page runs and keeps them after it. Buttons and file
uploaders are never listed: Streamlit refuses to set their values. The memory is this process's, bounded,
and holds the session's own small values (the photos are kept on disk by :mod:`dashboard.photo_store`).
A value no longer valid when recalled (a run deleted since) is replaced by the widget's default, as
Streamlit does for a select box's stale value, or by the page's own check
(:func:`dashboard.choices.keep_choice`); one that a widget refuses (a slider's range shrank with another
model) makes the navigation forget the page's memory and run it again with its defaults. A page that fails
is not remembered as it failed.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterable, MutableMapping
from typing import Any

MAX_SESSIONS = 2_000  # sessions remembered, the least recently used forgotten first

_memory: OrderedDict[str, dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)


def recall(session_id: str, page: str, names: Iterable[str], session: MutableMapping[str, Any]) -> list[str]:
    """Put back into ``session`` the entries of ``page`` this session had, where it has none now; their
    names."""
    with _lock:
        kept = _memory.get(session_id, {}).get(page)
        if kept is None:
            return []
        _memory.move_to_end(session_id)
        values = {k: v for k, v in kept.items() if k not in session and _matches(k, names)}
    for name, value in values.items():
        session[name] = copy.deepcopy(value)  # two tabs of one session never share a mutable value
    return list(values)


def keep(session_id: str, page: str, names: Iterable[str], session: MutableMapping[str, Any]) -> None:
    """Remember ``page``'s entries of ``session`` as they are now (an entry dropped is forgotten too)."""
    names = tuple(names)
    values = {}
    for name in list(session.keys()):
        if _matches(name, names):
            try:
                values[name] = copy.deepcopy(session[name])
            except Exception:  # noqa: BLE001 - a value that cannot be copied is simply not remembered
                continue
    with _lock:
        _memory.setdefault(session_id, {})[page] = values
        _memory.move_to_end(session_id)
        while len(_memory) > MAX_SESSIONS:
            _memory.popitem(last=False)


def forget(session_id: str | None = None, page: str | None = None) -> None:
    """Forget one page of a session, one session's pages (its folder was swept), or every session's (tests)."""
    with _lock:
        if session_id is None:
            _memory.clear()
        elif page is None:
            _memory.pop(session_id, None)
        else:
            _memory.get(session_id, {}).pop(page, None)
