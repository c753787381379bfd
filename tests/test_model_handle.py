"""The model handle (core.zoo.loaded): one type for core's entry points, its lock taken by core alone,
the default CAM layer decided once at load, and the one bounded cache of compiled functions."""

from __future__ import annotations

import ast
import gc
import threading
import time
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest

from core import compiled
from core.attacks import create_attack, predict_probs
from core.errors import ParameterError
from core.explain import explain, layer_choices
from core.explain.layers import feature_model, resolve_layer
from core.inspect.activations import feature_maps
from core.zoo.loaded import LoadedModel, as_loaded

SIZE, CLASSES = 24, 3
DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"


def small_cnn(dense_softmax: bool = False, seed: int = 3) -> keras.Model:
    keras.utils.set_random_seed(seed)
    x = keras.Input((SIZE, SIZE, 3))
    y = keras.layers.Rescaling(1 / 255.0)(x)
    y = keras.layers.Conv2D(6, 3, activation="relu", name="conv1")(y)
    y = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    if dense_softmax:
        return keras.Model(x, keras.layers.Dense(CLASSES, activation="softmax", name="head")(y))
    y = keras.layers.Dense(CLASSES, name="logits")(y)
    return keras.Model(x, keras.layers.Activation("softmax", name="probabilities")(y))


def nested_cnn() -> keras.Model:
    """A backbone used as one layer (the usual fine-tuning pattern)."""
    inner_in = keras.Input((SIZE, SIZE, 3))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, activation="relu", name="inner_conv")(inner_in),
                        name="backbone")
    x = keras.Input((SIZE, SIZE, 3))
    y = keras.layers.GlobalAveragePooling2D()(inner(x))
    return keras.Model(x, keras.layers.Dense(CLASSES, activation="softmax")(y))


def handle(model: keras.Model | None = None, layer: str | None = "conv2") -> LoadedModel:
    return LoadedModel(name="tiny", model=model or small_cnn(), input_size=(SIZE, SIZE),
                       class_names=["a", "b", "c"], default_cam_layer=layer, source="a test model")


def images(n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32)


# ------------------------------------------------------------------------------------------ the lock

