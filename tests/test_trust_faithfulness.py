"""Deletion and insertion curves: a model that only looks at one region, and an oracle for the maths."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from core.errors import ParameterError, UnknownNameError
from core.trust.faithfulness import (
    auc,
    deletion_insertion,
    importance_ranks,
    make_baseline,
    naive_curves,
    random_heatmap,
    step_counts,
)

SIZE = 32
REGION = (slice(0, 8), slice(0, 8))  # the only pixels the model reads: the top-left 8x8 corner


@pytest.fixture(scope="module")
def region_model() -> keras.Model:
    """Class 0's logit rises with the brightness of the top-left corner; nothing else matters."""
    pixels = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Cropping2D(((0, SIZE - 8), (0, SIZE - 8)))(pixels)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(2, name="logits")
    x = dense(x)
    model = keras.Model(pixels, keras.layers.Activation("softmax", name="probabilities")(x))
    dense.set_weights([np.array([[10 / 765, 0]] * 3, np.float32), np.array([-5.0, 0.0], np.float32)])
    return model


@pytest.fixture(scope="module")
def bright_corner() -> np.ndarray:
    image = np.random.default_rng(0).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)
    image[REGION] = 255.0
    return image


def _region_heatmap() -> np.ndarray:
    heat = np.zeros((SIZE, SIZE), np.float32)
    heat[REGION] = 1.0
    return heat


@pytest.mark.parametrize("baseline", ["black", "mean"])
def test_heatmap_of_the_region_beats_random_and_inverted(region_model, bright_corner, baseline):
    good = deletion_insertion(region_model, bright_corner, _region_heatmap(), 0, baseline, steps=32)
    inverted = deletion_insertion(region_model, bright_corner, 1.0 - _region_heatmap(), 0, baseline, steps=32)
    scores = [deletion_insertion(region_model, bright_corner, random_heatmap((SIZE, SIZE), seed), 0,
                                 baseline, 32) for seed in range(3)]
    assert good.deletion[0] > 0.95  # the model is confident on the bright corner
    for other in [inverted, *scores]:
        assert good.deletion_auc < other.deletion_auc - 0.1
        assert good.insertion_auc > other.insertion_auc
        assert good.score > other.score
    assert good.insertion_auc > inverted.insertion_auc + 0.2
    assert inverted.deletion_auc > 0.8  # the corner goes last: the probability holds almost to the end


def _oracle(model, image, heatmap, class_index, base, steps):
    """Independent computation: sort, mask, predict one image at a time, trapezoids by numpy."""
    order = np.argsort(-heatmap.ravel(), kind="stable")  # values are distinct: no ties
    n = heatmap.size
    xs, dels, ins = [], [], []
    for k in range(steps + 1):
        count = int(round(k * n / steps))
        removed = np.zeros(n, bool)
        removed[order[:count]] = True
        removed = removed.reshape(heatmap.shape)[..., None]
        dels.append(float(model.predict(np.where(removed, base, image)[None], verbose=0)[0, class_index]))
        ins.append(float(model.predict(np.where(removed, image, base)[None], verbose=0)[0, class_index]))
        xs.append(count / n)
    return np.trapezoid(dels, xs), np.trapezoid(ins, xs), np.array(dels), np.array(ins)


@pytest.mark.parametrize("baseline,steps", [("blur", 10), ("black", 7), ("mean", 33)])
def test_auc_matches_a_naive_oracle(region_model, bright_corner, baseline, steps):
    heat = np.random.default_rng(1).random((SIZE, SIZE)).astype(np.float32)  # distinct values
    heat[REGION] += 0.5
    curves = deletion_insertion(region_model, bright_corner, heat, 0, baseline, steps)
    d_auc, i_auc, dels, ins = _oracle(region_model, bright_corner, heat, 0,
                                      make_baseline(bright_corner, baseline), steps)
    np.testing.assert_allclose(curves.deletion, dels, atol=1e-5)
    np.testing.assert_allclose(curves.insertion, ins, atol=1e-5)
    assert curves.deletion_auc == pytest.approx(d_auc, abs=1e-6)
    assert curves.insertion_auc == pytest.approx(i_auc, abs=1e-6)
    slow = naive_curves(region_model, bright_corner, heat, 0, baseline, steps)
    assert slow.deletion_auc == pytest.approx(curves.deletion_auc, abs=1e-5)
    assert slow.insertion_auc == pytest.approx(curves.insertion_auc, abs=1e-5)


