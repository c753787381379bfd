"""Feature maps: the layer's own output, its most active channels, the display grid, the cache."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from core import compiled
from core.errors import ParameterError, UnknownNameError
from core.inspect.activations import feature_maps, grid, layer_activations


@pytest.fixture(scope="module")
def cnn():
    from core.zoo.scratch import small_cnn

    keras.utils.set_random_seed(0)
    return small_cnn(3)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("layer", ["conv1", "pool2", "conv3"])
def test_feature_maps_have_the_layer_shape_and_values(cnn, image, layer):
    fm = feature_maps(cnn, image, layer, top=5)
    expected_shape = tuple(cnn.get_layer(layer).output.shape[1:])
    assert fm.shape == expected_shape and fm.layer == layer
    # Oracle: the same layer computed by an independent eager sub-model.
    sub = keras.Model(cnn.inputs[0], cnn.get_layer(layer).output)
    direct = sub(image[None].astype(np.float32)).numpy()[0]
    np.testing.assert_allclose(fm.activations, direct, rtol=1e-5, atol=1e-5)
    means = direct.mean(axis=(0, 1))
    assert [c.index for c in fm.channels] == list(np.argsort(-means, kind="stable")[:5])
    for c in fm.channels:
        assert c.mean == pytest.approx(means[c.index], rel=1e-5, abs=1e-6)
        assert c.max == pytest.approx(direct[:, :, c.index].max(), rel=1e-5, abs=1e-6)
    assert fm.maps.shape == (5, *expected_shape[:2]) and fm.maps.dtype == np.float32
    assert fm.maps.min() >= 0.0 and fm.maps.max() <= 1.0
    assert fm.labels()[0].startswith(f"#{fm.channels[0].index} ")


def test_top_is_capped_by_the_channels(cnn, image):
    assert len(feature_maps(cnn, image, "conv1", top=100).channels) == 32


def test_images_of_another_size_are_resized(cnn, image):
    big = np.kron(image, np.ones((2, 2, 1), np.uint8))  # 128 x 128, same picture
    fm = feature_maps(cnn, big, "conv2", top=3)
    assert fm.shape == (32, 32, 64)


def test_sub_model_is_compiled_once_per_layer(image):
    from core.zoo.scratch import lenet5

    model = lenet5(2)
    small = np.zeros((32, 32, 3), np.uint8)
    feature_maps(model, small, "c1")
    feature_maps(model, small, "c1")
    assert compiled.cache_size(model) == 1
    feature_maps(model, small, "c3")
    assert compiled.cache_size(model) == 2
    batch = layer_activations(model, np.zeros((3, 32, 32, 3), np.float32), "c3")
    assert batch.shape == (3, 10, 10, 16) and compiled.cache_size(model) == 2


def test_loaded_model_and_nested_backbone():
    from core.zoo.loaded import LoadedModel

    pixels = keras.Input((48, 48, 3))
    backbone = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(48, 48, 3),
                                              alpha=0.35)
    x = keras.layers.GlobalAveragePooling2D()(backbone(pixels))
    model = keras.Model(pixels, keras.layers.Dense(2, activation="softmax")(x))
    loaded = LoadedModel(name="nested", model=model, input_size=(48, 48), class_names=["a", "b"],
                         default_cam_layer="out_relu", source="test")
    fm = feature_maps(loaded, np.zeros((48, 48, 3), np.uint8), "block_3_expand_relu", top=4)
    assert fm.shape == tuple(backbone.get_layer("block_3_expand_relu").output.shape[1:])


def test_errors(cnn, image):
    with pytest.raises(UnknownNameError):
        feature_maps(cnn, image, "conv9")
    with pytest.raises(ParameterError, match="spatial"):
        feature_maps(cnn, image, "fc1")
    with pytest.raises(ParameterError, match="'top'"):
        feature_maps(cnn, image, "conv1", top=0)
    with pytest.raises(ParameterError, match="'image'"):
        feature_maps(cnn, image[None], "conv1")


def test_grid_layout():
    maps = np.random.default_rng(1).random((5, 7, 7)).astype(np.float32)
    out = grid(maps, cols=3, tile=70, colormap=None, gap=2)
    # 7x7 cells enlarged 10x; 2 rows of 3 tiles.
    assert out.dtype == np.uint8 and out.shape == (2 * 70 + 2, 3 * 70 + 2 * 2, 3)
    # Nearest-neighbour: each cell is a flat 10x10 square holding the map's value.
    np.testing.assert_array_equal(out[0:10, 0:10, 0], np.round(maps[0, 0, 0] * 255))
    np.testing.assert_array_equal(out[72 + 10 * 3, 74 + 10 * 4, 0], np.round(maps[4, 3, 4] * 255))
    assert (out[70:72] == 255).all()  # the gap between rows is white
    coloured = grid(maps, cols=5, labels=[str(i) for i in range(5)])
    assert coloured.shape[0] > 7 * (96 // 7) and coloured.shape[1] == 5 * 91 + 4 * 4


def test_grid_of_feature_maps_and_errors(cnn, image):
    fm = feature_maps(cnn, image, "conv3", top=6)
    out = grid(fm, cols=3)
    assert out.ndim == 3 and out.dtype == np.uint8
    with pytest.raises(ParameterError, match="'maps'"):
        grid(np.zeros((4, 4)))
    with pytest.raises(ParameterError, match="'labels'"):
        grid(fm.maps, labels=["a"])
    with pytest.raises(ParameterError, match="'colormap'"):
        grid(fm.maps, colormap="nope")


def test_grid_labels_are_never_cut(cnn, image):
    import cv2

    # A 56x56 map stays 56 px wide; its label "#15  -0.12" is wider and used to be cut to "#15  -0.".
    maps = np.random.default_rng(2).random((3, 56, 56)).astype(np.float32)
    labels = ["#15  -0.12", "#7  0.50", "#1203  12.25"]
    out = grid(maps, cols=3, labels=labels, colormap=None, gap=4)
    widest = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1)[0][0] for t in labels)
    assert widest > 56
    cell = (out.shape[1] + 4) // 3 - 4
    assert cell >= widest
    for k, text in enumerate(labels):  # each label is drawn whole, exactly as putText draws the full text
        expected = np.full((16, cell, 3), 255, np.uint8)
        cv2.putText(expected, text, (1, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        x = k * (cell + 4)
        np.testing.assert_array_equal(out[56:72, x:x + cell], expected)


def test_progress_names_the_sub_model_then_the_computation(cnn, image):
    heard = []
    fm = feature_maps(cnn, image, "conv2", top=4, progress=lambda f, t: heard.append((f, t)))
    assert heard == [(0.0, "Building the sub-model for conv2"),
                     (0.5, "Computing the activations of conv2 for 1 image"),
                     (1.0, "Computed the activations of conv2")]
    quiet = feature_maps(cnn, image, "conv2", top=4)  # nobody listening changes nothing
    np.testing.assert_array_equal(quiet.activations, fm.activations)
