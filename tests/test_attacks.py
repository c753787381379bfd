"""Attacks, defences and robustness curves: bounds, oracles against a direct computation, validation."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from core import attacks, compiled  # noqa: E402
from core.errors import ParameterError, UnknownNameError  # noqa: E402

SIZE = 12  # synthetic images are SIZE x SIZE x 3
CLASSES = 3


def synthetic_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey noise where class c makes colour channel c brighter by 36 levels: learnable, attackable."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    images = rng.uniform(70, 180, (n, SIZE, SIZE, 3))
    images[np.arange(n), :, :, labels] += 36
    return np.clip(np.rint(images), 0, 255).astype(np.float32), labels


@pytest.fixture(scope="module")
def cnn() -> keras.Model:
    """A tiny CNN (raw pixels in, probabilities out) trained for a few seconds on the synthetic set."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dense(CLASSES)(h)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(h))
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", jit_compile=False)
    x, y = synthetic_set(768, seed=1)
    model.fit(x, y, epochs=12, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def test_set(cnn) -> tuple[np.ndarray, np.ndarray]:
    x, y = synthetic_set(48, seed=2)
    accuracy = np.mean(cnn.predict(x, verbose=0).argmax(1) == y)
    assert accuracy >= 0.9, f"the fixture model did not learn the synthetic task ({accuracy:.0%})"
    return x, y


def linear_model(ending: str, seed: int = 0) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """softmax((x / 255) @ W + b) with known W, b: its input gradient is analytic."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.1, (6 * 6 * 3, 4)).astype(np.float32)  # small: probabilities not saturated
    b = rng.normal(0, 1, 4).astype(np.float32)
    inputs = keras.Input((6, 6, 3))
    h = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    if ending == "softmax_layer":
        dense = keras.layers.Dense(4)
        outputs = keras.layers.Activation("softmax", name="probabilities")(dense(h))
    else:  # a model from elsewhere: Dense with a softmax activation
        dense = keras.layers.Dense(4, activation="softmax")
        outputs = dense(h)
    model = keras.Model(inputs, outputs)
    dense.set_weights([w, b])
    return model, w.astype(np.float64), b.astype(np.float64)


def numpy_gradient(x: np.ndarray, labels: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """d cross-entropy(label) / d x for the linear softmax model: (softmax(z) - onehot) W^T / 255."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    z = flat / 255 @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(x)), labels] -= 1
    return (p @ w.T / 255).reshape(x.shape)


def pixels(n: int, seed: int, shape=(6, 6, 3)) -> np.ndarray:
    x = np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype(np.float32)
    x[0] = 0  # edge cases: black and white images must stay valid
    x[1] = 255
    return x


# -- oracles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["softmax_layer", "dense_softmax"])
@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_matches_analytic_gradient_sign(ending, targeted):
    model, w, b = linear_model(ending)
    x = pixels(16, seed=3)
    eps = 7.0
    labels = np.random.default_rng(4).integers(0, 4, len(x))
    grad = numpy_gradient(x, labels, w, b)
    direction = -1 if targeted else 1
    expected = np.clip(x + direction * eps * np.sign(grad), 0, 255)
    fgsm = attacks.create_attack("fgsm", eps=eps)
    if targeted:
        got = fgsm.generate(model, x, target=labels)
    else:
        got = fgsm.generate(model, x, labels=labels)
    clear = np.abs(grad) > 1e-9  # where the sign is unambiguous
    assert clear.mean() > 0.99
    np.testing.assert_allclose(got.adversarial[clear], expected[clear], atol=1e-3)
    assert got.targeted is targeted and np.array_equal(got.labels, labels)


def test_pgd_matches_numpy_loop_without_random_start():
    model, w, b = linear_model("softmax_layer", seed=5)
    x = pixels(12, seed=6)
    eps, step, steps = 6.0, 1.5, 5
    labels = model.predict(x, verbose=0).argmax(1)
    adv = x.astype(np.float64)
    low, high = np.maximum(x - eps, 0), np.minimum(x + eps, 255)
    for _ in range(steps):
        adv = np.clip(adv + step * np.sign(numpy_gradient(adv, labels, w, b)), low, high)
    pgd = attacks.create_attack("pgd", eps=eps, steps=steps, step_size=step, random_start=False)
    got = pgd.generate(model, x)  # no labels: attacks the clean prediction
    assert np.array_equal(got.labels, labels)
    assert np.mean(np.abs(got.adversarial - adv) < 1e-3) > 0.999


def test_matches_adversarial_robustness_toolbox(cnn, test_set):
    """Independent reference: IBM's ART (an optional dev dependency) gives the same adversarial images."""
    pytest.importorskip("art", reason="adversarial-robustness-toolbox is not installed")
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    from core.modelgraph import logits_model

    x, y = test_set
    classifier = TensorFlowV2Classifier(
        model=logits_model(cnn), nb_classes=CLASSES, input_shape=(SIZE, SIZE, 3), clip_values=(0, 255),
        loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True))
    onehot, target = np.eye(CLASSES)[y], (y + 1) % CLASSES
    art_fgsm = FastGradientMethod(classifier, eps=12).generate(x, y=onehot)
    ours = attacks.create_attack("fgsm", eps=12).generate(cnn, x, labels=y).adversarial
    np.testing.assert_allclose(ours, art_fgsm, atol=1e-3)
    art_targeted = FastGradientMethod(classifier, eps=12, targeted=True).generate(x, y=np.eye(CLASSES)[target])
    ours = attacks.create_attack("fgsm", eps=12).generate(cnn, x, target=target).adversarial
    np.testing.assert_allclose(ours, art_targeted, atol=1e-3)
    art_pgd = ProjectedGradientDescent(classifier, eps=12, eps_step=3, max_iter=10, num_random_init=0,
                                       verbose=False).generate(x, y=onehot)
    pgd = attacks.create_attack("pgd", eps=12, steps=10, step_size=3, random_start=False)
    np.testing.assert_allclose(pgd.generate(cnn, x, labels=y).adversarial, art_pgd, atol=1e-3)


