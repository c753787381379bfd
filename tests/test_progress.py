"""Long core work reports progress(fraction, text) with one convention (#17, "Progress on all long work")."""

from __future__ import annotations

import keras
import numpy as np

from core.trust import sanity_check


def _tiny_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probabilities")(x))


def test_sanity_check_reports_each_stage():
    heard: list[tuple[float, str]] = []
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.float32)
    result = sanity_check(_tiny_cnn(), image, "gradcam", layer="conv2", max_stages=3,
                          progress=lambda f, t: heard.append((f, t)))
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    stages = [t for _, t in heard if t.startswith("Stage ")]
    assert len(stages) == len(result.steps) - 1 >= 2
    assert stages[0].startswith(f"Stage 1 of {len(stages)}: randomising down to ")