def test_no_dashboard_file_takes_a_model_lock():
    """Core decides the locking: no page or component reaches for ``something.lock``."""
    offenders = []
    for path in sorted(DASHBOARD.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "lock":
                offenders.append(f"{path.relative_to(DASHBOARD.parent)}:{node.lineno}")
    assert not offenders, f"dashboard code takes a model lock (core's entry points do): {offenders}"


ENTRY_POINTS = {
    "predict": lambda h, x: h.predict(x),
    "explain": lambda h, x: explain(h, x, "gradcam"),
    "attack": lambda h, x: create_attack("fgsm", eps=4.0).generate(h, x),
    "attack via the keras model": lambda h, x: create_attack("fgsm", eps=4.0).generate(h.model, x),
    "predict_probs": lambda h, x: predict_probs(h, x),
    "feature maps": lambda h, x: feature_maps(h, x[0], "conv1"),
}


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_core_entry_points_hold_the_handles_lock(name):
    """While someone holds the handle's lock, each entry point waits for it (core takes it itself)."""
    h, x = handle(), images(2)
    ENTRY_POINTS[name](h, x)  # compiled once, so the timing below is about the lock only
    done = threading.Event()
    worker = threading.Thread(target=lambda: (ENTRY_POINTS[name](h, x), done.set()))
    with h.lock:
        worker.start()
        assert not done.wait(0.5), f"{name} ran while another thread held the model's lock"
    worker.join(30)
    assert done.is_set()


def test_two_threads_explaining_one_handle_give_the_sequential_maps():
    h = handle()
    batches = [images(2, seed) for seed in range(3)]
    methods = ["gradcam", "layercam", "saliency"]
    expected = {(m, i): [e.heatmap for e in explain(h, b, m)] for m in methods for i, b in enumerate(batches)}
    compiled.clear(h.model)  # the threads race to compile too, not only to call
    results: dict = {}
    errors: list = []

    def work(order: list) -> None:
        try:
            for m, i in order:
                results.setdefault((m, i), []).append([e.heatmap for e in explain(h, batches[i], m)])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    keys = list(expected)
    threads = [threading.Thread(target=work, args=(keys,)), threading.Thread(target=work, args=(keys[::-1],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    for key, maps in expected.items():
        assert len(results[key]) == 2
        for got in results[key]:
            np.testing.assert_allclose(np.stack(got), np.stack(maps), atol=1e-5)


# --------------------------------------------------------------------------------- one handle type

def test_as_loaded_is_the_one_conversion():
    h = handle()
    assert as_loaded(h) is h and as_loaded(h.model) is h  # the keras model finds its handle (and lock)
    bare = small_cnn(seed=4)
    made = as_loaded(bare)
    assert as_loaded(bare) is made and made.class_names == [] and made.input_size == (SIZE, SIZE)
    assert made.num_classes == CLASSES and made.default_cam_layer == "conv2"
    (exp,) = explain(bare, images(1), "gradcam")
    assert exp.label is None and exp.layer == "conv2"  # no class names: no labels, as before
    with pytest.raises(ParameterError, match="must be a keras.Model or a loaded Glasswing model"):
        as_loaded("resnet50")


# --------------------------------------------------------------------------------- the CAM layer

def test_the_default_cam_layer_is_decided_at_load_and_used_everywhere():
    assert handle(layer="conv1").default_cam_layer == "conv1"
    for stale in ("no_such_layer", "probabilities", "", None):  # wrong, not spatial, empty, absent
        assert handle(layer=stale).default_cam_layer == "conv2"
    nested = handle(nested_cnn(), layer="inner_conv")  # an inner name alone: its full name
    assert nested.default_cam_layer == "backbone/inner_conv" == handle(nested_cnn(), None).default_cam_layer
    assert nested.default_cam_layer in layer_choices(nested.model)
    dense = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    assert handle(dense, layer="conv2").default_cam_layer is None
    for h in (handle(layer="conv1"), nested):
        (exp,) = explain(h, images(1), "gradcam")
        assert exp.layer == h.default_cam_layer


# -------------------------------------------------------------------------------------- the logits

@pytest.mark.parametrize("dense_softmax", [False, True])
def test_the_softmax_is_peeled_off_the_same_way_for_every_caller(dense_softmax):
    model = small_cnn(dense_softmax)
    x = images(2)
    probs = model.predict(x, verbose=0)
    flat = np.asarray(compiled.logits(model)(x))
    _, _, from_features = (np.asarray(t) for t in feature_model(model, resolve_layer(model, "conv2"))(x))
    np.testing.assert_allclose(keras.ops.softmax(flat).numpy(), probs, atol=1e-5)
    np.testing.assert_allclose(from_features, flat, atol=1e-5)
    assert not np.allclose(flat, probs)  # really the pre-softmax scores


# ------------------------------------------------------------------------------ the compiled cache

def test_one_cache_holds_explanations_attacks_and_predictions_and_releases_models():
    model = small_cnn(seed=5)
    h = handle(model)
    x = images(2)
    h.predict(x)
    explain(h, x, "gradcam")
    create_attack("pgd", eps=4.0, steps=2).generate(h, x)
    # forward, Grad-CAM, the attack and its logits model: one cache, one forward for every caller.
    assert compiled.cache_size(model) == 4
    predict_probs(h, x)
    assert compiled.cache_size(model) == 4  # the attack's predictions used the same compiled forward
    ref = weakref.ref(model)
    del model, h
    gc.collect()
    assert ref() is None, "the compiled cache keeps a model alive"
    assert compiled.cache_size() <= compiled.MAX_ENTRIES


def test_the_cache_is_bounded_over_many_models():
    models = [small_cnn(seed=s) for s in range(4)]
    before = time.perf_counter()
    for m in models:
        for i in range(compiled.MAX_PER_MODEL + 2):
            compiled.get(m, ("test", i), lambda: object())
        assert compiled.cache_size(m) == compiled.MAX_PER_MODEL
    assert compiled.cache_size() <= compiled.MAX_ENTRIES
    assert time.perf_counter() - before < 5
