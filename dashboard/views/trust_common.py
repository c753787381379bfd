"""Shared pieces of the Trust page: loading the model and picking the current image."""

from __future__ import annotations

import streamlit as st

from core.errors import GlasswingError
from dashboard import state
from dashboard.widgets import image_picker


def load(model_name: str):
    """The shared LoadedModel, or None after showing why it cannot be loaded."""
    try:
        with st.spinner(f"Loading {model_name} (first time only) ..."):
            return state.get_model(model_name)
    except GlasswingError as exc:
        st.error(str(exc))
        return None


def current_image(key: str):
    """The image the view works on (one of those picked), or None after a hint."""
    images = image_picker(key=key)
    if not images:
        st.info("Choose a sample photo, upload an image or take one with the camera.")
        return None
    if len(images) == 1:
        return images[0]
    return st.radio("Image", images, format_func=lambda im: im.name, horizontal=True, key=f"{key}_current")
