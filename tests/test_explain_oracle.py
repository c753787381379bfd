"""Oracle tests: the compiled explanation methods against direct eager computations of the same maths."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from core.explain import explain, get_method  # noqa: E402

SIZE = 32
NUM_CLASSES = 5


@pytest.fixture(scope="module")
def model() -> keras.Model:
    """A tiny flat classifier per the model contract (raw pixels in, probabilities out)."""
    keras.utils.set_random_seed(7)
    x = keras.Input((SIZE, SIZE, 3), name="pixels")
    y = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    y = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(y)
    y = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2")(y)
    y = keras.layers.Conv2D(16, 3, activation="relu", name="conv3")(y)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(y)
    return keras.Model(x, keras.layers.Activation("softmax", name="probabilities")(logits))


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(3).uniform(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)


def eager_activations_and_grads(model, images, layer, class_index):
    """Feature maps, their gradients and the class indices, by a plain eager GradientTape."""
    probe = keras.Model(model.inputs[0], [model.get_layer(layer).output, model.get_layer("logits").output])
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        activations, logits = probe(x, training=False)
        idx = tf.argmax(logits, -1) if class_index is None else tf.fill([len(images)], class_index)
        score = tf.gather(logits, idx, batch_dims=1)
    return activations.numpy(), tape.gradient(score, activations).numpy(), idx.numpy()


def eager_input_grads(model, images, class_index=None):
    x = tf.constant(images)
    logits_layer = keras.Model(model.inputs[0], model.get_layer("logits").output)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = logits_layer(x, training=False)
        idx = tf.argmax(logits, -1) if class_index is None else tf.fill([len(images)], class_index)
        score = tf.gather(logits, idx, batch_dims=1)
    return tape.gradient(score, x).numpy(), logits.numpy()


def tf_resize_and_scale(maps: np.ndarray) -> np.ndarray:
    """An independent resize (TensorFlow's bilinear) and min-max scaling of raw maps."""
    up = tf.image.resize(maps[..., None], (SIZE, SIZE), method="bilinear").numpy()[..., 0]
    lo = up.min(axis=(1, 2), keepdims=True)
    hi = up.max(axis=(1, 2), keepdims=True)
    return (up - lo) / (hi - lo)


def gradcam_pp_numpy(a, g):
    g2, g3 = g**2, g**3
    denom = 2 * g2 + a.sum(axis=(1, 2), keepdims=True) * g3
    alphas = np.where(g != 0, g2 / np.where(denom != 0, denom, 1), 0)
    weights = (alphas * np.maximum(g, 0)).sum(axis=(1, 2))
    return np.maximum(np.einsum("nhwc,nc->nhw", a, weights), 0)


CAM_FORMULAS = {
    "gradcam": lambda a, g: np.maximum(np.einsum("nhwc,nc->nhw", a, g.mean(axis=(1, 2))), 0),
    "gradcam++": gradcam_pp_numpy,
    "layercam": lambda a, g: np.maximum((np.maximum(g, 0) * a).sum(-1), 0),
}


@pytest.mark.parametrize("method", sorted(CAM_FORMULAS))
@pytest.mark.parametrize("layer,target", [("conv3", None), ("conv2", 3), ("conv1", 0)])
def test_gradient_cams_equal_eager_tape(model, images, method, layer, target):
    activations, grads, idx = eager_activations_and_grads(model, images, layer, target)
    expected = CAM_FORMULAS[method](activations, grads)
    maps, indices, probs = get_method(method).raw_maps(model, images, layer=layer, target=target)
    np.testing.assert_array_equal(indices, idx)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())
    np.testing.assert_allclose(probs, model(images).numpy()[np.arange(len(images)), idx], rtol=1e-5)
    # The public heatmaps are the same maps, resized to the input and scaled to [0, 1].
    heatmaps = np.stack([e.heatmap for e in explain(model, images, method, layer=layer, target=target)])
    np.testing.assert_allclose(heatmaps, tf_resize_and_scale(expected), atol=1e-4)


def test_saliency_equals_eager_gradient(model, images):
    grads, _ = eager_input_grads(model, images, class_index=2)
    maps, _, _ = get_method("saliency").raw_maps(model, images, target=2)
    np.testing.assert_allclose(maps, np.abs(grads).max(-1), rtol=1e-4, atol=1e-7)


def test_smoothgrad_without_noise_is_saliency(model, images):
    plain = get_method("saliency").raw_maps(model, images)[0]
    smooth = get_method("smoothgrad").raw_maps(model, images, samples=3, noise=0.0)[0]
    np.testing.assert_allclose(smooth, plain, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("baseline,value", [("black", 0.0), ("grey", 127.5)])
def test_integrated_gradients_completeness(model, images, baseline, value):
    attributions, idx = get_method("integrated_gradients").signed_attributions(
        model, images, steps=128, baseline=baseline)
    _, logits = eager_input_grads(model, images)
    _, base_logits = eager_input_grads(model, np.full_like(images, value))
    rows = np.arange(len(images))
    expected = logits[rows, idx] - base_logits[rows, idx]
    # Sum of attributions == score(image) - score(baseline), up to the trapezoidal rule's error.
    np.testing.assert_allclose(attributions.sum(axis=(1, 2, 3)), expected, rtol=0.02, atol=1e-3)


def test_integrated_gradients_on_a_linear_path_is_exact():
    """For a linear model the path integral is exact even with 2 steps: attribution = (x - 0) * w."""
    x = keras.Input((4, 4, 3))
    flat = keras.layers.Flatten()(x)
    dense = keras.layers.Dense(3, name="logits")
    model = keras.Model(x, keras.layers.Activation("softmax", name="probabilities")(dense(flat)))
    image = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype(np.float32)
    ig = get_method("integrated_gradients")
    attributions, idx = ig.signed_attributions(model, image, target=1, steps=2)
    kernel = dense.kernel.numpy()[:, 1].reshape(4, 4, 3)
    np.testing.assert_allclose(attributions[0], image[0] * kernel, rtol=1e-4, atol=1e-4)


def test_scorecam_equals_eager_recomputation(model, images):
    cap = 5
    probe = keras.Model(model.inputs[0], [model.get_layer("conv2").output, model.get_layer("logits").output])
    activations, logits = (t.numpy() for t in probe(images))
    expected = []
    for image, a, c in zip(images, activations, logits.argmax(-1), strict=True):
        kept = a[..., np.argsort(-a.reshape(-1, a.shape[-1]).var(0), kind="stable")[:cap]]
        masks = tf.image.resize(kept[None], (SIZE, SIZE)).numpy()[0]  # (H, W, k)
        lo, hi = masks.min((0, 1)), masks.max((0, 1))
        masks = np.where(hi > lo, (masks - lo) / np.where(hi > lo, hi - lo, 1), 0)
        masked = image[None] * np.moveaxis(masks, -1, 0)[..., None]
        scores = probe(masked)[1].numpy()[:, c]
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        expected.append(np.maximum((kept * weights).sum(-1), 0))
    maps, _, _ = get_method("scorecam").raw_maps(model, images, layer="conv2", max_channels=cap)
    np.testing.assert_allclose(maps, np.stack(expected), rtol=1e-3, atol=1e-5)


def test_gradcam_matches_tf_keras_vis(model, images):
    """An independent implementation: tf-keras-vis Gradcam's raw (unexpanded, unnormalised) map."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    cam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    theirs = cam(CategoricalScore([1] * len(images)), images, penultimate_layer="conv3", expand_cam=False,
                 normalize_cam=False)
    ours, _, _ = get_method("gradcam").raw_maps(model, images, layer="conv3", target=1)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=1e-6)
