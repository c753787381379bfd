"""Deletion / insertion badges under a heatmap, with the curves one click away (used by the Explain page)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.errors import GlasswingError
from core.priority import wait_for_quiet

STEPS = 32
BASELINE = "blur"


# Scoring a heatmap costs a few dozen forward passes (seconds on a CPU). One worker thread scores them
# for the whole process, in order, so a room of students uploading photos at once queues its badges
# instead of running twenty scorings side by side and starving everyone's heatmaps (the page shows
# the heatmap at once and the badges when they are ready).
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glasswing-badges")
_jobs: OrderedDict[tuple, Future] = OrderedDict()
_jobs_lock = threading.Lock()
MAX_JOBS = 256
POLL_SECONDS = 1.0


def _score(model_name: str, pixels: np.ndarray, heatmap: np.ndarray, class_index: int) -> dict:
    from core.trust import score_heatmap
    from core.zoo import load_model

    # core's process cache (the object state.get_model shares), without Streamlit's: this is not a
    # script thread. Not exclusive: the worker must not hold up predictions on the same model; and it
    # steps aside between batches while anyone waits for a prediction or a heatmap.
    result = score_heatmap(load_model(model_name), pixels, heatmap, class_index, BASELINE, STEPS, exclusive=False,
                           pause=wait_for_quiet)
    return {"fractions": result.fractions, "deletion": result.deletion, "insertion": result.insertion,
            "deletion_auc": result.deletion_auc, "insertion_auc": result.insertion_auc, "ms": result.ms}


def scoring(model_name: str, digest: str, heat_key: str, class_index: int, pixels: np.ndarray,
            heatmap: np.ndarray) -> Future:
    """The (shared, cached) scoring of one heatmap: queued on first request, kept for later reruns."""
    key = (model_name, digest, heat_key, class_index)
    with _jobs_lock:
        job = _jobs.get(key)
        if job is None or (job.done() and job.exception() is not None
                           and not isinstance(job.exception(), GlasswingError)):
            job = _worker.submit(_score, model_name, pixels, heatmap, class_index)  # retried after a crash
            _jobs[key] = job
        _jobs.move_to_end(key)
        while len(_jobs) > MAX_JOBS:
            _jobs.popitem(last=False)
    return job


def wait_for_scores(timeout: float = 120.0) -> None:
    """Block until every queued scoring has finished (for tests and scripts)."""
    with _jobs_lock:
        pending = list(_jobs.values())
    wait(pending, timeout=timeout)


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


@st.cache_resource(show_spinner=False, max_entries=256)
def _badge_figure(model_name: str, digest: str, heat_key: str, class_index: int, _result: dict) -> go.Figure:
    """The popover's figure, built once per heatmap: the popover's body runs on every rerun, open or not."""
    return curves_figure(_result)


def score_badges(model_name: str, digest: str, pixels, heatmap, class_index) -> None:
    """Small deletion / insertion badges for one heatmap, with the curves in a popover.

    Scored in the background: until the score is ready a placeholder polls for it (a fragment rerun
    every second), then the whole page reruns once so the badges are drawn in place.
    """
    key = heatmap_key(heatmap)
    job = scoring(model_name, digest, key, int(class_index), pixels, heatmap)
    if not job.done():
        _pending(job, key)
        return
    if job.exception() is not None:
        error = job.exception()
        reason = error if isinstance(error, GlasswingError) else f"{type(error).__name__}: {error}"
        st.caption(f"Faithfulness scores unavailable: {reason}")
        return
    result = job.result()
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
        st.plotly_chart(_badge_figure(model_name, digest, key, int(class_index), _result=result), width="stretch",
                        key=f"trust_badge_chart_{digest}_{key}")
        st.caption("Deletion: the hottest pixels are blurred first; if the heatmap is right, the probability "
                   "falls fast (small red area). Insertion: they are revealed first on a blurred copy; the "
                   "probability should rise fast (large green area).")


@st.fragment(run_every=POLL_SECONDS)
def _pending(job: Future, key: str) -> None:
    if job.done():
        st.rerun()  # the whole page, once: the badges are drawn where this placeholder was
    st.caption("Scoring this heatmap (deletion and insertion) ...")
