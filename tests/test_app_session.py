"""A browser session's id: random, kept in the address so a reload finds its uploads and jobs, but not on a
classroom server where a shared address would merge students' sessions."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def _script() -> None:
    import streamlit as st

    from dashboard import state

    st.write(f"session {state.session_id()}")


@pytest.fixture
def fresh_classroom(monkeypatch):
    from dashboard import state

    for key in ("GLASSWING_CLASSROOM", "GLASSWING_READ_ONLY", "GLASSWING_MAX_EPOCHS"):
        monkeypatch.delenv(key, raising=False)
    state.classroom.clear()
    yield monkeypatch
    monkeypatch.undo()
    state.classroom.clear()


def test_a_new_session_gets_a_random_id_written_to_the_address(fresh_classroom):
    first, second = AppTest.from_function(_script), AppTest.from_function(_script)
    first.run()
    second.run()
    sid = first.session_state["session_id"]
    assert len(sid) == 32 and sid != second.session_state["session_id"]
    assert first.query_params["session"] == sid
    first.run()  # reruns keep it
    assert first.session_state["session_id"] == sid


def test_a_reload_with_the_address_keeps_the_session(fresh_classroom):
    at = AppTest.from_function(_script)
    at.query_params["session"] = "ab" * 16
    at.run()
    assert at.session_state["session_id"] == "ab" * 16


@pytest.mark.parametrize("value", ["../../etc", "AB" * 16, "ab" * 15, "ab" * 16 + "/x"])
def test_a_malformed_id_in_the_address_is_replaced(fresh_classroom, value):
    at = AppTest.from_function(_script)
    at.query_params["session"] = value
    at.run()
    sid = at.session_state["session_id"]
    assert sid != value and len(sid) == 32 and at.query_params["session"] == sid


def test_a_classroom_server_never_takes_the_session_from_the_address(fresh_classroom):
    from dashboard import state

    fresh_classroom.setenv("GLASSWING_READ_ONLY", "1")
    state.classroom.clear()
    at = AppTest.from_function(_script)
    at.query_params["session"] = "ab" * 16
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["session_id"] != "ab" * 16
