"""Keep Keras' global session alive across Streamlit script runs.

After every script run (every rerun, every fragment rerun, in every browser session) Streamlit calls
``keras.backend.clear_session()`` to free models a script may have built. Glasswing builds none per
run: models are loaded once per process and shared by all sessions. Clearing costs a full garbage
collection of a heap holding TensorFlow (about 0.3 s of CPU per run here, so twenty students opening
the page at once queued for half a minute), and it resets Keras' global state while other sessions'
threads may be using it. This replaces Streamlit's clean-up with its matplotlib half only.
"""

from __future__ import annotations

import sys


def _close_matplotlib_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:  # noqa: BLE001, S110 - as Streamlit does: a clean-up never crashes the app
            pass


def keep_keras_session() -> bool:
    """Install the replacement (idempotent). False when the installed Streamlit's clean-up is not the one
    this was checked against, or is gone (then Streamlit's own clean-up runs)."""
    from streamlit.runtime.scriptrunner import script_runner

    from dashboard.streamlit_internals import may_patch

    if getattr(script_runner, "_clean_problem_modules", None) is _close_matplotlib_figures:
        return True  # already installed (app.py asks on every run)
    if not may_patch("the Keras session clean-up"):  # checks the function is still Streamlit's, as read
        return False
    script_runner._clean_problem_modules = _close_matplotlib_figures
    return True