# -- every registered attack ------------------------------------------------------------------------


@pytest.mark.parametrize("name", attacks.list_attacks())
@pytest.mark.parametrize("eps", [0.0, 5.0, 40.0])
def test_perturbation_bounds_hold(cnn, name, eps):
    x = pixels(20, seed=7, shape=(SIZE, SIZE, 3))
    result = attacks.create_attack(name, eps=eps).generate(cnn, x, batch_size=8)
    adv = result.adversarial
    assert adv.shape == x.shape and adv.dtype == np.float32 and np.isfinite(adv).all()
    assert np.all(np.abs(adv - x) <= eps + 1e-4)
    assert adv.min() >= 0 and adv.max() <= 255
    np.testing.assert_allclose(result.linf, np.abs(adv - x).reshape(len(x), -1).max(1))
    np.testing.assert_allclose(result.perturbation, adv - x)
    if eps == 0:
        assert np.array_equal(adv, x) and not result.success.any()
    again = attacks.create_attack(name, eps=eps).generate(cnn, x, batch_size=8)
    assert np.array_equal(again.adversarial, adv)  # deterministic for a given seed and batch size


def test_success_and_predictions_are_consistent(cnn, test_set):
    x, y = test_set
    result = attacks.create_attack("pgd", eps=12).generate(cnn, x, labels=y)
    probs = cnn.predict(result.adversarial, verbose=0)
    np.testing.assert_allclose(result.probs_after, probs, atol=1e-5)
    assert np.array_equal(result.after_index, probs.argmax(1))
    assert np.array_equal(result.success, probs.argmax(1) != y)
    np.testing.assert_allclose(result.before_prob, cnn.predict(x, verbose=0).max(1), atol=1e-5)


def test_pgd_at_least_as_strong_as_fgsm(cnn, test_set):
    x, y = test_set
    for eps in (4.0, 8.0, 16.0):
        fgsm = attacks.create_attack("fgsm", eps=eps).generate(cnn, x, labels=y)
        pgd = attacks.create_attack("pgd", eps=eps, steps=10).generate(cnn, x, labels=y)
        acc_fgsm = np.mean(fgsm.after_index == y)
        acc_pgd = np.mean(pgd.after_index == y)
        assert acc_pgd <= acc_fgsm, (eps, acc_pgd, acc_fgsm)
    assert acc_pgd < 0.5  # at eps 16 the attack breaks most of this model's decisions


