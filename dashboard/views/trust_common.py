"""Shared pieces of the Trust page: loading the model (the photo is the session's, dashboard.widgets)."""

from __future__ import annotations

import streamlit as st

from core.errors import GlasswingError
from dashboard import state


def load(model_name: str):
    """The shared LoadedModel, or None after showing why it cannot be loaded."""
    try:
        with st.spinner(f"Loading {model_name} (first time only) ..."):
            return state.get_model(model_name)
    except GlasswingError as exc:
        st.error(str(exc))
        return None
