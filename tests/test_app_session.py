"""A browser session's id: random, kept in the address so a reload finds its uploads and jobs, but not on a
classroom server where a shared address would merge students' sessions."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def _app() -> AppTest:
    # The first run in a worker imports the dashboard (and TensorFlow): far more than AppTest's default 3 s
    # on a loaded CI machine.
    return AppTest.from_function(_script, default_timeout=60)


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
    first, second = _app(), _app()
    first.run()
    second.run()
    sid = first.session_state["session_id"]
    assert len(sid) == 32 and sid != second.session_state["session_id"]
    assert first.query_params["session"].split(".")[0] == sid
    first.run()  # reruns keep it
    assert first.session_state["session_id"] == sid


def test_a_reload_with_the_address_keeps_the_session(fresh_classroom):
    first = _app()
    first.run()
    sid, token = first.session_state["session_id"], first.query_params["session"]
    assert token.startswith(f"{sid}.")  # the id, signed by the server
    reload = _app()
    reload.query_params["session"] = token
    reload.run()
    assert reload.session_state["session_id"] == sid


def test_an_id_the_server_did_not_issue_gets_a_fresh_session(fresh_classroom):
    """Session fixation: a link with an id someone chose (bare, or with a forged signature) is not taken."""
    from core.data.sessions import session_token

    victim = _app()
    chosen = "ab" * 16
    for value in (chosen, f"{chosen}.{'0' * 32}", f"{chosen}.{session_token('cd' * 16)[33:]}"):
        victim.query_params["session"] = value
        victim.run()
        assert victim.session_state["session_id"] != chosen
        del victim.session_state["session_id"]


@pytest.mark.parametrize("value", ["../../etc", "AB" * 16, "ab" * 15, "ab" * 16 + "/x", "ab" * 16 + ".x"])
def test_a_malformed_id_in_the_address_is_replaced(fresh_classroom, value):
    at = _app()
    at.query_params["session"] = value
    at.run()
    sid = at.session_state["session_id"]
    assert sid != value and len(sid) == 32 and at.query_params["session"].startswith(f"{sid}.")


def test_a_classroom_server_never_takes_the_session_from_the_address(fresh_classroom):
    from dashboard import state

    fresh_classroom.setenv("GLASSWING_READ_ONLY", "1")
    state.classroom.clear()
    at = _app()
    at.query_params["session"] = "ab" * 16
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["session_id"] != "ab" * 16


def test_the_secret_is_shared_by_processes_on_one_data_folder_and_kept_private(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path))
    monkeypatch.delenv("GLASSWING_SESSION_SECRET", raising=False)
    code = "from core.data.sessions import session_token; print(session_token('ab' * 16))"
    tokens = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=os.environ).stdout.strip() for _ in range(2)}
    assert len(tokens) == 1  # a restarted server (or a second replica) takes the same signed addresses
    assert oct((tmp_path / ".session-secret").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("GLASSWING_SESSION_SECRET", "x" * 20)
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=os.environ).stdout.strip()
    assert other not in tokens


def test_a_classroom_typo_is_one_sentence_on_every_page(tmp_path, monkeypatch):
    """The teacher's file is read before the session starts (the session depends on it), so a mistake in
    it is named on every page instead of Streamlit's generic error."""
    from pathlib import Path

    from dashboard import state

    app = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
    bad = {"string for a number": 'max_epochs = "ten"\n', "unknown key": "max_epoch = 3\n",
           "invalid TOML": "max_epochs = = 3\n", "unknown model": 'models = ["nope"]\n'}
    for what, text in [*bad.items(), ("a folder", None), ("a device", "/dev/zero")]:
        path = tmp_path / f"room-{len(what)}.toml"
        if text is None:
            path.mkdir()
        elif text.startswith("/dev/"):
            path = Path(text)
        else:
            path.write_text(text)
        monkeypatch.setenv("GLASSWING_CLASSROOM", str(path))
        state.classroom.clear()
        at = AppTest.from_file(app, default_timeout=60).run()
        assert not at.exception, (what, at.exception)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("Classroom configuration:"), (what, errors)
    state.classroom.clear()


def _add_big_photos() -> None:
    import numpy as np
    import streamlit as st

    from dashboard import state

    for i in range(4):  # 4 x 96 MB: a session of phone photos
        state.add_image(f"big{i}", np.full((4096, 8192, 3), i, dtype=np.uint8))
    kept = st.session_state["images"]
    st.write(f"kept {[im.name for im in kept.values()]} {sum(im.pixels.nbytes for im in kept.values())}")


def test_a_sessions_photos_are_bounded_in_bytes(fresh_classroom):
    from dashboard.state import MAX_SESSION_IMAGE_BYTES

    at = AppTest.from_function(_add_big_photos, default_timeout=60).run()
    assert not at.exception, at.exception
    names, total = at.markdown[0].value.removeprefix("kept ").rsplit(" ", 1)
    assert names == "['big2', 'big3']"  # the oldest went first, the newest stayed
    assert int(total) <= MAX_SESSION_IMAGE_BYTES
