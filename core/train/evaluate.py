"""A run's metrics (metrics.json): accuracy, mean cross-entropy, per-class accuracy, confusion matrix.

The engine scores its final model with :func:`metrics_from_logits` on the logits it computes anyway
(from stored features while the backbone is unchanged). :func:`evaluate_run` reloads the saved
``model.keras`` and scores a split from its images again, which checks that a saved run reproduces
what it reported. The Evaluate page's richer report (precision, recall, calibration) is
:mod:`core.evaluate`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core import compiled
from core.evaluate.metrics import confusion_matrix
from core.train.loop import StopRequested

_EPS = 1e-7  # probabilities are clipped before the log, as Keras' cross-entropy does


def predict_batches(forward: Callable[[Any], Any], batches: Iterable[tuple[Any, Any]],
                    stop_event: threading.Event | None = None,
                    on_batch: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels for every batch."""
    probs, labels = [], []
    for x, y in batches:
        if stop_event is not None and stop_event.is_set():
            raise StopRequested
        probs.append(np.asarray(forward(tf.cast(x, tf.float32))))
        labels.append(np.asarray(y))
        if on_batch is not None:
            on_batch()
    if not probs:
        return np.zeros((0, 0), np.float32), np.zeros((0,), np.int32)
    return np.concatenate(probs), np.concatenate(labels).astype(np.int32)


def metrics_from(probs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Accuracy, mean cross-entropy, per-class accuracy and the confusion matrix (rows: true class)."""
    n, k = len(labels), len(class_names)
    if n == 0:
        return {"count": 0, "accuracy": None, "loss": None, "per_class": {}, "confusion": []}
    predicted = probs.argmax(axis=1)
    picked = np.clip(probs[np.arange(n), labels], _EPS, 1.0)
    confusion = confusion_matrix(labels, predicted, k)
    per_class = {}
    for c, name in enumerate(class_names):
        total = int(confusion[c].sum())
        per_class[name] = {"count": total, "accuracy": float(confusion[c, c] / total) if total else None}
    return {"count": int(n), "accuracy": float((predicted == labels).mean()),
            "loss": float(-np.log(picked).mean()), "per_class": per_class, "confusion": confusion.tolist()}


def metrics_from_logits(logits: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """:func:`metrics_from` of the softmax of ``logits`` (computed in float64, shifted so it cannot overflow)."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    return metrics_from(probs / probs.sum(axis=1, keepdims=True), labels, class_names)


def evaluate_model(model: keras.Model, batches: Iterable[tuple[Any, Any]], class_names: list[str],
                   stop_event: threading.Event | None = None,
                   on_batch: Callable[[], None] | None = None) -> dict[str, Any]:
    """:func:`metrics_from` of a model's probabilities on ``batches``; ``stop_event`` stops between batches."""
    probs, labels = predict_batches(compiled.forward(model), batches, stop_event, on_batch)
    return metrics_from(probs, labels, class_names)


def evaluate_run(run_dir: str | Path, split: str = "val", batch_size: int = 64,
                 data_root: str | Path | None = None) -> dict[str, Any]:
    """Reload a run's ``model.keras`` and recompute its metrics on a split saved in ``split.json``.

    ``data_root`` points at the dataset if it has moved since training.
    """
    from core.errors import GlasswingError
    from core.train import runs
    from core.train.data import Batches, items_from_split
    from core.zoo.files import load_keras_file

    run_dir = Path(run_dir)
    saved = runs.read_json(run_dir, runs.SPLIT_FILE)
    meta = runs.read_meta(run_dir) or {}
    if not saved:
        raise GlasswingError(f"Run {run_dir.name} has no {runs.SPLIT_FILE}; it did not finish.")
    items = items_from_split(saved, split, data_root)
    if not items:
        raise GlasswingError(f"Run {run_dir.name} has no {split!r} split.")
    model = load_keras_file(run_dir / runs.MODEL_FILE)
    size = tuple(int(s) for s in model.inputs[0].shape[1:3])
    class_names = list(meta.get("class_names") or saved.get("class_names") or [])
    return evaluate_model(model, Batches(items, size, batch_size, cache=False), class_names)
