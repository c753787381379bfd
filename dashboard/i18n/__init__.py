"""The dashboard in the session's language: ``_("text")`` looks a message up in its gettext catalogue.

Catalogues live in ``locale/<code>/LC_MESSAGES/messages.po`` (Babel: ``make i18n-extract`` collects the
messages of ``core/`` and ``dashboard/``, ``make i18n-compile`` builds the ``.mo`` files that ``make run``
and ``make test`` build too). English is the source language and needs no catalogue.

A session's language comes from, in order: the address (``?lang=zh``, kept there like the session id so
that a reload keeps it), the sidebar switch (which writes the address), the classroom file's ``language``,
``GLASSWING_LANG``, English. Messages with values use named fields: ``_("{n} images").format(n=3)``;
strings defined at import time are marked with ``N_`` and translated where they are shown.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from pathlib import Path

import streamlit as st

from core.errors import GlasswingError, Message, ParameterError
from core.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, check_language, server_language

__all__ = ["LANGUAGES", "N_", "_", "catalogue", "error_text", "init_language", "language", "language_switch"]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
_PARAM = "lang"  # the address's query parameter
_KEY = "lang"  # session state
log = logging.getLogger(__name__)


@functools.cache
def catalogue(code: str) -> gettext.NullTranslations:
    """The translations of one language (English: the messages themselves)."""
    if code == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    folder = LOCALE_DIR / code / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with open(mo, "rb") as fh:
            return gettext.GNUTranslations(fh)
    if not po.is_file():
        log.warning("No catalogue for %s at %s: the dashboard shows English.", code, po)
        return gettext.NullTranslations()
    # Started without make (or the .po edited since): compile it in memory, as `make i18n-compile` would.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po, "rb") as fh:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(fh, locale=code))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _default() -> str:
    from dashboard import state

    try:
        room = state.classroom().language
    except Exception:  # a classroom file's mistake is shown by the app itself, in English
        room = None
    try:
        return room or server_language()
    except ParameterError:
        return DEFAULT_LANGUAGE  # check_settings names the bad GLASSWING_LANG on the page


def init_language() -> str:
    """Decide this run's language (the address first) and keep it in the address."""
    asked = st.query_params.get(_PARAM)
    if asked:
        try:
            st.session_state[_KEY] = check_language(asked, "lang")
        except ParameterError:
            pass  # ?lang=klingon: keep the session's language, and the address is corrected below
    if _KEY not in st.session_state:
        st.session_state[_KEY] = _default()
    if st.query_params.get(_PARAM) != st.session_state[_KEY]:
        st.query_params[_PARAM] = st.session_state[_KEY]  # page switches drop query parameters: put it back
    return st.session_state[_KEY]


def language() -> str:
    """This session's language code (the server's default outside a page run)."""
    try:
        code = st.session_state.get(_KEY)
    except Exception:  # no session: a background thread or a script without Streamlit
        code = None
    return code or _default()


def _(message: str) -> str:
    """``message`` in this session's language (itself when there is no translation)."""
    return catalogue(language()).gettext(message)


def error_text(error: BaseException | Message | str) -> str:
    """What went wrong, in this session's language: core's errors raised with a template are translated,
    the others shown as they are."""
    if isinstance(error, (GlasswingError, Message)):
        return error.translated(_)
    return str(error)


def _switched() -> None:
    code = st.session_state.get("_lang_switch") or st.session_state.get(_KEY, DEFAULT_LANGUAGE)
    st.session_state[_KEY] = code
    st.query_params[_PARAM] = code


def language_switch() -> None:
    """The sidebar's language switch (each language named in itself)."""
    st.session_state["_lang_switch"] = st.session_state.get(_KEY, DEFAULT_LANGUAGE)
    st.segmented_control(_("Language"), list(LANGUAGES), format_func=LANGUAGES.__getitem__, key="_lang_switch",
                         on_change=_switched, label_visibility="collapsed")