def test_helpers():
    assert auc(np.array([0.0, 0.5, 1.0]), np.array([1.0, 1.0, 0.0])) == pytest.approx(0.75)
    assert list(step_counts(10, 4)) == [0, 2, 5, 8, 10]
    ranks = importance_ranks(np.array([[0.1, 0.9], [0.5, 0.5]]))
    assert ranks[0, 1] == 0 and ranks[0, 0] == 3 and {ranks[1, 0], ranks[1, 1]} == {1, 2}
    assert sorted(importance_ranks(np.zeros((4, 4))).ravel()) == list(range(16))
    image = np.full((8, 8, 3), 100.0, np.float32)
    image[0, 0] = 200.0
    assert make_baseline(image, "black").max() == 0
    np.testing.assert_allclose(make_baseline(image, "mean")[3, 3], image.mean(axis=(0, 1)), rtol=1e-6)


def test_nonsense_is_rejected(region_model, bright_corner):
    heat = _region_heatmap()
    with pytest.raises(UnknownNameError, match="baseline"):
        deletion_insertion(region_model, bright_corner, heat, baseline="grey")
    with pytest.raises(ParameterError, match="steps"):
        deletion_insertion(region_model, bright_corner, heat, steps=1)
    with pytest.raises(ParameterError, match="class_index"):
        deletion_insertion(region_model, bright_corner, heat, class_index=5)
    with pytest.raises(ParameterError, match="heatmap"):
        deletion_insertion(region_model, bright_corner, np.full((4, 4), np.nan))
    # A heatmap at another resolution is resized to the model's input.
    small = deletion_insertion(region_model, bright_corner, heat[::4, ::4], 0, "black", 8)
    assert small.deletion_auc < 0.2


def test_a_pause_runs_before_every_batch_and_is_not_counted(region_model, bright_corner):
    from core.trust.faithfulness import STEP_BATCH

    heat = _region_heatmap()
    plain = deletion_insertion(region_model, bright_corner, heat, 0, "blur", steps=16)
    calls = []

    def pause():
        calls.append(time.perf_counter())
        time.sleep(0.05)

    started = time.perf_counter()
    paused = deletion_insertion(region_model, bright_corner, heat, 0, "blur", steps=16, pause=pause)
    wall_ms = (time.perf_counter() - started) * 1000.0
    assert len(calls) == -(-len(step_counts(heat.size, 16)) // STEP_BATCH)  # one per batched call
    np.testing.assert_array_equal(paused.deletion, plain.deletion)
    np.testing.assert_array_equal(paused.insertion, plain.insertion)
    assert paused.ms <= wall_ms - 50.0 * len(calls) + 1.0  # the time spent paused is left out


def test_average_drop_and_increase_in_confidence_match_an_oracle(region_model, bright_corner):
    """Chattopadhyay et al.'s definitions, computed independently: predict on image * (map / max)."""
    def prob(image):
        return float(region_model.predict(image[None], verbose=0)[0, 0])

    clean = prob(bright_corner)
    for heat in (_region_heatmap() * 0.5, 1.0 - _region_heatmap(), np.full((SIZE, SIZE), 0.3, np.float32)):
        curves = deletion_insertion(region_model, bright_corner, heat, 0, "black", steps=8)
        shown = prob(bright_corner * (heat / heat.max())[..., None])
        assert curves.clean == pytest.approx(clean, abs=1e-6)
        assert curves.shown == pytest.approx(shown, abs=1e-5)
        assert curves.drop == pytest.approx(max(0.0, clean - shown) / clean, abs=1e-5)
        assert curves.increase == (shown > clean)
        assert curves.relative_deletion == pytest.approx(np.trapezoid(curves.deletion, curves.fractions) / clean)
        assert curves.relative_insertion == pytest.approx(np.trapezoid(curves.insertion, curves.fractions) / clean)
    # The corner kept at full brightness keeps the class; the inverted map blacks the corner out.
    kept = deletion_insertion(region_model, bright_corner, _region_heatmap(), 0, "black", steps=8)
    dropped = deletion_insertion(region_model, bright_corner, 1.0 - _region_heatmap(), 0, "black", steps=8)
    assert kept.drop < 0.01 and dropped.drop > 0.5
    # An all-zero map shows nothing: the black image's probability.
    empty = deletion_insertion(region_model, bright_corner, np.zeros((SIZE, SIZE), np.float32), 0, "black", 4)
    assert empty.shown == pytest.approx(prob(np.zeros_like(bright_corner)), abs=1e-5)
    slow = naive_curves(region_model, bright_corner, _region_heatmap(), 0, "black", 8)
    assert slow.shown == pytest.approx(kept.shown, abs=1e-5)
    row = kept.to_json()
    assert {"clean_prob", "relative_deletion", "relative_insertion", "shown_prob", "drop", "increase"} <= set(row)