def test_targeted_attack_reaches_its_target(cnn, test_set):
    x, y = test_set
    target = (y + 1) % CLASSES
    result = attacks.create_attack("pgd", eps=48, steps=20).generate(cnn, x, target=target)
    assert result.targeted and result.success.all()
    assert np.array_equal(result.after_index, target)
    one = attacks.create_attack("pgd", eps=48, steps=20).generate(cnn, x[y != 2], target=2)
    assert np.all(one.after_index == 2)


def test_rounding_to_8_bits_stays_in_the_ball(cnn):
    x = pixels(10, seed=8, shape=(SIZE, SIZE, 3))
    result = attacks.create_attack("pgd", eps=3).generate(cnn, x)
    rounded = result.rounded()
    assert rounded.dtype == np.uint8 and rounded.shape == x.shape
    assert np.all(np.abs(rounded.astype(np.float32) - x) <= 3)
    assert np.all(np.abs(rounded - result.adversarial) <= 1)
    # A fractional original cannot stay in a tiny ball: plain rounding is what remains.
    frac = attacks.rounded_to_uint8(np.array([[10.4, 300.0, -2.0]]), np.array([[10.3, 255.0, 0.0]]), 0.05)
    assert frac.tolist() == [[10, 255, 0]]


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, params, parameter", [
    ("fgsm", {"eps": -1}, "eps"),
    ("fgsm", {"eps": 256}, "eps"),
    ("fgsm", {"eps": float("nan")}, "eps"),
    ("fgsm", {"eps": "big"}, "eps"),
    ("fgsm", {"steps": 3}, "steps"),
    ("pgd", {"steps": 0}, "steps"),
    ("pgd", {"steps": 2.5}, "steps"),
    ("pgd", {"step_size": 0}, "step_size"),
    ("pgd", {"step_size": -0.5}, "step_size"),
    ("pgd", {"random_start": "yes"}, "random_start"),
    ("pgd", {"seed": -1}, "seed"),
])
def test_nonsense_attack_parameters_are_named(name, params, parameter):
    with pytest.raises(ParameterError, match=parameter):
        attacks.create_attack(name, **params)


@pytest.mark.parametrize("name, params, parameter", [
    ("jpeg", {"quality": 0}, "quality"),
    ("jpeg", {"quality": 101}, "quality"),
    ("bit_depth", {"bits": 0}, "bits"),
    ("median", {"size": 4}, "size"),
    ("median", {"size": 11}, "size"),
])
def test_nonsense_defence_parameters_are_named(name, params, parameter):
    with pytest.raises(ParameterError, match=parameter):
        attacks.create_defence(name, **params)


def test_unknown_target_and_labels_are_named(cnn, test_set):
    x, y = test_set
    pgd = attacks.create_attack("pgd", eps=4)
    with pytest.raises(ParameterError, match="target"):
        pgd.generate(cnn, x, target=CLASSES)
    with pytest.raises(ParameterError, match="target"):
        pgd.generate(cnn, x, target=-1)
    with pytest.raises(ParameterError, match="target.*'zebra'"):
        pgd.generate(cnn, x, target="zebra")
    with pytest.raises(ParameterError, match="labels"):
        pgd.generate(cnn, x, labels=y[:-1])
    with pytest.raises(ParameterError, match="images"):
        pgd.generate(cnn, x / 255 - 0.5)  # not raw pixels
    with pytest.raises(ParameterError, match="images"):
        pgd.generate(cnn, np.zeros((2, SIZE + 1, SIZE, 3), np.float32))


