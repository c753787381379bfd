"""Activation maximisation: the channel's activation rises, runs are repeatable, the caps hold."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from core.errors import ParameterError
from core.inspect.filters import maximize_activation


@pytest.fixture(scope="module")
def cnn():
    """Conv layers without ReLU on the first one, so every channel has a gradient from the start."""
    keras.utils.set_random_seed(3)
    pixels = keras.Input((64, 64, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="preprocess")(pixels)
    x = keras.layers.Conv2D(8, 5, padding="same", name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(pixels, outputs)


def _channel_mean(model, layer, image, channel):
    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    sub.input_spec = keras.InputSpec(ndim=4)
    return float(sub(image[None].astype(np.float32)).numpy()[0, :, :, channel].mean())


def test_the_channel_activation_rises(cnn):
    result = maximize_activation(cnn, "conv1", 2, steps=30, size=48, time_budget=60)
    assert result.image.dtype == np.uint8 and result.image.shape == (48, 48, 3)
    assert result.steps == 30 and not result.stopped_by_budget and len(result.scores) == 30
    assert result.scores[-1] > result.scores[0] + 0.05
    # Oracle: the returned image excites the channel more than the grey start does.
    grey = np.full((48, 48, 3), 128, np.uint8)
    assert _channel_mean(cnn, "conv1", result.image, 2) > _channel_mean(cnn, "conv1", grey, 2) + 0.05


def test_deterministic_for_a_seed(cnn):
    a = maximize_activation(cnn, "conv2", 5, steps=8, size=32, time_budget=60, seed=7)
    b = maximize_activation(cnn, "conv2", 5, steps=8, size=32, time_budget=60, seed=7)
    c = maximize_activation(cnn, "conv2", 5, steps=8, size=32, time_budget=60, seed=8)
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


def test_size_is_capped_by_the_model_input(cnn):
    assert maximize_activation(cnn, "conv2", 0, steps=2, size=500, time_budget=60).image.shape == (64, 64, 3)


def test_time_budget_stops_the_run(cnn):
    maximize_activation(cnn, "conv2", 1, steps=1, size=64)  # compile first: not part of the budget
    result = maximize_activation(cnn, "conv2", 1, steps=500, size=64, time_budget=0.1)
    assert result.stopped_by_budget and result.steps < 500


def test_parameters_are_checked(cnn):
    with pytest.raises(ParameterError, match="'channel'"):
        maximize_activation(cnn, "conv2", 8)
    with pytest.raises(ParameterError, match="'steps'"):
        maximize_activation(cnn, "conv2", 0, steps=10_000)
    with pytest.raises(ParameterError, match="'time_budget'"):
        maximize_activation(cnn, "conv2", 0, time_budget=0)
    with pytest.raises(ParameterError, match="spatial"):
        maximize_activation(cnn, "logits", 0)


def test_progress_names_each_step_and_reaches_the_end(cnn):
    heard: list[tuple[float, str]] = []
    result = maximize_activation(cnn, "conv2", 4, steps=6, size=32, time_budget=60,
                                 progress=lambda f, t: heard.append((f, t)))
    assert heard[0] == (0.0, "Compiling the gradient step for conv2 (once per layer and size)")
    steps = heard[1:]
    assert [t.split(":")[0] for _, t in steps] == [f"Step {k} of 6" for k in range(1, 7)]
    assert [f for f, _ in steps] == sorted(f for f, _ in steps) and steps[-1][0] == 1.0
    # Each step's text carries the activation the result records for it.
    assert [t.split("activation ")[1] for _, t in steps] == [f"{s:.3g}" for s in result.scores]


def test_progress_follows_the_time_budget_when_it_ends_the_run(cnn):
    maximize_activation(cnn, "conv2", 1, steps=1, size=64)  # compiled already: the budget is all stepping
    heard: list[float] = []
    result = maximize_activation(cnn, "conv2", 1, steps=500, size=64, time_budget=0.2,
                                 progress=lambda f, t: heard.append(f))
    assert result.stopped_by_budget
    # The bar moves with the budget used (not 8 of 500 steps), and never goes back.
    assert heard == sorted(heard) and heard[-1] > 0.5
