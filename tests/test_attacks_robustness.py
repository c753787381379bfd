"""The robustness curve's probability of the label: one loop in core serves one photo and a whole set."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from core import attacks

SIZE, CLASSES = 8, 3


@pytest.fixture(scope="module")
def brightest_channel() -> keras.Model:
    """softmax(20 * mean colour / 255): predicts the brightest channel, no training needed."""
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    dense = keras.layers.Dense(CLASSES, name="logits")
    h = dense(h)
    dense.set_weights([np.eye(3, dtype=np.float32) * 20.0, np.zeros(3, np.float32)])
    return keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(h))


def _images(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    y = rng.integers(0, CLASSES, n)
    x = rng.uniform(90, 150, (n, SIZE, SIZE, 3)).astype(np.float32)
    x[np.arange(n), :, :, y] += 30
    return x, y


def test_one_image_curve_is_its_label_probability_after_each_attack(brightest_channel):
    x, y = _images(1)
    curve = attacks.robustness_curve(brightest_channel, x, y, epsilons=[0, 8, 32], methods=("fgsm", "pgd"),
                                     params={"pgd": {"steps": 5}})
    clean = float(brightest_channel.predict(x, verbose=0)[0, y[0]])
    for method in ("fgsm", "pgd"):
        probs = curve.label_prob[method]
        assert probs[0] == pytest.approx(clean, abs=1e-6)
        for eps, prob in zip(curve.epsilons[1:], probs[1:], strict=True):  # the attack run directly
            extra = {"steps": 5} if method == "pgd" else {}
            direct = attacks.create_attack(method, eps=eps, **extra).generate(brightest_channel, x, labels=y)
            assert prob == pytest.approx(float(direct.probs_after[0, y[0]]), abs=1e-5)
        assert probs[0] > probs[1] > probs[2]  # a bigger budget takes more of the label's probability
        assert curve.accuracy[method][0] == 1.0
    assert curve.to_dict()["label_prob"] == curve.label_prob


def test_set_curve_gives_the_mean_label_probability(brightest_channel):
    x, y = _images(6)
    curve = attacks.robustness_curve(brightest_channel, x, y, epsilons=[0, 16], methods=("fgsm",), batch_size=4)
    adversarial = attacks.create_attack("fgsm", eps=16).generate(brightest_channel, x, labels=y)
    assert curve.label_prob["fgsm"][1] == pytest.approx(float(np.mean(adversarial.probs_after[np.arange(6), y])),
                                                        abs=1e-5)
    clean = brightest_channel.predict(x, verbose=0)[np.arange(6), y]
    assert curve.label_prob["fgsm"][0] == pytest.approx(float(np.mean(clean)), abs=1e-6)
