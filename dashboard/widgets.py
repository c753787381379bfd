"""Parameter widgets built from declared specs (the pickers are in :mod:`dashboard.components`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import streamlit as st

from core.params import Param, _fmt_float, _fmt_int
from dashboard.i18n import _


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
        label, help_text = _param_label(p), _param_help(p, with_range=True)
        if p.type is bool:
            values[p.name] = st.checkbox(label, value=bool(default), key=wkey, help=help_text)
        elif p.choices:
            choices = list(p.choices)
            values[p.name] = st.selectbox(label, choices, index=choices.index(default), key=wkey, help=help_text,
                                          format_func={c: _(str(c)) for c in choices}.__getitem__)
        elif sliders and p.min is not None and p.max is not None and not p.optional:
            if p.type is int:
                values[p.name] = st.slider(label, int(p.min), int(p.max), int(default), key=wkey,
                                           help=_param_help(p))
            else:
                step = p.step or (float(p.max) - float(p.min)) / 100
                values[p.name] = st.slider(label, float(p.min), float(p.max), float(default), step=step, key=wkey,
                                           help=_param_help(p))
        elif p.type is int:
            values[p.name] = st.number_input(label, value=None if default is None else int(default), step=1,
                                             key=wkey, help=help_text,
                                             placeholder=_("automatic") if p.optional else None)
        else:
            values[p.name] = st.number_input(label, value=None if default is None else float(default),
                                             step=p.step or 0.5, format="%.2f", key=wkey, help=help_text,
                                             placeholder=_("automatic") if p.optional else None)
    return values


def _param_label(p: Param) -> str:
    """The widget label: the declared one, or the name with spaces and its unit ("size (pixels)")."""
    if p.label:
        return _(p.label)
    if p.unit and p.unit != p.name:
        return _("{title} ({unit})").format(title=p.title, unit=_(p.unit))
    return p.title


def _param_help(p: Param, with_range: bool = False) -> str:
    """The declared help in the session's language, followed (``with_range``) by the allowed range."""
    parts = [_(p.help) if p.help else "", _range_help(p) if with_range else ""]
    return " ".join(part for part in parts if part)


def range_words(p: Param) -> str:
    """:meth:`core.params.Param.range_text` in the session's language (numbers formatted as core does)."""
    fmt = _fmt_int if p.type is int else _fmt_float
    low, high = fmt(p.min), fmt(p.max)
    if p.min_inclusive and p.max_inclusive:
        text = _("between {low} and {high}").format(low=low, high=high)
    elif p.min_inclusive:
        text = _("at least {low} and below {high}").format(low=low, high=high)
    elif p.max_inclusive:
        text = _("above {low} and at most {high}").format(low=low, high=high)
    else:
        text = _("above {low} and below {high}").format(low=low, high=high)
    return _("{range} {unit}").format(range=text, unit=_(p.unit)) if p.unit else text


def _range_help(p: Param) -> str:
    if p.type not in (int, float) or p.min is None or p.max is None:
        return ""
    allowed = _("Allowed: {range}.").format(range=range_words(p))
    return allowed + (" " + _("Leave empty for the automatic value.") if p.optional else "")
