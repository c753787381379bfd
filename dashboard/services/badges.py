"""Faithfulness scoring in the background: one worker thread for the process, an LRU of its futures.

The badges that show the scores are :mod:`dashboard.components.faithfulness`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait

import numpy as np

from core.errors import GlasswingError
from core.priority import wait_for_quiet
from core.trust import Curves, score_heatmap

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


def _score(model_name: str, pixels: np.ndarray, heatmap: np.ndarray, class_index: int) -> Curves:
    from core.zoo import load_model

    # core's process cache (the object state.get_model shares), without Streamlit's: this is not a
    # script thread. Not exclusive: the worker must not hold up predictions on the same model; and it
    # steps aside between batches while anyone waits for a prediction or a heatmap.
    return score_heatmap(load_model(model_name), pixels, heatmap, class_index, BASELINE, STEPS, exclusive=False,
                         pause=wait_for_quiet)


def scoring(model_name: str, digest: str, heat_key: str, class_index: int, pixels: np.ndarray,
            heatmap: np.ndarray) -> Future:
    """The (shared, cached) scoring of one heatmap, a future of core's Curves: queued on first request,
    kept for later reruns."""
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
    """A short digest of a heatmap's values (its part of the scoring's key)."""
    return hashlib.sha1(np.ascontiguousarray(heatmap, np.float32).tobytes()).hexdigest()[:16]
