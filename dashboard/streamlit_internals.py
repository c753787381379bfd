"""The one place that knows which Streamlit internals our run-time patches were read against
(``keras_session.keep_keras_session``, ``__main__.skip_repl_check``); Streamlit has no public setting for
either (``global.showWarningOnDirectExecution`` is read only after the REPL check has run).

A patch is applied only when the installed Streamlit is the release it was checked against *and* the
private function it works around still has the source that was read (a patch release can change it).
Otherwise the app works as Streamlit ships it, only slower, one warning says so, and
``tests/test_streamlit_internals.py`` fails, so an upgrade re-reads the patches instead of patching blind.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import logging

CHECKED_WITH = "1.67"  # Streamlit major.minor whose internals the patches were read against

# What each patch works around: (module, private function, sha256 of that function's source as read).
INTERNALS = {
    "the Keras session clean-up": ("streamlit.runtime.scriptrunner.script_runner", "_clean_problem_modules",
                                   "49d56731add163174c2f784c87d4aa3d759375b0af5b8a732bf916301ea2cce5"),
    "the REPL check": ("streamlit.delta_generator", "_maybe_print_use_warning",
                       "c4a560dc50411a1749880770e955f8b4de04115028f304a2bcb62a00182a6961"),
}

_log = logging.getLogger(__name__)


def installed_release() -> str:
    import streamlit

    return ".".join(streamlit.__version__.split(".")[:2])


def source_digest(module: str, function: str) -> str | None:
    """sha256 of the source of the top-level function ``function`` in Streamlit's file ``module`` as
    installed (read from the file, so a function a patch already replaced still shows Streamlit's own), or
    None when the module or the function is gone."""
    try:
        lines = inspect.getsource(importlib.import_module(module)).splitlines(keepends=True)
    except (ImportError, OSError, TypeError):
        return None
    starts = [i for i, line in enumerate(lines) if line.startswith(f"def {function}(")]
    if not starts:
        return None
    body = [lines[starts[0]]]
    for line in lines[starts[0] + 1:]:
        if line.strip() and not line[0].isspace() and not line.startswith(")"):
            break  # the next top-level statement
        body.append(line)
    return hashlib.sha256("".join(body).rstrip().encode()).hexdigest()


@functools.cache  # app.py asks on every script run: one answer, and at most one warning, per process
def may_patch(what: str) -> bool:
    """True when the installed Streamlit is the release, and its function the source, the patch of
    ``what`` (a key of :data:`INTERNALS`) was checked against."""
    module, function, digest = INTERNALS[what]
    if installed_release() != CHECKED_WITH:
        reason = f"Streamlit {installed_release()} is not {CHECKED_WITH}, which {what} was checked against"
    elif source_digest(module, function) != digest:
        reason = f"Streamlit's {module}.{function} is not the code {what} was checked against"
    else:
        return True
    _log.warning("%s: left as Streamlit ships it.", reason)
    return False
