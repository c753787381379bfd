"""Oracle tests: core.evaluate.metrics against scikit-learn and a direct computation of calibration."""

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


def test_confusion_matrix_and_accuracy_match_sklearn(predictions):
    y_true, y_pred, _ = predictions
    cm = metrics.confusion_matrix(y_true, y_pred, C)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=range(C)))
    assert metrics.accuracy(cm) == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
    assert cm[:, NEVER_PREDICTED].sum() == 0 and cm[ABSENT].sum() == 0


def test_per_class_matches_sklearn_with_zero_division(predictions):
    y_true, y_pred, _ = predictions
    pc = metrics.per_class(metrics.confusion_matrix(y_true, y_pred, C))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=range(C), zero_division=0)
    np.testing.assert_allclose(pc.precision, precision, atol=1e-12)
    np.testing.assert_allclose(pc.recall, recall, atol=1e-12)
    np.testing.assert_allclose(pc.f1, f1, atol=1e-12)
    np.testing.assert_array_equal(pc.support, support)
    assert pc.precision[NEVER_PREDICTED] == 0 and pc.recall[ABSENT] == 0 and pc.f1[ABSENT] == 0
    averages = pc.averages()
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=range(C), average=average, zero_division=0)
        assert averages[average] == pytest.approx({"precision": p, "recall": r, "f1": f}, abs=1e-12)


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


def test_empty_matrix_scores_zero():
    cm = metrics.confusion_matrix([], [], 3)
    assert cm.shape == (3, 3) and metrics.accuracy(cm) == 0.0
    pc = metrics.per_class(cm)
    assert not pc.f1.any() and pc.averages()["weighted"]["f1"] == 0.0
