"""Empty heatmaps: why Grad-CAM was all zero on the lesson's small CNN, and how an empty map is flagged.

small_cnn ends in Flatten + Dense, so each position has its own weights; Grad-CAM's gradient averaged
over the map cancels there and the ReLU left nothing. Grad-CAM now keeps each position's gradient on
such heads (HiResCAM); the seeded lesson run below must show the watermark shortcut with it.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from core.data import builtin, shapes
from core.data.dataset import open_dataset
from core.explain import explain, method_names
from core.explain.gradcam import GradCAM, flattens_positions, hirescam
from core.explain.layers import feature_model, resolve_layer
from core.images import load_image
from core.train.engine import train
from core.trust.ground_truth import energy_in_mask
from core.zoo import load_model


@pytest.fixture(scope="module")
def lesson_run(tmp_path_factory):
    """The lesson's own recipe (dashboard.views.lesson_train.lesson_config), seeded, on a small dataset."""
    from dashboard.views.lesson_train import lesson_config

    folder = builtin.materialise("shapes-shortcut", per_class=30)
    config = lesson_config(str(folder), 3, "none").with_changes(seed=0)
    run = train(config, runs_root=tmp_path_factory.mktemp("runs")).run_dir
    dataset = open_dataset(folder)
    circle = dataset.class_names.index(builtin.WATERMARK_CLASS)
    marked = np.stack([load_image(it.path) for it in dataset.items("val") if it.label == circle])
    return load_model(str(run)), marked.astype(np.float32), circle


def test_gradcam_shows_the_watermark_on_the_lesson_model(lesson_run):
    loaded, marked, circle = lesson_run
    size = marked.shape[1]
    x0, y0, x1, y1 = shapes.watermark_box(size)
    box = np.zeros((size, size), bool)
    box[y0:y1, x0:x1] = True
    assert flattens_positions(loaded.model)
    exps = explain(loaded, marked, "gradcam", target=circle)  # the default layer, as the lesson uses it
    assert not any(e.empty for e in exps)
    share = np.mean([energy_in_mask(e.heatmap, box) for e in exps])
    assert share > 3 * box.mean(), (share, box.mean())  # far more than a shape-looking map would put there


def test_pooled_heads_keep_classic_gradcam():
    """On a globally pooled head the gradient is the same at every position: per-position weights are
    exactly Grad-CAM's averaged ones, so only Flatten heads change."""
    pixels = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv", activation="relu")(pixels)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(pixels, keras.layers.Dense(3, activation="softmax", name="probabilities")(x))
    assert not flattens_positions(model)
    method = GradCAM()
    assert method.combine_for(model) == method.combine
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    grad_model = feature_model(model, resolve_layer(model, "conv"))
    with tf.GradientTape() as tape:
        activations, _, logits = grad_model(images, training=False)
        score = logits[:, 1]
    grads = tape.gradient(score, activations)
    np.testing.assert_allclose(hirescam(activations, grads).numpy(),
                               GradCAM().combine(activations, grads).numpy(), rtol=1e-4, atol=1e-5)


# What each kind of method's note suggests trying (core.explain.base and each method's empty_hint).
ADVICE = ("Layer-CAM", "Integrated Gradients", "more of them", "a larger patch")


@pytest.mark.parametrize("method", method_names())
def test_an_empty_map_is_flagged_with_what_to_try(method):
    """A network whose weights are all zero has no evidence anywhere: every registered method's map is empty
    and says so, with something to try."""
    pixels = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv", kernel_initializer="zeros")(pixels)
    x = keras.layers.Flatten()(x)
    model = keras.Model(pixels, keras.layers.Dense(3, activation="softmax", name="probabilities",
                                                   kernel_initializer="zeros")(x))
    rng = np.random.default_rng(0)
    (exp,) = explain(model, rng.uniform(0, 255, (1, 16, 16, 3)).astype(np.float32), method, target=1)
    assert exp.empty
    note = exp.empty_note
    assert note.startswith("Empty map") and any(advice in note for advice in ADVICE), note
    assert exp.to_json()["empty"] is True


def test_a_map_with_evidence_is_not_flagged(lesson_run):
    loaded, marked, circle = lesson_run
    (exp,) = explain(loaded, marked[:1], "layercam", target=circle)
    assert not exp.empty and exp.empty_note is None


def test_an_empty_perturbation_map_says_what_hiding_regions_found():
    """RISE and occlusion compute no gradient: their empty map is read in their own terms."""
    from core.explain.base import Explanation

    zeros = np.zeros((4, 4), np.float32)
    for method, advice in (("rise", "more of them"), ("occlusion", "a larger patch")):
        note = Explanation(zeros, method, None, 3, 0.9, 1.0, "tabby").empty_note
        assert note.startswith("Empty map: hiding parts of the image never lowered the score of 'tabby'"), note
        assert advice in note and "gradient of" not in note
    assert "gradient of 'tabby' is zero" in Explanation(zeros, "saliency", None, 3, 0.9, 1.0, "tabby").empty_note
