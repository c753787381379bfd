"""Train page: fine-tune a model on your images in the background, watch it learn, manage the runs.

Settings sit in the sidebar (:mod:`train_form`), the running job in a live panel
(:mod:`train_live`), finished runs below it (:mod:`train_runs`).
"""

from __future__ import annotations

import streamlit as st

from core.errors import GlasswingError
from dashboard import state
from dashboard.i18n import _, error_text
from dashboard.views.train_form import settings_ui
from dashboard.views.train_live import live_panel
from dashboard.views.train_runs import runs_ui


def main() -> None:
    st.title(_("Train a classifier"))
    st.caption(_("Teach a model your own classes. A pretrained model only needs a new last layer (transfer "
                 "learning), which takes seconds to minutes on a laptop; training runs in the background, so "
                 "you can keep exploring while it learns."))
    room = state.classroom()
    owner = state.session_id()
    if not room.can_train:
        st.warning(_("Training is switched off on this classroom server: you can explain, evaluate and attack "
                     "the models, but not train new ones."))
        return
    try:
        with st.sidebar:
            settings_ui(room, owner)
        live_panel(owner)
    except GlasswingError as exc:  # GLASSWING_QUEUE names a Redis that is down (or refuses its URL): say so,
        st.error(error_text(exc))  # and never train here instead
    runs_ui(owner)
