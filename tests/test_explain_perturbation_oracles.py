"""Oracles for RISE, occlusion, Guided Backprop and Guided Grad-CAM against independent computations.

RISE: a numpy mean of the same seeded masks' eagerly computed probabilities, per pixel. Occlusion: an eager
Python loop over the patches. Guided Backprop: a hand-built ReLU network's gradient computed in
numpy with the gating rule. Guided Grad-CAM: the product of the two maps it combines.
"""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

from core.explain import get_method
from core.explain.guided import guided_model
from core.explain.rise import rise_masks


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def small_cnn() -> keras.Model:
    """A seeded 16x16 ReLU CNN with a softmax head (raw pixels in)."""
    keras.utils.set_random_seed(3)
    x = keras.Input((16, 16, 3))
    y = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(x)
    y = keras.layers.Conv2D(6, 3, activation="relu", name="conv1")(y)
    y = keras.layers.Conv2D(8, 3, name="conv2")(y)
    y = keras.layers.ReLU(max_value=6.0, name="relu6")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(4, name="logits")(y)
    return keras.Model(x, keras.layers.Activation("softmax")(y))


# ------------------------------------------------------------------------------------------------- RISE

def test_rise_equals_the_mean_score_of_the_masks_that_keep_each_pixel(small_cnn):
    image = _images(1, 16, seed=1)
    params = {"num_masks": 40, "resolution": 4, "p": 0.3, "batch": 16, "seed": 7}
    maps, idx, _ = get_method("rise").raw_maps(small_cnn, image, target=2, **params)
    masks = np.concatenate(list(rise_masks(40, (16, 16), 4, 0.3, 7, batch=40)))
    assert masks.shape == (40, 16, 16) and masks.min() >= 0.0 and masks.max() <= 1.0
    assert 0.15 < masks.mean() < 0.45  # about p of each mask is kept
    scores = small_cnn(image * masks[..., None], training=False).numpy()[:, 2].astype(np.float64)
    kept = masks.sum(axis=0, dtype=np.float64)
    assert kept.min() > 0  # every pixel is kept by some mask here
    expected = (scores[:, None, None] * masks).sum(axis=0) / kept
    assert idx[0] == 2
    np.testing.assert_allclose(maps[0], expected, rtol=1e-4, atol=1e-6)


def test_rise_masks_follow_the_seed_not_the_batch():
    a = np.concatenate(list(rise_masks(20, (16, 16), 4, 0.5, 1, batch=20)))
    b = np.concatenate(list(rise_masks(20, (16, 16), 4, 0.5, 1, batch=3)))
    c = np.concatenate(list(rise_masks(20, (16, 16), 4, 0.5, 2, batch=20)))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# -------------------------------------------------------------------------------------------- occlusion

