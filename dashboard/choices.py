"""Keeping a select box's value valid when what it chooses from changes (another model, dataset, cell).

A stale value must be replaced by *assigning* the new default to the widget's key. Dropping the key
(``st.session_state.pop``) makes the script use the default while the browser, never told, keeps
showing the old choice: a page that says "circle" over digits.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

CHOSEN_FOR = "choices_chosen_for"  # {widget key: what its value was chosen for}


def keep_choice(key: str, options: Sequence, default, chosen_for: object = None) -> None:
    """Set widget ``key`` to ``default`` when its value is not one of ``options`` or was chosen for
    something else than ``chosen_for`` (e.g. another dataset). Call it before the widget."""
    memory: dict = st.session_state.setdefault(CHOSEN_FOR, {})
    if st.session_state.get(key) not in options or memory.get(key, chosen_for) != chosen_for:
        st.session_state[key] = default
    memory[key] = chosen_for
