"""Oracle tests for HiResCAM, XGrad-CAM, EigenCAM and Ablation-CAM: each compiled method against an
independent eager / numpy computation of its formula on a tiny seeded model."""

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
AFTER = {"conv2": ["conv3", "gap", "logits"], "conv3": ["gap", "logits"]}  # the layers after each


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


def eager(model, images, layer, class_index):
    """Feature maps, their gradients and the class scores, by a plain eager GradientTape."""
    probe = keras.Model(model.inputs[0], [model.get_layer(layer).output, model.get_layer("logits").output])
    with tf.GradientTape() as tape:
        activations, logits = probe(tf.constant(images), training=False)
        score = logits[:, class_index]
    return activations.numpy(), tape.gradient(score, activations).numpy(), score.numpy()


def close(maps, expected):
    np.testing.assert_allclose(maps, expected, rtol=1e-3, atol=1e-5 * float(np.abs(expected).max()))
    assert expected.max() > 0  # the oracle is not trivially zero


@pytest.mark.parametrize("layer", ["conv2", "conv3"])
def test_hirescam_is_gradient_times_activation(model, images, layer):
    a, g, _ = eager(model, images, layer, 2)
    maps, idx, _ = get_method("hirescam").raw_maps(model, images, layer=layer, target=2)
    close(maps, np.maximum((a * g).sum(axis=-1), 0))
    assert list(idx) == [2, 2, 2]


@pytest.mark.parametrize("layer", ["conv2", "conv3"])
def test_xgradcam_closed_form(model, images, layer):
    a, g, _ = eager(model, images, layer, 1)
    a64, g64 = a.astype(np.float64), g.astype(np.float64)
    weights = (g64 * a64).sum(axis=(1, 2)) / (a64.sum(axis=(1, 2)) + 1e-7)
    expected = np.maximum(np.einsum("nhwk,nk->nhw", a64, weights), 0)
    close(get_method("xgradcam").raw_maps(model, images, layer=layer, target=1)[0], expected)


@pytest.mark.parametrize("layer", ["conv2", "conv3"])
def test_eigencam_is_the_first_principal_component(model, images, layer):
    a, _, _ = eager(model, images, layer, 0)
    expected = []
    for acts in a.astype(np.float64):
        flat = acts.reshape(-1, acts.shape[-1])
        centred = flat - flat.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        projection = centred @ vt[0]
        mean = flat.mean(axis=1)
        if np.corrcoef(projection, mean)[0, 1] < 0:
            projection = -projection
        expected.append(np.maximum(projection, 0).reshape(acts.shape[:2]))
    maps, _, _ = get_method("eigencam").raw_maps(model, images, layer=layer)
    np.testing.assert_allclose(maps, np.stack(expected), rtol=1e-3, atol=1e-4 * np.max(expected))
    # Class-agnostic: another class gives the same map.
    np.testing.assert_allclose(get_method("eigencam").raw_maps(model, images, layer=layer, target=4)[0], maps)


@pytest.mark.parametrize("layer,batch", [("conv2", 5), ("conv3", 64)])
def test_ablationcam_equals_an_eager_loop_over_channels(model, images, layer, batch):
    a, _, y = eager(model, images, layer, 3)
    expected = []
    for n in range(len(images)):
        weights = []
        for k in range(a.shape[-1]):
            x = a[n:n + 1].copy()
            x[..., k] = 0.0  # channel k zeroed, the rest of the network run eagerly on it
            for name in AFTER[layer]:
                x = model.get_layer(name)(x)
            weights.append((y[n] - float(np.asarray(x)[0, 3])) / y[n])
        expected.append(np.maximum((a[n] * np.array(weights, np.float32)).sum(axis=-1), 0))
    maps, _, _ = get_method("ablationcam").raw_maps(model, images, layer=layer, target=3, ablation_batch=batch)
    close(maps, np.stack(expected))


def test_ablationcam_reports_progress_per_batch(model, images):
    heard = []
    explain(model, images[:2], "ablationcam", layer="conv3", progress=lambda f, t: heard.append((f, t)),
            ablation_batch=6)
    # 16 channels in batches of 6: three calls per image, two images.
    assert len(heard) == 6 and heard[-1][0] == pytest.approx(1.0)
    assert [f for f, _ in heard] == sorted(f for f, _ in heard)
    assert "ablated 6 of 16 channels of image 1 of 2" in heard[0][1]