def test_target_names_resolve_through_a_zoo_model(cnn, test_set):
    from core.zoo.loaded import LoadedModel

    loaded = LoadedModel(name="tiny", model=cnn, input_size=(SIZE, SIZE), class_names=["red", "green", "blue"],
                         default_cam_layer="conv", source="test")
    x, y = test_set
    result = attacks.create_attack("pgd", eps=48, steps=20).generate(loaded, x[y != 2], target="blue")
    assert np.all(result.labels == 2) and result.success.all()
    with pytest.raises(ParameterError, match="target.*'purple'"):
        attacks.create_attack("pgd", eps=8).generate(loaded, x, target="purple")


def test_registries_list_and_reject_unknown_names():
    assert {"fgsm", "pgd"} <= set(attacks.list_attacks())
    assert {"jpeg", "bit_depth", "median"} <= set(attacks.list_defences())
    with pytest.raises(UnknownNameError, match="fgsm.*pgd"):
        attacks.get_attack("deepfool")
    described = attacks.get_attack("pgd").describe()
    eps = next(p for p in described["params"] if p["name"] == "eps")
    assert (eps["min"], eps["max"], eps["unit"], eps["default"]) == (0.0, 255.0, "pixels", 8.0)
    assert attacks.get_defence("jpeg").describe()["differentiable"] is False


# -- defences and BPDA ------------------------------------------------------------------------------


def test_defence_transforms_match_direct_computations():
    from PIL import Image
    from scipy.ndimage import median_filter

    x = pixels(3, seed=9, shape=(16, 16, 3))
    bits = attacks.create_defence("bit_depth", bits=3).apply(x)
    np.testing.assert_allclose(bits, np.round(x / 255 * 7) * 255 / 7, atol=1e-3)
    median = attacks.create_defence("median", size=3).apply(x)
    expected = np.stack([median_filter(img, size=(3, 3, 1), mode="reflect") for img in x])
    np.testing.assert_allclose(median, expected)
    jpeg = attacks.create_defence("jpeg", quality=60).apply(x)
    pil = []
    for img in x.astype(np.uint8):
        import io

        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=60)
        pil.append(np.asarray(Image.open(buf), dtype=np.float32))
    assert np.mean(np.abs(jpeg - np.stack(pil))) < 3  # same codec family, not necessarily bit-exact
    assert np.array_equal(jpeg, np.rint(jpeg)) and jpeg.shape == x.shape


