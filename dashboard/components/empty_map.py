"""The one flag under any map that shows nothing: what an empty map means and what to try.

An all-zero (or constant) map drawn without a word reads as "the model looked nowhere", which it does not
show; core's :meth:`~core.explain.base.Explanation.empty_note_in` says what it does mean, in the method's
own terms, and every page that draws a map passes its explanations through :func:`flag_empty`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.explain.base import Explanation
from dashboard.i18n import _


def empty_note(explanation: Explanation) -> str | None:
    """The note in the session's language, None when the map shows something."""
    return explanation.empty_note_in(_)


def flag_empty(explanation: Explanation, where: Any = st) -> bool:
    """A warning under the map (in ``where``: ``st``, a column) when it is empty; whether it was."""
    note = empty_note(explanation)
    if note:
        where.warning(note)
    return note is not None
