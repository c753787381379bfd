"""Oracle tests: core.evaluate.metrics against direct item-by-item counts (and scikit-learn's top-k)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from core.errors import ParameterError
from core.evaluate import metrics

C = 6
NEVER_PREDICTED = 4  # a class the model never outputs
ABSENT = 5  # a class with no true items (but sometimes predicted)


@pytest.fixture(params=[0, 1, 2])
def predictions(request):
    """Random labels and probabilities with one class never predicted and one absent from y_true."""
    rng = np.random.default_rng(request.param)
    n = 300
    y_true = rng.choice([c for c in range(C) if c != ABSENT], n)
    logits = rng.normal(size=(n, C)) + 1.5 * np.eye(C)[y_true]
    logits[:, NEVER_PREDICTED] -= 50.0  # never the argmax, still part of the ranking
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    y_pred = probs.argmax(axis=1)
    assert NEVER_PREDICTED not in y_pred and ABSENT in y_pred and ABSENT not in y_true
    return y_true, y_pred, probs


def _direct_scores(y_true, y_pred, num_classes: int) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Confusion matrix and per-class scores counted item by item, with 0 wherever a ratio is 0/0."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[t, p] += 1
    scores: dict[str, list[float]] = {"precision": [], "recall": [], "f1": [], "support": []}
    for c in range(num_classes):
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p == c)
        predicted = sum(1 for p in y_pred if p == c)
        true = sum(1 for t in y_true if t == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / true if true else 0.0
        scores["precision"].append(precision)
        scores["recall"].append(recall)
        scores["f1"].append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        scores["support"].append(true)
    return cm, scores


def test_confusion_matrix_and_accuracy_match_a_direct_count(predictions):
    y_true, y_pred, _ = predictions
    cm = metrics.confusion_matrix(y_true, y_pred, C)
    np.testing.assert_array_equal(cm, _direct_scores(y_true, y_pred, C)[0])
    assert metrics.accuracy(cm) == pytest.approx(np.mean(y_true == y_pred), abs=1e-12)
    assert cm[:, NEVER_PREDICTED].sum() == 0 and cm[ABSENT].sum() == 0


def test_per_class_matches_a_direct_count_with_zero_division(predictions):
    y_true, y_pred, _ = predictions
    pc = metrics.per_class(y_true, y_pred, C)
    _, direct = _direct_scores(y_true, y_pred, C)
    for name in ("precision", "recall", "f1"):
        np.testing.assert_allclose(getattr(pc, name), direct[name], atol=1e-12)
    np.testing.assert_array_equal(pc.support, direct["support"])
    assert pc.precision[NEVER_PREDICTED] == 0 and pc.recall[ABSENT] == 0 and pc.f1[ABSENT] == 0
    averages = pc.averages()
    weights = np.asarray(direct["support"], float)
    for name in ("precision", "recall", "f1"):
        # Macro: the plain mean over all C classes (absent ones included); weighted: by true count.
        assert averages["macro"][name] == pytest.approx(sum(direct[name]) / C, abs=1e-12)
        assert averages["weighted"][name] == pytest.approx(
            float(np.dot(direct[name], weights) / weights.sum()), abs=1e-12)


def test_scores_of_a_class_with_no_images_and_one_never_predicted():
    # Class 2 has no images but is predicted once; class 1 has images but is never predicted.
    y_true, y_pred = [0, 0, 1, 1], [0, 2, 0, 0]
    pc = metrics.per_class(y_true, y_pred, 3)
    np.testing.assert_allclose(pc.precision, [1 / 3, 0, 0])
    np.testing.assert_allclose(pc.recall, [0.5, 0, 0])
    np.testing.assert_allclose(pc.f1, [0.4, 0, 0])
    assert pc.support.tolist() == [2, 2, 0]
    assert pc.averages()["macro"]["f1"] == pytest.approx(0.4 / 3)
    assert pc.averages()["weighted"]["f1"] == pytest.approx(0.2)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy_matches_sklearn(predictions, k):
    y_true, _, probs = predictions
    ranks = metrics.true_class_rank(probs, y_true)
    expected = skm.top_k_accuracy_score(y_true, probs, k=k, labels=range(C))
    assert metrics.top_k_accuracy(ranks, k) == pytest.approx(expected, abs=1e-12)


def test_top_k_counts_ties_for_the_true_class():
    probs = np.array([[0.4, 0.4, 0.2], [0.2, 0.2, 0.6]])
    ranks = metrics.true_class_rank(probs, [1, 0])
    np.testing.assert_array_equal(ranks, [0, 1])
    assert metrics.top_k_accuracy(ranks, 1) == 0.5


def _direct_ece(conf: np.ndarray, correct: np.ndarray, n_bins: int) -> tuple[float, list[int]]:
    """ECE written out bin by bin with explicit (lower, upper] intervals."""
    edges = np.linspace(0, 1, n_bins + 1)
    ece, counts = 0.0, []
    for i in range(n_bins):
        inside = (conf > edges[i]) & (conf <= edges[i + 1])
        if i == 0:
            inside |= conf == 0
        counts.append(int(inside.sum()))
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return ece, counts


@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_ece_matches_direct_computation(predictions, n_bins):
    y_true, y_pred, probs = predictions
    conf = probs.max(axis=1)
    correct = y_true == y_pred
    rel = metrics.reliability(conf, correct, n_bins)
    ece, counts = _direct_ece(conf, correct.astype(float), n_bins)
    assert rel.ece == pytest.approx(ece, abs=1e-12)
    assert rel.count.tolist() == counts and rel.count.sum() == len(conf)


def test_ece_on_bin_edges_and_perfect_calibration():
    conf = np.array([0.0, 0.1, 0.2, 0.3, 0.7, 1.0])  # values exactly on edges go to the lower bin
    rel = metrics.reliability(conf, np.ones(6, bool), n_bins=10)
    assert rel.count.tolist() == [2, 1, 1, 0, 0, 0, 1, 0, 0, 1]
    # Half right at confidence 0.5: perfectly calibrated, ECE 0.
    assert metrics.reliability([0.5] * 4, [True, False, True, False], 10).ece == 0.0
    assert metrics.reliability([0.9, 0.9], [False, False], 10).ece == pytest.approx(0.9)


def test_bad_inputs_are_parameter_errors():
    with pytest.raises(ParameterError, match="y_pred"):
        metrics.confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ParameterError, match="same length"):
        metrics.confusion_matrix([0, 1], [0], 3)
    with pytest.raises(ParameterError, match="k"):
        metrics.top_k_accuracy(np.zeros(3), 0)
    with pytest.raises(ParameterError, match="n_bins"):
        metrics.reliability([0.5], [True], 0)


def test_no_predictions_is_a_parameter_error():
    # The evaluator and the baseline refuse an empty split before scoring; the metrics say so too.
    with pytest.raises(ParameterError, match="no predictions"):
        metrics.confusion_matrix([], [], 3)
    with pytest.raises(ParameterError, match="no predictions"):
        metrics.per_class([], [], 3)
    assert metrics.accuracy(np.zeros((3, 3), np.int64)) == 0.0
