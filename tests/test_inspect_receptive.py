"""Receptive fields checked against the gradient: the pixels a position depends on are those it sees."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from core.errors import ParameterError, UnknownNameError
from core.inspect.receptive import receptive_field, region_path


def _chain() -> keras.Model:
    """Linear convs and average pools (max-pool gradients would reach one pixel per window only)."""
    keras.utils.set_random_seed(0)
    pixels = keras.Input((37, 30, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(pixels)
    x = keras.layers.AveragePooling2D(2, name="p1")(x)
    x = keras.layers.Conv2D(4, (3, 5), strides=2, padding="same", name="c2")(x)  # asymmetric SAME padding
    x = keras.layers.ZeroPadding2D(((1, 0), (2, 1)), name="pad")(x)
    x = keras.layers.Conv2D(4, 3, dilation_rate=2, padding="valid", name="c3")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    return keras.Model(pixels, x)


def _branches() -> keras.Model:
    """Two paths of different reach meeting in an Add, as in a residual block, then upsampling."""
    keras.utils.set_random_seed(1)
    pixels = keras.Input((32, 32, 3), name="pixels")
    a = keras.layers.Conv2D(4, 7, strides=2, padding="same", name="wide")(pixels)
    b = keras.layers.Conv2D(4, 1, strides=2, name="narrow")(pixels)
    x = keras.layers.Add(name="add")([a, b])
    x = keras.layers.Conv2D(4, 3, padding="valid", name="after")(x)
    x = keras.layers.UpSampling2D(2, name="up")(x)
    return keras.Model(pixels, x)


def _gradient_support(model: keras.Model, layer: str, row: int, col: int) -> tuple[tuple, tuple] | None:
    """Rows and cols where d(sum of channels at (row, col)) / d(input) is non-zero (None: nowhere)."""
    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    x = tf.constant(np.random.default_rng(0).normal(size=(1, *model.inputs[0].shape[1:])).astype(np.float64),
                    dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(sub(x)[0, row, col, :])
    grad = np.abs(tape.gradient(y, x).numpy()[0]).sum(axis=-1)
    rows, cols = np.nonzero(grad)
    if rows.size == 0:
        return None
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


@pytest.mark.parametrize("build,layer", [(_chain, "c2"), (_chain, "pad"), (_chain, "dw"),
                                         (_branches, "add"), (_branches, "up")])
def test_region_matches_gradient_support(build, layer):
    model = build()
    h, w = model.get_layer(layer).output.shape[1:3]
    positions = {(0, 0), (h - 1, w - 1), (h // 2, w // 2), (1, w - 2), (h - 2, 1)}
    for row, col in positions:
        expected = _gradient_support(model, layer, row, col)
        if expected is None:  # a zero-padding cell depends on no pixel
            with pytest.raises(ParameterError, match="padding"):
                region_path(model, layer, row, col)
            continue
        path = region_path(model, layer, row, col)
        assert (path.rows, path.cols) == expected, (layer, row, col)
        assert path.steps[-1].layer == layer and path.steps[-1].rows == (row, row)
        assert path.steps[0].layer == "pixels" and (path.steps[0].rows, path.steps[0].cols) == expected


def test_receptive_field_textbook_numbers():
    model = _chain()
    # c1: 3; p1 (k2 s2): 3 + 1 = 4, jump 2; c2 (3x5, s2): rows 4 + 2*2 = 8, cols 4 + 4*2 = 12, jump 4.
    rf = receptive_field(model, "c2")
    assert (rf.size, rf.stride) == ((8, 12), (4, 4)) and not rf.global_context
    # c3 (k3, dilation 2, stride 1, jump 4): + 2*2*4 = 16; dw (k3, jump still 4): + 2*4 = 8.
    assert receptive_field(model, "dw").size == (8 + 16 + 8, 12 + 16 + 8)


def test_published_receptive_fields():
    """Araujo et al., "Computing receptive fields of CNNs" (Distill 2019): VGG16 212, ResNet50 483."""
    from core.zoo.keras_apps import APPS, build_flat

    apps = {a.name: a for a in APPS}
    vgg = build_flat(apps["vgg16"], None)
    assert receptive_field(vgg, "block5_pool").size == (212, 212)
    assert receptive_field(vgg, "block5_pool").stride == (32, 32)
    resnet = build_flat(apps["resnet50"], None)
    rf = receptive_field(resnet, "conv5_block3_out")
    assert rf.size == (483, 483) and rf.stride == (32, 32)
    corner = region_path(resnet, "conv2_block1_out", 0, 0)
    assert corner.rows[0] == 0 and corner.cols[0] == 0 and corner.size[0] < 50


def test_squeeze_excite_is_global_unless_local():
    keras.utils.set_random_seed(2)
    pixels = keras.Input((16, 16, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(pixels)
    s = keras.layers.GlobalAveragePooling2D(name="squeeze")(x)
    s = keras.layers.Reshape((1, 1, 4), name="reshape")(s)
    s = keras.layers.Conv2D(4, 1, activation="sigmoid", name="excite")(s)
    x = keras.layers.Multiply(name="scale")([x, s])
    model = keras.Model(pixels, x)
    full = region_path(model, "scale", 5, 5)
    assert full.global_context and (full.rows, full.cols) == ((0, 15), (0, 15))
    assert (full.rows, full.cols) == _gradient_support(model, "scale", 5, 5)
    local = region_path(model, "scale", 5, 5, local=True)
    assert (local.rows, local.cols) == ((4, 6), (4, 6))
    assert receptive_field(model, "scale").size == (3, 3) and receptive_field(model, "scale").global_context


def test_errors_name_the_parameter():
    model = _chain()
    with pytest.raises(UnknownNameError, match="Known layers"):
        region_path(model, "nope", 0, 0)
    with pytest.raises(ParameterError, match="'row'"):
        region_path(model, "c2", 99, 0)
    with pytest.raises(ParameterError, match="'col'"):
        region_path(model, "c2", 0, -1)
    flat = keras.Model(model.inputs, keras.layers.Flatten(name="flat")(model.outputs[0]))
    with pytest.raises(ParameterError, match="spatial"):
        receptive_field(flat, "flat")
