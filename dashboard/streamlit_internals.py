"""The one place that knows which Streamlit release our run-time patches of its private internals were
checked against (``keras_session.keep_keras_session``, ``__main__.skip_repl_check``).

Under another release the patches are not applied (the app works as Streamlit ships, only slower), and
``tests/test_streamlit_internals.py`` fails, so an upgrade re-checks them instead of patching blind.
"""

from __future__ import annotations

import logging

CHECKED_WITH = "1.67"  # Streamlit major.minor whose internals the patches were read against

_log = logging.getLogger(__name__)


def installed_release() -> str:
    import streamlit

    return ".".join(streamlit.__version__.split(".")[:2])


def may_patch(what: str) -> bool:
    """True when the installed Streamlit is the release the patch of ``what`` was checked against."""
    if installed_release() == CHECKED_WITH:
        return True
    _log.warning("Streamlit %s is not %s, which %s was checked against: left as Streamlit ships it.",
                 installed_release(), CHECKED_WITH, what)
    return False
