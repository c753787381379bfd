"""Deletion / insertion badges under a heatmap, with the curves one click away (Explain page), and the
curves figure itself (Explain and Trust). Scores come from :mod:`dashboard.services.badges`."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.errors import GlasswingError
from core.trust import Curves
from dashboard.i18n import _
from dashboard.services.badges import heatmap_key, scoring

POLL_SECONDS = 1.0  # how often a pending badge looks for its score


def curves_figure(curves: Curves, title: str = "", height: int = 260) -> go.Figure:
    """Deletion and insertion curves of one heatmap, with their areas in the legend."""
    fig = go.Figure()
    fig.add_scatter(x=curves.fractions, y=curves.deletion,
                    name=_("deletion (AUC {auc:.2f})").format(auc=curves.deletion_auc), mode="lines", fill="tozeroy",
                    line={"color": "#d62728"})
    fig.add_scatter(x=curves.fractions, y=curves.insertion,
                    name=_("insertion (AUC {auc:.2f})").format(auc=curves.insertion_auc), mode="lines",
                    line={"color": "#2ca02c"})
    fig.update_layout(title=title or None, height=height, margin=dict(l=0, r=0, t=30 if title else 10, b=0),
                      xaxis_title=_("fraction of pixels removed / revealed"), yaxis_title=_("probability"),
                      yaxis_range=[0, 1.02], legend={"orientation": "h", "y": -0.3})
    return fig


def deletion_colour(relative: float) -> str:
    """Badge colour of a deletion area relative to the clean probability (so a class the model is unsure
    of is judged by how fast its own probability falls, not by its low level)."""
    return "green" if relative < 0.3 else "orange" if relative < 0.6 else "red"


def insertion_colour(relative: float) -> str:
    """Badge colour of an insertion area relative to the clean probability."""
    return "green" if relative > 0.6 else "orange" if relative > 0.3 else "red"


@st.cache_resource(show_spinner=False, max_entries=256)
def _badge_figure(model_name: str, digest: str, heat_key: str, class_index: int, _curves: Curves) -> go.Figure:
    """The popover's figure, built once per heatmap: the popover's body runs on every rerun, open or not."""
    return curves_figure(_curves)


def score_badges(model_name: str, digest: str, pixels: np.ndarray, heatmap: np.ndarray, class_index: int) -> None:
    """Small deletion / insertion badges for one heatmap, with the curves in a popover.

    Scored in the background: until the score is ready a placeholder polls for it (a fragment rerun
    every second), then the whole page reruns once so the badges are drawn in place.
    """
    key = heatmap_key(heatmap)
    job = scoring(model_name, digest, key, int(class_index), pixels, heatmap)
    if not job.done():
        _pending(job)
        return
    if job.exception() is not None:
        error = job.exception()
        reason = error if isinstance(error, GlasswingError) else f"{type(error).__name__}: {error}"
        st.caption(_("Faithfulness scores unavailable: {reason}").format(reason=reason))
        return
    curves: Curves = job.result()
    deletion, insertion = curves.relative_deletion, curves.relative_insertion
    cols = st.columns([1, 1, 1], vertical_alignment="center")
    cols[0].badge(_("deletion {share:.0%}").format(share=deletion), color=deletion_colour(deletion),
                  help=_("Area under the probability curve as the hottest pixels are blurred away ({auc:.2f}), as "
                         "a share of the photo's own probability ({clean:.0%}). Lower is better: the evidence was "
                         "where the map points.").format(auc=curves.deletion_auc, clean=curves.clean))
    cols[1].badge(_("insertion {share:.0%}").format(share=insertion), color=insertion_colour(insertion),
                  help=_("Area under the probability curve as the hottest pixels are revealed ({auc:.2f}), as a "
                         "share of the photo's own probability ({clean:.0%}). Higher is better.").format(
                             auc=curves.insertion_auc, clean=curves.clean))
    with cols[2].popover(_("Curves"), width="stretch"):
        st.plotly_chart(_badge_figure(model_name, digest, key, int(class_index), _curves=curves), width="stretch",
                        key=f"trust_badge_chart_{digest}_{key}")
        st.caption(_("Deletion: the hottest pixels are blurred first; if the heatmap is right, the probability "
                     "falls fast (small red area). Insertion: they are revealed first on a blurred copy; the "
                     "probability should rise fast (large green area). The badges give each area as a share "
                     "of the photo's own probability."))
        if curves.increase:
            alone = _("The photo multiplied by the heatmap alone scores {shown:.1%} against {clean:.1%} for the "
                      "whole photo: a drop of {drop:.0%} (this photo's term of Average Drop, lower is better); it "
                      "scores higher, which counts towards Increase in Confidence.")
        else:
            alone = _("The photo multiplied by the heatmap alone scores {shown:.1%} against {clean:.1%} for the "
                      "whole photo: a drop of {drop:.0%} (this photo's term of Average Drop, lower is better).")
        st.caption(alone.format(shown=curves.shown, clean=curves.clean, drop=curves.drop))


@st.fragment(run_every=POLL_SECONDS)
def _pending(job: Future) -> None:
    if job.done():
        st.rerun()  # the whole page, once: the badges are drawn where this placeholder was
    st.caption(_("Scoring this heatmap (deletion and insertion) ..."))
