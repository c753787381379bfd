"""The top-k bar chart of every page (Explain, Attack before/after, an Evaluate image): best at the top."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard.charts import class_axis
from dashboard.i18n import _


@st.cache_resource(show_spinner=False, max_entries=256)
def _figure(top: tuple[tuple[str, float], ...], title: str, axes: tuple[str, str]) -> go.Figure:
    """Built once per prediction (plotly figures are slow to build). ``st.plotly_chart`` reads a copy of it
    (``Figure.to_dict``); a dict would be validated into a new Figure on every rerun."""
    labels, probs = [t[0] for t in top][::-1], [t[1] for t in top][::-1]  # the best at the top
    fig = go.Figure(go.Bar(x=probs, y=labels, orientation="h", text=[f"{p:.1%}" for p in probs],
                           textposition="auto", marker_color="#636efa"))
    fig.update_layout(title=title or None, xaxis={"range": [0, 1], "title": {"text": axes[0]}},
                      yaxis=class_axis(labels, title={"text": axes[1]}), height=80 + 36 * len(top),
                      margin=dict(l=0, r=0, t=40 if title else 10, b=0))
    return fig


def top_k(probs: np.ndarray, label: Callable[[int], str] | Sequence[str], k: int = 5) -> list[tuple[str, float]]:
    """``[(class name, probability)]`` of the ``k`` most probable classes, best first."""
    probs = np.asarray(probs, dtype=np.float64).ravel()
    name = label if callable(label) else lambda i: str(label[i])
    return [(str(name(int(i))), float(probs[i])) for i in np.argsort(-probs, kind="stable")[:k]]


def top_k_chart(probs: np.ndarray, label: Callable[[int], str] | Sequence[str], key: str,
                title: str | None = None, k: int = 5) -> None:
    """Horizontal bars of the ``k`` most probable classes; ``label`` names a class index (or is the names).

    ``title``: the chart's, in the session's language (default: "Top predictions")."""
    top = top_k(probs, label, min(k, int(np.asarray(probs).size)))
    title = _("Top predictions") if title is None else title
    figure = _figure(tuple(top), title, (_("probability"), _("class")))
    st.plotly_chart(figure, width="stretch", key=key)