@pytest.mark.parametrize("fill,value", [("grey", 127.5), ("zero", 0.0)])
def test_occlusion_equals_an_eager_loop(small_cnn, fill, value):
    image = _images(1, 16, seed=2)[0]
    patch, stride = 6, 4
    maps, idx, probs = get_method("occlusion").raw_maps(small_cnn, image[None], patch=patch, stride=stride,
                                                        fill=fill, batch=5)
    clean = small_cnn(image[None], training=False).numpy()[0]
    c = int(np.argmax(clean))
    drop, count = np.zeros((16, 16)), np.zeros((16, 16))
    for r in (0, 4, 8, 10):  # every 4 pixels, and one patch flush with the far edge (16 - 6)
        for col in (0, 4, 8, 10):
            hidden = image.copy()
            hidden[r:r + patch, col:col + patch] = value
            p = float(small_cnn(hidden[None], training=False).numpy()[0, c])
            drop[r:r + patch, col:col + patch] += clean[c] - p
            count[r:r + patch, col:col + patch] += 1
    assert idx[0] == c and probs[0] == pytest.approx(clean[c], rel=1e-5)
    np.testing.assert_allclose(maps[0], drop / count, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------------------- guided backprop

def _relu_net(nested: bool, activation: str = "relu") -> keras.Model:
    """Flatten -> Dense(8, act) -> Dense(6) -> ReLU6 -> Dense(3) -> softmax; the middle as a nested model."""
    keras.utils.set_random_seed(4)
    body_in = keras.Input((48,))
    h = keras.layers.Dense(8, activation=activation, name="d1")(body_in)
    h = keras.layers.Dense(6, name="d2")(h)
    h = keras.layers.ReLU(max_value=6.0, name="r2")(h)
    body = keras.Model(body_in, h, name="body")
    x = keras.Input((4, 4, 3))
    flat = keras.layers.Flatten()(x)
    if nested:
        h = body(flat)
    else:
        h = body.get_layer("r2")(body.get_layer("d2")(body.get_layer("d1")(flat)))
    logits = keras.layers.Dense(3, name="logits")(h)
    return keras.Model(x, keras.layers.Activation("softmax")(logits))


def _numpy_guided(model: keras.Model, image: np.ndarray, c: int) -> np.ndarray:
    """The guided gradient of logit ``c`` by hand: each ReLU passes grad where input > 0 and grad > 0."""
    models = [model, *(layer for layer in model.layers if isinstance(layer, keras.Model))]
    find = {layer.name: layer for m in models for layer in m.layers}
    (w1, b1), (w2, b2) = (find[n].get_weights() for n in ("d1", "d2"))
    w3 = find["logits"].get_weights()[0]
    x = image.reshape(-1).astype(np.float64)
    z1 = x @ w1 + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ w2 + b2
    g = w3[:, c].astype(np.float64)  # d logit_c / d a2
    g = g * ((z2 > 0) & (z2 < 6)) * (g > 0)  # ReLU6's gate, then the guided gate
    g = g @ w2.T
    g = g * (z1 > 0) * (g > 0)
    return (g @ w1.T).reshape(image.shape)


@pytest.mark.parametrize("nested", [False, True])
def test_guided_backprop_equals_numpy_gating_rule(nested):
    model = _relu_net(nested)
    images = np.random.default_rng(5).normal(0, 1, (3, 4, 4, 3)).astype(np.float32)
    method = get_method("guided_backprop")
    signed, idx = method.signed_attributions(model, images, target=1)
    expected = np.stack([_numpy_guided(model, im, 1) for im in images])
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(signed, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())
    maps, _, _ = method.raw_maps(model, images, target=1)
    np.testing.assert_allclose(maps, np.abs(expected).max(axis=-1), rtol=1e-4, atol=1e-6)
    plain, _ = get_method("saliency").signed_attributions(model, images, target=1)
    assert not np.allclose(plain, signed, atol=1e-6)  # the gate changed something
    # The forward pass is untouched: the guided copy gives the model's own probabilities.
    np.testing.assert_allclose(guided_model(model)(images).numpy(), model(images).numpy(), rtol=1e-6)


def test_guided_backprop_is_the_plain_gradient_without_relus():
    keras.utils.set_random_seed(6)
    x = keras.Input((4, 4, 3))
    h = keras.layers.Dense(5, activation="swish")(keras.layers.Flatten()(x))
    h = keras.layers.Dense(5, activation="gelu")(h)
    swish = keras.Model(x, keras.layers.Activation("softmax")(keras.layers.Dense(3)(h)))
    images = np.random.default_rng(7).normal(0, 1, (2, 4, 4, 3)).astype(np.float32)
    guided, _ = get_method("guided_backprop").signed_attributions(swish, images, target=0)
    plain, _ = get_method("saliency").signed_attributions(swish, images, target=0)
    np.testing.assert_allclose(guided, plain, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------------- guided Grad-CAM

def test_guided_gradcam_is_guided_backprop_times_upsampled_gradcam(small_cnn):
    images = _images(2, 16, seed=3)
    cams, idx, _ = get_method("gradcam").raw_maps(small_cnn, images, layer="conv1", target=3)
    guided, _, _ = get_method("guided_backprop").raw_maps(small_cnn, images, target=3)
    product, pidx, _ = get_method("guided_gradcam").raw_maps(small_cnn, images, layer="conv1", target=3)
    up = np.stack([cv2.resize(c, (16, 16), interpolation=cv2.INTER_LINEAR) for c in cams])
    assert cams.shape == (2, 14, 14) and list(pidx) == list(idx) == [3, 3]
    np.testing.assert_allclose(product, guided * up, rtol=1e-5, atol=1e-8)
    assert np.abs(product).max() > 0
