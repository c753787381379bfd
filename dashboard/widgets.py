"""Parameter widgets built from declared specs (the pickers are in :mod:`dashboard.components`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import streamlit as st

from core.errors import GlasswingError
from core.params import Param


def param_widgets(params: Iterable[Param], key: str, defaults: Mapping[str, Any] | None = None,
                  sliders: bool = True) -> dict[str, Any]:
    """One widget per declared :class:`core.params.Param`; returns ``{name: value}``.

    Keys are ``f"{key}_{name}"``. With ``sliders``, a bounded number is a slider within its range;
    otherwise an unclamped number input, so that a nonsense value reaches the core, whose declaration
    rejects it in one sentence naming the parameter (one place for every check).
    """
    defaults = defaults or {}
    values: dict[str, Any] = {}
    for p in params:
        wkey, default = f"{key}_{p.name}", defaults.get(p.name, p.default)
        label, help_text = _param_label(p), p.help + _range_help(p)
        if p.type is bool:
            values[p.name] = st.checkbox(label, value=bool(default), key=wkey, help=help_text)
        elif p.choices:
            choices = list(p.choices)
            values[p.name] = st.selectbox(label, choices, index=choices.index(default), key=wkey, help=help_text)
        elif sliders and p.min is not None and p.max is not None and not p.optional:
            if p.type is int:
                values[p.name] = st.slider(label, int(p.min), int(p.max), int(default), key=wkey, help=p.help)
            else:
                step = p.step or (float(p.max) - float(p.min)) / 100
                values[p.name] = st.slider(label, float(p.min), float(p.max), float(default), step=step, key=wkey,
                                           help=p.help)
        elif p.type is int:
            values[p.name] = st.number_input(label, value=None if default is None else int(default), step=1,
                                             key=wkey, help=help_text,
                                             placeholder="automatic" if p.optional else None)
        else:
            values[p.name] = st.number_input(label, value=None if default is None else float(default),
                                             step=p.step or 0.5, format="%.2f", key=wkey, help=help_text,
                                             placeholder="automatic" if p.optional else None)
    return values


def _param_label(p: Param) -> str:
    """The widget label: the declared one, or the name with spaces and its unit ("size (pixels)")."""
    if p.label:
        return p.label
    unit = f" ({p.unit})" if p.unit and p.unit != p.name else ""
    return p.title + unit


def _range_help(p: Param) -> str:
    if p.type not in (int, float) or p.min is None or p.max is None:
        return ""
    blank = " Leave empty for the automatic value." if p.optional else ""
    return f" Allowed: {p.range_text()}.{blank}"


def show_error(exc: GlasswingError) -> None:
    st.error(str(exc))
