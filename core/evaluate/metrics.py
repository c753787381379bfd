"""Classification metrics: scikit-learn's where it has them, plus what it lacks (tie-fair top-k from
streamed ranks, reliability bins and calibration error).

Labels are integer class indices ``0..num_classes-1``, and every class is scored even when no image has
it or the model never predicts it: precision, recall and F1 are 0 where undefined (scikit-learn's
``zero_division=0``), so every number is finite and a class the model ignores shows up as a zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import ParameterError


def _labels(y: np.ndarray | list, name: str, num_classes: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ParameterError(f"{name} must be a 1-D array of class indices, got shape {arr.shape}.")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ParameterError(f"{name} must hold class indices from 0 to {num_classes - 1}.")
    return arr


def _pair(y_true, y_pred, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    t = _labels(y_true, "y_true", num_classes)
    p = _labels(y_pred, "y_pred", num_classes)
    if t.shape != p.shape:
        raise ParameterError(f"y_true and y_pred must have the same length, got {t.size} and {p.size}.")
    if not t.size:
        raise ParameterError("There are no predictions to score.")
    return t, p


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``(C, C)`` int64 counts; row = true class, column = predicted class."""
    from sklearn import metrics as skm  # imported when first needed: it adds seconds to a cold start

    t, p = _pair(y_true, y_pred, num_classes)
    return skm.confusion_matrix(t, p, labels=np.arange(num_classes)).astype(np.int64)


def accuracy(cm: np.ndarray) -> float:
    """Fraction of items on the diagonal of a confusion matrix (0.0 for an empty one)."""
    total = int(cm.sum())
    return float(np.trace(cm)) / total if total else 0.0


@dataclass(frozen=True)
class PerClass:
    """Per-class precision, recall, F1 and support, one entry per class index, and their averages."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray  # true items of each class
    macro: dict[str, float]  # every class counts the same (the mean of the per-class F1s, not F1 of means)
    weighted: dict[str, float]  # weighted by support

    def averages(self) -> dict[str, dict[str, float]]:
        """``{"macro": {precision, recall, f1}, "weighted": {...}}``."""
        return {"macro": dict(self.macro), "weighted": dict(self.weighted)}


def per_class(y_true, y_pred, num_classes: int) -> PerClass:
    """Precision = TP / predicted, recall = TP / true, F1 = their harmonic mean; 0 where undefined."""
    from sklearn import metrics as skm

    t, p = _pair(y_true, y_pred, num_classes)
    labels = np.arange(num_classes)

    def score(average: str | None):
        return skm.precision_recall_fscore_support(t, p, labels=labels, average=average, zero_division=0)

    precision, recall, f1, support = score(None)
    averages = {kind: dict(zip(("precision", "recall", "f1"), map(float, score(kind)[:3]), strict=True))
                for kind in ("macro", "weighted")}
    return PerClass(precision=precision.astype(np.float64), recall=recall.astype(np.float64),
                    f1=f1.astype(np.float64), support=support.astype(np.int64), **averages)


# Top-k stays here: the evaluator streams batches and keeps one rank per image, not every probability, and
# scikit-learn's top_k_accuracy_score breaks ties by class index (a tied true class can miss), while a rank
# counts ties in the true class's favour.
def true_class_rank(probs: np.ndarray, y_true) -> np.ndarray:
    """For each row, how many classes score strictly higher than the true class (0 = top-1).

    Ties count in the true class's favour, so a hit never depends on the order of tied classes.
    """
    probs = np.asarray(probs)
    t = _labels(y_true, "y_true", probs.shape[1])
    true_scores = probs[np.arange(len(t)), t]
    return (probs > true_scores[:, None]).sum(axis=1).astype(np.int64)


def top_k_accuracy(ranks: np.ndarray, k: int) -> float:
    """Fraction of items whose true class is among the ``k`` highest scores, from :func:`true_class_rank`."""
    if k < 1:
        raise ParameterError(f"k must be at least 1, got {k}.")
    ranks = np.asarray(ranks)
    return float((ranks < k).mean()) if ranks.size else 0.0


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


@dataclass(frozen=True)
class Reliability:
    """Equal-width confidence bins for a reliability diagram, and the expected calibration error.

    Bin ``i`` holds confidences in ``(i/n, (i+1)/n]`` (the first bin also holds 0). ``confidence`` and
    ``accuracy`` are NaN-free: an empty bin has count 0 and both set to 0.
    """

    edges: np.ndarray  # n_bins + 1 edges from 0 to 1
    count: np.ndarray
    confidence: np.ndarray  # mean confidence in each bin
    accuracy: np.ndarray  # fraction correct in each bin
    ece: float  # sum over bins of count/N * |accuracy - confidence|
    mce: float  # largest |accuracy - confidence| over non-empty bins

    def to_dict(self) -> dict:
        return {
            "ece": self.ece, "mce": self.mce, "n_bins": int(self.count.size),
            "bins": [{"lower": float(self.edges[i]), "upper": float(self.edges[i + 1]), "count": int(c),
                      "confidence": float(self.confidence[i]), "accuracy": float(self.accuracy[i])}
                     for i, c in enumerate(self.count)],
        }


def reliability(confidences, correct, n_bins: int = 15) -> Reliability:
    """Reliability bins and ECE of top-1 ``confidences`` (0..1) against ``correct`` (bool)."""
    if n_bins < 1:
        raise ParameterError(f"n_bins must be at least 1, got {n_bins}.")
    conf = np.clip(np.asarray(confidences, dtype=np.float64), 0.0, 1.0)
    ok = np.asarray(correct, dtype=np.float64)
    if conf.shape != ok.shape or conf.ndim != 1:
        raise ParameterError("confidences and correct must be 1-D arrays of the same length.")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted(side="left") finds i with edges[i-1] < c <= edges[i]: the (lower, upper] bin i-1.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    mean_conf = _safe_divide(np.bincount(idx, weights=conf, minlength=n_bins), count)
    mean_acc = _safe_divide(np.bincount(idx, weights=ok, minlength=n_bins), count)
    gaps = np.abs(mean_acc - mean_conf)
    total = count.sum()
    ece = float((count * gaps).sum() / total) if total else 0.0
    mce = float(gaps[count > 0].max()) if total else 0.0
    return Reliability(edges=edges, count=count, confidence=mean_conf,
                       accuracy=mean_acc, ece=ece, mce=mce)