@pytest.mark.parametrize("name", ["jpeg", "bit_depth"])
def test_naive_gradient_is_masked_and_bpda_is_not(name):
    defence = attacks.create_defence(name)
    x = tf.constant(pixels(2, seed=10, shape=(16, 16, 3)))
    weights = tf.constant(np.random.default_rng(0).normal(size=(16, 16, 3)), tf.float32)
    for through, masked in ((defence.transform, True), (lambda t: attacks.straight_through(defence.transform, t),
                                                        False)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(through(x) * weights)
        grad = tape.gradient(loss, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        assert (float(tf.reduce_max(tf.abs(grad))) == 0) is masked
    assert not attacks.get_defence(name).differentiable


def test_median_filter_passes_true_gradients():
    defence = attacks.create_defence("median")
    x = tf.constant(pixels(4, seed=11, shape=(16, 16, 3))[2:])  # two noise images
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(defence.transform(x))
    grad = tape.gradient(loss, x).numpy()
    assert grad.sum() == pytest.approx(2 * 16 * 16 * 3)  # each output pixel's gradient goes to one input pixel
    assert 0.4 < np.mean(grad == 0) < 0.7  # ...so pixels that are no window's median get none
    assert attacks.get_defence("median").differentiable


@pytest.mark.parametrize("name", ["jpeg", "bit_depth"])
def test_bpda_breaks_a_defence_that_only_masks_gradients(cnn, test_set, name):
    x, y = test_set
    defence = attacks.create_defence(name)
    fgsm = attacks.create_attack("fgsm", eps=16)
    naive = fgsm.generate(cnn, x, labels=y, defence=defence, bpda=False)
    assert np.array_equal(naive.adversarial, x)  # zero gradient: FGSM does not move at all
    pgd = attacks.create_attack("pgd", eps=16, steps=10)
    naive = pgd.generate(cnn, x, labels=y, defence=defence, bpda=False)
    through = pgd.generate(cnn, x, labels=y, defence=defence, bpda=True)
    clean_defended = np.mean(naive.before_index == y)
    assert clean_defended >= 0.85
    assert np.mean(naive.after_index == y) >= clean_defended - 0.15  # only random noise: mostly masked
    assert np.mean(through.after_index == y) <= 0.5  # BPDA goes through
    assert through.bpda and through.defence == name and not naive.bpda


def test_compare_defences_reports_gradient_masking(cnn, test_set):
    x, y = test_set
    seen = []
    rows = attacks.compare_defences(cnn, x, y, eps=16, method="pgd", params={"steps": 5},
                                    defences=["bit_depth", attacks.create_defence("median")], batch_size=16,
                                    progress=lambda fraction, text: seen.append((fraction, text)))
    by_name = {r.defence: r for r in rows}
    assert list(by_name) == ["none", "bit_depth", "median"]
    assert by_name["none"].bpda_accuracy is None
    assert by_name["bit_depth"].masks_gradients and "masks gradients" in by_name["bit_depth"].verdict
    for r in rows[1:]:
        assert r.masks_gradients == (r.naive_accuracy - r.bpda_accuracy > attacks.robustness.MASKING_GAP)
    for r in rows:
        assert r.robust_accuracy <= min(r.naive_accuracy, r.bpda_accuracy if r.bpda_accuracy is not None else 1)
    assert len(seen) == 15  # 3 batches x (1 + 2 + 2) attacks, each reported with what is being attacked
    assert [f for f, _ in seen] == pytest.approx([k / 15 for k in range(1, 16)])
    texts = [t for _, t in seen]
    assert texts[:3] == [f"PGD at epsilon 16: batch {b} of 3" for b in (1, 2, 3)]  # the undefended model
    assert texts[3] == "PGD at epsilon 16 through Bit-depth reduction (naive): batch 1 of 3"
    assert texts[-1] == "PGD at epsilon 16 through Median filter (BPDA): batch 3 of 3"


# -- robustness curves ------------------------------------------------------------------------------


def test_robustness_curve(cnn, test_set):
    x, y = test_set
    calls = []
    curve = attacks.robustness_curve(cnn, x, y, epsilons=[0, 4, 16], params={"pgd": {"steps": 5}},
                                     batch_size=20, progress=lambda f, t: calls.append((f, t)))
    clean = np.mean(cnn.predict(x, verbose=0).argmax(1) == y)
    assert curve.clean_accuracy == pytest.approx(clean)
    assert curve.n_images == len(x) and curve.epsilons == [0.0, 4.0, 16.0]
    for method in ("fgsm", "pgd"):
        acc = curve.accuracy[method]
        assert acc[0] == pytest.approx(clean) and acc[0] >= acc[1] >= acc[2]
    assert all(p <= f for p, f in zip(curve.accuracy["pgd"], curve.accuracy["fgsm"], strict=True))
    # each value is the accuracy on that attack's own adversarial images
    direct = attacks.create_attack("fgsm", eps=4).generate(cnn, x, labels=y, batch_size=20)
    assert curve.accuracy["fgsm"][1] == pytest.approx(np.mean(direct.after_index == y))
    assert len(calls) == 3 * 4  # 3 batches x 2 epsilons above 0 x 2 methods
    assert [f for f, _ in calls] == pytest.approx([k / 12 for k in range(1, 13)])
    assert [t for _, t in calls[:4]] == ["FGSM at epsilon 4: batch 1 of 3", "FGSM at epsilon 4: batch 2 of 3",
                                         "FGSM at epsilon 4: batch 3 of 3", "FGSM at epsilon 16: batch 1 of 3"]
    assert calls[-1][1] == "PGD at epsilon 16: batch 3 of 3"
    assert curve.to_dict()["params"]["pgd"]["steps"] == 5
    with pytest.raises(ParameterError, match="eps"):
        attacks.robustness_curve(cnn, x, y, epsilons=[0, 300])
    with pytest.raises(ParameterError, match="eps"):
        attacks.robustness_curve(cnn, x, y, epsilons=[4], params={"pgd": {"eps": 3}})
    with pytest.raises(ParameterError, match="batch_size"):
        attacks.robustness_curve(cnn, x, y, epsilons=[4], batch_size=0)


def test_robustness_curve_through_a_defence(cnn, test_set):
    x, y = test_set
    defence = attacks.create_defence("bit_depth", bits=5)
    naive = attacks.robustness_curve(cnn, x, y, epsilons=[16], methods=["fgsm"], defence=defence, bpda=False)
    through = attacks.robustness_curve(cnn, x, y, epsilons=[16], methods=["fgsm"], defence=defence)
    assert naive.defence == "bit_depth" and through.bpda and not naive.bpda
    assert through.accuracy["fgsm"][0] < naive.accuracy["fgsm"][0]


# -- adversarial fine-tuning hook and compiled cache ------------------------------------------------


def test_adversarial_batch_for_training(cnn, test_set):
    x, y = test_set
    out = attacks.adversarial_batch(cnn, x[:8], y[:8], method="pgd", eps=8, steps=3, seed=1)
    assert isinstance(out, np.ndarray) and np.all(np.abs(out - x[:8]) <= 8 + 1e-4)
    onehot = tf.one_hot(y[:8], CLASSES)
    tensor = attacks.adversarial_batch(cnn, tf.constant(x[:8]), onehot, method="pgd", eps=8, steps=3, seed=1)
    assert tf.is_tensor(tensor)
    np.testing.assert_allclose(tensor.numpy(), out, atol=1e-4)

    @tf.function
    def train_step_inputs(images, labels):
        return attacks.adversarial_batch(cnn, images, labels, method="fgsm", eps=8)

    in_graph = train_step_inputs(tf.constant(x[:8]), tf.constant(y[:8]))
    eager = attacks.adversarial_batch(cnn, x[:8], y[:8], method="fgsm", eps=8)
    np.testing.assert_allclose(in_graph.numpy(), eager, atol=1e-4)


def test_compiled_cache_is_bounded_and_reused(cnn, test_set):
    x, y = test_set
    attacks.clear_cache()
    pgd = attacks.create_attack("pgd", eps=4, steps=3)
    fn = compiled.attack_fn(cnn, pgd)
    # Other numbers reuse the same compiled graph: eps, steps and step size are tensors.
    assert compiled.attack_fn(cnn, attacks.create_attack("pgd", eps=9, steps=7, step_size=2)) is fn
    for eps in (1, 2, 3):
        attacks.create_attack("pgd", eps=eps, steps=eps).generate(cnn, x[:5], labels=y[:5])
    assert fn.experimental_get_tracing_count() == 1
    for bits in range(1, 9):
        for bpda in (False, True):
            compiled.attack_fn(cnn, pgd, attacks.create_defence("bit_depth", bits=bits), bpda)
    assert compiled.cache_size() <= compiled.MAX_ENTRIES
    attacks.clear_cache()
    assert compiled.cache_size() == 0


def test_a_long_pgd_reports_its_steps_and_gives_the_same_images_in_chunks():
    """With a progress listener PGD runs 10 steps at a time, continuing from where it stopped: the
    adversarial images equal the single-run ones, and every chunk is reported (fraction up to 1)."""
    cnn = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255.0),
                            keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
                            keras.layers.Dense(3), keras.layers.Softmax()])
    x = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    pgd = attacks.create_attack("pgd", eps=8.0, steps=25, seed=3)
    whole = pgd.generate(cnn, x, labels=[0, 1, 2])
    heard = []
    chunked = pgd.generate(cnn, x, labels=[0, 1, 2], progress=lambda f, t: heard.append((f, t)))
    np.testing.assert_allclose(chunked.adversarial, whole.adversarial, atol=1e-4)
    assert [t for _, t in heard] == [f"PGD (projected gradient steps): step {n} of 25" for n in (10, 20, 25)]
    assert [f for f, _ in heard] == sorted(f for f, _ in heard) and heard[-1][0] == 1.0
    assert np.abs(chunked.adversarial - x).max() <= 8.0 + 1e-4
