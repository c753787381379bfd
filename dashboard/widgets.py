"""Parameter widgets built from declared specs (the pickers are in :mod:`dashboard.components`)."""

from __future__ import annotations

import streamlit as st

from core.errors import GlasswingError


def param_widgets(params, key: str) -> dict:
    """Sliders and inputs from declared parameter specs (name, type, default, min, max, help)."""
    values = {}
    for p in params:
        wkey = f"{key}_{p.name}"
        label = getattr(p, "label", None) or p.name.replace("_", " ")
        if p.type is bool:
            values[p.name] = st.checkbox(label, value=bool(p.default), key=wkey, help=p.help)
        elif p.type is int:
            values[p.name] = st.slider(label, int(p.min), int(p.max), int(p.default), key=wkey, help=p.help)
        elif p.type is float:
            step = getattr(p, "step", None) or (float(p.max) - float(p.min)) / 100
            values[p.name] = st.slider(label, float(p.min), float(p.max), float(p.default), step=step,
                                       key=wkey, help=p.help)
        elif getattr(p, "choices", None):
            values[p.name] = st.selectbox(label, list(p.choices), index=list(p.choices).index(p.default),
                                          key=wkey, help=p.help)
    return values


def show_error(exc: GlasswingError) -> None:
    st.error(str(exc))
