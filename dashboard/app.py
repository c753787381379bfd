"""Glasswing dashboard entry point: ``streamlit run dashboard/app.py``."""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit runs this file as a script: make the repository importable (core/, dashboard/).
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core.config import check_settings  # noqa: E402
from core.errors import GlasswingError  # noqa: E402
from core.priority import foreground  # noqa: E402
from dashboard import state  # noqa: E402
from dashboard.components.task_status import wait_seconds  # noqa: E402
from dashboard.i18n import _, init_language, language_switch  # noqa: E402
from dashboard.keras_session import keep_keras_session  # noqa: E402
from dashboard.memory import return_large_blocks, start_idle_cleanup  # noqa: E402
from dashboard.navigation import pages  # noqa: E402

return_large_blocks()  # for `streamlit run` too (python -m dashboard did it already; both are idempotent)
keep_keras_session()  # before this run ends: Streamlit would clear Keras' shared session after each run
st.set_page_config(page_title="Glasswing", page_icon="🔍", layout="wide")
try:  # the classroom first: the session (its address, its limits) depends on it
    room = state.classroom()
except GlasswingError as exc:  # a teacher's typo must say which key is wrong, not crash every page
    st.error(_("Classroom configuration: {error}").format(error=exc))
    st.stop()
try:
    check_settings()  # a nonsense GLASSWING_* number is named here, not in the middle of an upload
    wait_seconds()
    state.init_session()
    init_language()
    start_idle_cleanup()  # for `streamlit run` too (idempotent)
except GlasswingError as exc:
    st.error(_("Server setting: {error}").format(error=exc))
    st.stop()

page = st.navigation(pages(room))
with st.sidebar:
    language_switch()
    for line in room.describe(_):
        st.caption(line)
    st.caption(_("Glasswing · see what an image classifier sees"))
with foreground():  # someone waits for this page: badge scoring (and in-process training) step aside (core.priority)
    page.run()
