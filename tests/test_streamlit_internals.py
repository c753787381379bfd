"""The dashboard patches two private parts of Streamlit at run time; each is tied to the release it was
checked against, so upgrading Streamlit fails here until the patches are re-read."""

from __future__ import annotations

import logging

import streamlit

from dashboard import streamlit_internals


def test_the_installed_streamlit_is_the_release_the_patches_were_checked_against():
    assert streamlit_internals.installed_release() == streamlit_internals.CHECKED_WITH, (
        f"Streamlit {streamlit.__version__} is installed: re-read dashboard/keras_session.py and "
        "dashboard/__main__.py skip_repl_check against it, then update CHECKED_WITH.")


def test_both_private_hooks_exist_and_are_patched():
    from streamlit import delta_generator
    from streamlit.runtime.scriptrunner import script_runner

    from dashboard.__main__ import skip_repl_check
    from dashboard.keras_session import keep_keras_session

    assert hasattr(script_runner, "_clean_problem_modules")
    assert hasattr(delta_generator, "_use_warning_has_been_displayed")
    assert keep_keras_session() is True
    assert skip_repl_check() is True and delta_generator._use_warning_has_been_displayed is True


def test_under_another_release_nothing_is_patched(monkeypatch, caplog):
    from streamlit.runtime.scriptrunner import script_runner

    from dashboard.__main__ import skip_repl_check
    from dashboard.keras_session import keep_keras_session

    monkeypatch.setattr(streamlit_internals, "CHECKED_WITH", "0.1")
    sentinel = object()
    monkeypatch.setattr(script_runner, "_clean_problem_modules", sentinel)
    with caplog.at_level(logging.WARNING, logger="dashboard.streamlit_internals"):
        assert keep_keras_session() is False
        assert skip_repl_check() is False
    assert script_runner._clean_problem_modules is sentinel
    assert "left as Streamlit ships it" in caplog.text
