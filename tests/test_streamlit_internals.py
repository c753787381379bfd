"""The dashboard patches two private parts of Streamlit at run time; each is tied to the release and to the
source of the private function it was checked against, so upgrading Streamlit fails here until the patches
are re-read."""

from __future__ import annotations

import logging

import pytest
import streamlit

from dashboard import streamlit_internals


@pytest.fixture
def fresh_answers():
    """may_patch remembers its answer per process; these tests ask again, and leave no answer behind."""
    streamlit_internals.may_patch.cache_clear()
    yield
    streamlit_internals.may_patch.cache_clear()


def test_the_installed_streamlit_is_the_release_the_patches_were_checked_against():
    assert streamlit_internals.installed_release() == streamlit_internals.CHECKED_WITH, (
        f"Streamlit {streamlit.__version__} is installed: re-read dashboard/keras_session.py and "
        "dashboard/__main__.py skip_repl_check against it, then update CHECKED_WITH.")


@pytest.mark.parametrize("what", sorted(streamlit_internals.INTERNALS))
def test_the_private_functions_are_the_code_the_patches_were_read_against(what):
    module, function, digest = streamlit_internals.INTERNALS[what]
    assert streamlit_internals.source_digest(module, function) == digest, (
        f"Streamlit changed {module}.{function}: re-read the patch of {what} against it, then update "
        "its digest in dashboard/streamlit_internals.INTERNALS.")


def test_both_private_hooks_exist_and_are_patched(fresh_answers):
    from streamlit import delta_generator
    from streamlit.runtime.scriptrunner import script_runner

    from dashboard.__main__ import skip_repl_check
    from dashboard.keras_session import _close_matplotlib_figures, keep_keras_session

    assert hasattr(script_runner, "_clean_problem_modules")
    assert hasattr(delta_generator, "_use_warning_has_been_displayed")
    assert keep_keras_session() is True
    assert script_runner._clean_problem_modules is _close_matplotlib_figures
    script_runner._clean_problem_modules()  # runs, with or without matplotlib imported
    assert skip_repl_check() is True and delta_generator._use_warning_has_been_displayed is True


def test_under_another_release_nothing_is_patched(monkeypatch, caplog, fresh_answers):
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


def test_a_changed_private_function_is_not_patched_and_warns_once(monkeypatch, caplog, fresh_answers):
    from streamlit.runtime.scriptrunner import script_runner

    from dashboard.keras_session import keep_keras_session

    module, function, _ = streamlit_internals.INTERNALS["the Keras session clean-up"]
    monkeypatch.setitem(streamlit_internals.INTERNALS, "the Keras session clean-up", (module, function, "0" * 64))
    sentinel = object()
    monkeypatch.setattr(script_runner, "_clean_problem_modules", sentinel)
    with caplog.at_level(logging.WARNING, logger="dashboard.streamlit_internals"):
        assert keep_keras_session() is False
        assert keep_keras_session() is False  # app.py asks on every run: one warning, not one per run
    assert script_runner._clean_problem_modules is sentinel
    assert caplog.text.count("is not the code the Keras session clean-up was checked against") == 1
    assert streamlit_internals.source_digest(module, "no_such_function") is None
    assert streamlit_internals.source_digest("streamlit.no_such_module", function) is None
