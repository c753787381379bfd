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
from dashboard.views import (  # noqa: E402
    architecture,
    attack,
    compress,
    data,
    evaluate,
    explain,
    lesson,
    train,
    trust,
)

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

# The loop a user walks: look at data, train, evaluate, explain, check the explanation, attack.
# The default page is served at "/" only (Streamlit gives it the pathname ""), so a hidden twin answers
# the address /explain that the sidebar, links and bookmarks use; the default keeps an unused pathname.
PAGES = {
    _("See"): [
        st.Page(explain.main, title=_("Explain"), icon=":material/visibility:", url_path="home", default=True),
        st.Page(explain.main, title=_("Explain"), icon=":material/visibility:", url_path="explain",
                visibility="hidden"),
        st.Page(trust.main, title=_("Trust"), icon=":material/verified:", url_path="trust"),
        st.Page(architecture.main, title=_("Architecture"), icon=":material/account_tree:", url_path="architecture"),
    ],
    _("Build"): [
        st.Page(data.main, title=_("Data"), icon=":material/photo_library:", url_path="data"),
        *([st.Page(train.main, title=_("Train"), icon=":material/model_training:", url_path="train")]
          if room.can_train else []),
        st.Page(evaluate.main, title=_("Evaluate"), icon=":material/grid_on:", url_path="evaluate"),
        *([st.Page(compress.main, title=_("Compress"), icon=":material/compress:", url_path="compress")]
          if room.can_train else []),  # pruned and distilled variants train
    ],
    _("Probe"): [st.Page(attack.main, title=_("Attack"), icon=":material/bolt:", url_path="attack")],
    _("Learn"): [st.Page(lesson.main, title=_("Lesson"), icon=":material/school:", url_path="lesson")],
}

page = st.navigation(PAGES)
with st.sidebar:
    language_switch()
    for line in room.describe(_):
        st.caption(line)
    st.caption(_("Glasswing · see what an image classifier sees"))
with foreground():  # someone waits for this page: badge scoring (and in-process training) step aside (core.priority)
    page.run()
