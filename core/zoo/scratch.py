"""Architectures trained from scratch (no pretrained weights): the textbook small CNN and LeNet-5.

They exist so a class can compare training from scratch with transfer learning on the same data.
Built with ``num_classes`` by the training engine; listed in the zoo as ``untrained``.
"""

from __future__ import annotations

import keras

from core.errors import ModelUnavailableError
from core.i18n import N_
from core.modelgraph import PROBABILITIES_LAYER
from core.zoo.registry import ModelSpec, register_model


def small_cnn(num_classes: int = 10, input_size: tuple[int, int] = (64, 64)) -> keras.Model:
    """Three conv layers with pooling and two dense layers (the classic MNIST-tutorial network)."""
    pixels = keras.Input((*input_size, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="preprocess")(pixels)
    for i, filters in enumerate((32, 64, 64), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(64, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(pixels, keras.layers.Activation("softmax", name=PROBABILITIES_LAYER)(x),
                       name="small_cnn")


def lenet5(num_classes: int = 10, input_size: tuple[int, int] = (32, 32)) -> keras.Model:
    """LeNet-5 (LeCun et al. 1998) on 32x32 inputs, with ReLU and max pooling as usually taught today."""
    pixels = keras.Input((*input_size, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="preprocess")(pixels)
    x = keras.layers.Conv2D(6, 5, activation="relu", name="c1")(x)
    x = keras.layers.MaxPooling2D(2, name="s2")(x)
    x = keras.layers.Conv2D(16, 5, activation="relu", name="c3")(x)
    x = keras.layers.MaxPooling2D(2, name="s4")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(120, activation="relu", name="c5")(x)
    x = keras.layers.Dense(84, activation="relu", name="f6")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(pixels, keras.layers.Activation("softmax", name=PROBABILITIES_LAYER)(x),
                       name="lenet5")


BUILDERS = {"small_cnn": small_cnn, "lenet5": lenet5}


def _untrained(name: str):
    def build(progress=None):
        raise ModelUnavailableError(
            f"{name} has no pretrained weights: train it on a dataset first (python -m core train --model {name})."
        )
    return build


register_model(ModelSpec(
    name="small_cnn", title=N_("Small CNN (from scratch)"), input_size=(64, 64), default_cam_layer="conv3",
    weights_source="no pretrained weights: trained from scratch on your data",
    build=_untrained("small_cnn"), weights_status=lambda: "untrained", pretrained=False,
    description=N_("Three conv layers with pooling and two dense layers, the textbook MNIST network."),
))
register_model(ModelSpec(
    name="lenet5", title=N_("LeNet-5 (from scratch)"), input_size=(32, 32), default_cam_layer="c3",
    weights_source="no pretrained weights: trained from scratch on your data",
    build=_untrained("lenet5"), weights_status=lambda: "untrained", pretrained=False,
    description=N_("LeCun et al. 1998: two conv layers and three dense layers on 32x32 images."),
))
