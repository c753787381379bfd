"""Deletion / insertion badges under a heatmap, with the curves one click away (used by the Explain page)."""

from __future__ import annotations

import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.errors import GlasswingError
from dashboard import state

STEPS = 32
BASELINE = "blur"


@st.cache_data(show_spinner=False, max_entries=256)
def curves(model_name: str, digest: str, heat_key: str, class_index: int, baseline: str = BASELINE,
           steps: int = STEPS, _pixels: np.ndarray | None = None, _heatmap: np.ndarray | None = None) -> dict:
    """Deletion and insertion curves of one heatmap (keyed by the image digest and the heatmap's hash)."""
    from core.trust import score_heatmap

    result = score_heatmap(state.get_model(model_name), _pixels, _heatmap, class_index, baseline, steps)
    return {"fractions": result.fractions, "deletion": result.deletion, "insertion": result.insertion,
            "deletion_auc": result.deletion_auc, "insertion_auc": result.insertion_auc, "ms": result.ms}


def heatmap_key(heatmap: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(heatmap, np.float32).tobytes()).hexdigest()[:16]


def curves_figure(result: dict, title: str = "", height: int = 260) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=result["fractions"], y=result["deletion"],
                    name=f"deletion (AUC {result['deletion_auc']:.2f})", mode="lines", fill="tozeroy",
                    line={"color": "#d62728"})
    fig.add_scatter(x=result["fractions"], y=result["insertion"],
                    name=f"insertion (AUC {result['insertion_auc']:.2f})", mode="lines",
                    line={"color": "#2ca02c"})
    fig.update_layout(title=title or None, height=height, margin=dict(l=0, r=0, t=30 if title else 10, b=0),
                      xaxis_title="fraction of pixels removed / revealed", yaxis_title="probability",
                      yaxis_range=[0, 1.02], legend={"orientation": "h", "y": -0.3})
    return fig


def score_badges(model_name: str, digest: str, pixels, heatmap, class_index) -> None:
    """Small deletion / insertion badges for one heatmap, with the curves in a popover. Cached."""
    key = heatmap_key(heatmap)
    try:
        result = curves(model_name, digest, key, int(class_index), _pixels=pixels, _heatmap=heatmap)
    except GlasswingError as exc:
        st.caption(f"Faithfulness scores unavailable: {exc}")
        return
    deletion, insertion = result["deletion_auc"], result["insertion_auc"]
    cols = st.columns([1, 1, 1], vertical_alignment="center")
    cols[0].badge(f"deletion {deletion:.2f}",
                  color="green" if deletion < 0.3 else "orange" if deletion < 0.6 else "red",
                  help="Area under the probability curve as the hottest pixels are blurred away. "
                       "Lower is better.")
    cols[1].badge(f"insertion {insertion:.2f}",
                  color="green" if insertion > 0.6 else "orange" if insertion > 0.3 else "red",
                  help="Area under the probability curve as the hottest pixels are revealed. "
                       "Higher is better.")
    with cols[2].popover("Curves", width="stretch"):
        st.plotly_chart(curves_figure(result), width="stretch", key=f"trust_badge_chart_{digest}_{key}")
        st.caption("Deletion: the hottest pixels are blurred first; if the heatmap is right, the probability "
                   "falls fast (small red area). Insertion: they are revealed first on a blurred copy; the "
                   "probability should rise fast (large green area).")
