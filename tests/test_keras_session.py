"""Streamlit must not clear Keras' shared session after each script run (dashboard.keras_session)."""

from __future__ import annotations

from pathlib import Path

import keras
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def test_script_runs_never_clear_the_keras_session(monkeypatch, lite0):
    from streamlit.runtime.scriptrunner import script_runner

    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: calls.append(a))
    # Streamlit's own clean-up, as it ships (in case an earlier test already replaced it in this process).
    monkeypatch.setattr(script_runner, "_clean_problem_modules", lambda: keras.backend.clear_session())
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.run()
    assert not at.exception, at.exception
    assert calls == [], "Streamlit's clean-up cleared Keras' session after a script run"


def test_the_served_config_turns_off_per_run_gc_and_the_file_watcher():
    """Both cost a served dashboard per rerun and per session (see bench/load_sessions.py's README entry)."""
    import tomllib

    config = tomllib.loads((Path(APP).parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    assert config["server"]["fileWatcherType"] == "none"
