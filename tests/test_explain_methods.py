"""Every registered explanation method on small models and keras.applications architectures.

One parametrised suite (shape, dtype, range, no NaN, determinism, consistent class/probability) over
every method and model, plus the registry, parameter and error contracts, targets, fine-tuning heads
(flat and nested backbones) and the compiled-function cache.
"""

from __future__ import annotations

import gc
import json
import os
import weakref

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from core import compiled  # noqa: E402
from core.errors import ParameterError, UnknownNameError  # noqa: E402
from core.explain import (  # noqa: E402
    ClassTarget,
    ContrastTarget,
    Explanation,
    TopClass,
    explain,
    get_method,
    layer_choices,
    list_methods,
    method_names,
    peak_location,
)
from core.params import Param  # noqa: E402
from core.zoo.loaded import LoadedModel  # noqa: E402

EXPECTED_METHODS = ["gradcam", "gradcam++", "layercam", "scorecam", "saliency", "smoothgrad",
                    "integrated_gradients", "hirescam", "xgradcam", "eigencam", "ablationcam", "rise", "occlusion",
                    "guided_backprop", "guided_gradcam"]
# Small settings for the big architectures keep the suite fast; the tiny model runs the defaults.
QUICK = {"scorecam": {"max_channels": 8}, "smoothgrad": {"samples": 4}, "integrated_gradients": {"steps": 4},
         "ablationcam": {"ablation_batch": 256}, "rise": {"num_masks": 64}, "occlusion": {"patch": 16, "stride": 16}}


# ---------------------------------------------------------------------------------------------- models

def head(features, num_classes: int, name: str = "logits"):
    """A linear classifier and the contract's softmax layer."""
    logits = keras.layers.Dense(num_classes, name=name)(features)
    return keras.layers.Activation("softmax", name="probabilities")(logits)


def calibrate_batchnorm(model: keras.Model, images: np.ndarray) -> keras.Model:
    """Batch-norm statistics from one batch: random-init deep nets otherwise shrink activations to ~0."""
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = 0.0
    model(images, training=True)
    for layer in layers:
        layer.momentum = 0.99
    return model


def tiny_cnn(size: int = 32, num_classes: int = 5) -> keras.Model:
    keras.utils.set_random_seed(11)
    x = keras.Input((size, size, 3))
    y = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    y = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(y)
    y = keras.layers.MaxPooling2D(name="pool1")(y)
    y = keras.layers.Conv2D(16, 3, activation="relu", name="conv2")(y)
    y = keras.layers.BatchNormalization(name="bn2")(y)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    return keras.Model(x, head(y, num_classes), name="tiny_cnn")


def application(constructor, size: int, preprocess: keras.layers.Layer, num_classes: int = 10) -> keras.Model:
    """A keras.applications backbone (weights=None) in one flat graph, per the model contract."""
    keras.utils.set_random_seed(5)
    x = keras.Input((size, size, 3))
    base = constructor(weights=None, include_top=False, input_tensor=preprocess(x))
    y = keras.layers.GlobalAveragePooling2D(name="gap")(base.output)
    return keras.Model(x, head(y, num_classes), name=constructor.__name__.lower())


def nested_finetune(size: int = 64, num_classes: int = 4) -> keras.Model:
    """The usual fine-tuning pattern with the backbone as ONE layer (a keras.Model inside a model)."""
    keras.utils.set_random_seed(9)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(size, size, 3),
                                          alpha=0.35)
    calibrate_batchnorm(base, pixels(8, size, seed=99) / 127.5 - 1.0)  # before it is frozen in the head
    x = keras.Input((size, size, 3))
    y = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    y = base(y, training=False)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    y = keras.layers.Dropout(0.2, name="dropout")(y)
    return keras.Model(x, head(y, num_classes, name="head"), name="nested_finetune")


def pixels(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth random 'photos' (blurred noise), raw pixels 0..255."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, size // 8 + 1, size // 8 + 1, 3)).astype(np.float32)
    return tf.image.resize(coarse, (size, size)).numpy().clip(0, 255)


def _mobilenet(size: int) -> keras.Model:
    return application(keras.applications.MobileNetV2, size, keras.layers.Rescaling(1 / 127.5, offset=-1.0))


def _caffe() -> keras.layers.Layer:
    return keras.layers.Rescaling(1.0, offset=[-123.68, -116.779, -103.939])


MODELS = {
    "tiny_cnn": lambda: tiny_cnn(),
    "mobilenet_v2_96": lambda: _mobilenet(96),
    "nested_finetune": lambda: nested_finetune(),
    "resnet50_64": lambda: application(keras.applications.ResNet50, 64, _caffe()),
    "vgg16_64": lambda: application(keras.applications.VGG16, 64, _caffe()),
}
# Tracing every method through ResNet50 adds about 35 s: opt in with GLASSWING_TEST_BIG_MODELS=1
# (the benchmark runs it at full size anyway).
BIG = bool(os.environ.get("GLASSWING_TEST_BIG_MODELS"))
SUITE_MODELS = [name for name in MODELS if BIG or name != "resnet50_64"]


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    """Each architecture built once for the module, on first use."""

    class Lazy(dict):
        def __missing__(self, name):
            model = MODELS[name]()
            self[name] = calibrate_batchnorm(model, pixels(8, model.inputs[0].shape[1], seed=99))
            return self[name]

    return Lazy()


@pytest.fixture(scope="module")
def tiny() -> keras.Model:
    return calibrate_batchnorm(tiny_cnn(), pixels(8, 32, seed=99))


# ------------------------------------------------------------------------------- the parametrised suite

@pytest.mark.parametrize("method", method_names())  # every registered method
@pytest.mark.parametrize("model_name", SUITE_MODELS)
def test_every_method_on_every_model(models, model_name, method):
    model = models[model_name]
    size = model.inputs[0].shape[1]
    images = pixels(2, size, seed=1)
    params = {} if model_name == "tiny_cnn" else QUICK.get(method, {})
    first = explain(model, images, method, **params)
    second = explain(model, images, method, **params)
    probs = model(images, training=False).numpy()
    assert len(first) == 2
    for exp, again, row in zip(first, second, probs, strict=True):
        assert isinstance(exp, Explanation) and exp.method == method
        assert exp.heatmap.shape == (size, size) and exp.heatmap.dtype == np.float32
        assert np.isfinite(exp.heatmap).all()
        assert exp.heatmap.min() >= 0.0 and exp.heatmap.max() == pytest.approx(1.0)  # not a blank map
        np.testing.assert_allclose(again.heatmap, exp.heatmap, atol=1e-5)  # deterministic
        assert exp.class_index == int(np.argmax(row))  # default target: the top prediction
        assert exp.prob == pytest.approx(float(row[exp.class_index]), rel=1e-4)
        assert (exp.layer is not None) == get_method(method).uses_layer
        assert exp.ms > 0


# ----------------------------------------------------------------------------- registry and parameters

def test_registry_lists_every_method_with_its_declarations():
    assert method_names() == EXPECTED_METHODS
    assert [m.name for m in list_methods("gradcam*")] == ["gradcam", "gradcam++"]
    for method in list_methods():
        assert method.title and "\n" not in method.description and len(method.description) < 110
        assert isinstance(method.uses_layer, bool)
        assert method.uses_layer == (method.name in {"gradcam", "gradcam++", "layercam", "scorecam", "hirescam",
                                                      "xgradcam", "eigencam", "ablationcam", "guided_gradcam"})
        for p in method.params:
            assert isinstance(p, Param) and p.help
            assert p.validate(p.default) == p.default
            if p.type in (int, float):
                assert p.min <= p.default <= p.max
        json.dumps(method.spec())
    assert get_method("scorecam").params[0].name == "max_channels"
    assert get_method("scorecam").params[0].default == 32


def test_unknown_method_lists_the_known_ones(tiny):
    with pytest.raises(UnknownNameError, match="grad_cam.*gradcam, gradcam\\+\\+"):
        explain(tiny, pixels(1, 32), "grad_cam")


@pytest.mark.parametrize("method,params,name", [
    ("smoothgrad", {"samples": 0}, "samples"),
    ("smoothgrad", {"noise": -0.1}, "noise"),
    ("smoothgrad", {"noise": float("nan")}, "noise"),
    ("smoothgrad", {"seed": 1.5}, "seed"),
    ("integrated_gradients", {"steps": "many"}, "steps"),
    ("integrated_gradients", {"baseline": "purple"}, "baseline"),
    ("scorecam", {"max_channels": 0}, "max_channels"),
    ("scorecam", {"max_channels": True}, "max_channels"),
    ("gradcam", {"samples": 3}, "samples"),
])
def test_nonsense_parameters_name_the_parameter(tiny, method, params, name):
    with pytest.raises(ParameterError, match=name):
        explain(tiny, pixels(1, 32), method, **params)


def test_unknown_layer_is_named(tiny):
    with pytest.raises(UnknownNameError, match="'conv9'.*conv1"):
        explain(tiny, pixels(1, 32), "gradcam", layer="conv9")


def test_layer_without_feature_maps_is_refused(tiny):
    with pytest.raises(ParameterError, match="'logits'.*4-D"):
        explain(tiny, pixels(1, 32), "gradcam", layer="logits")


@pytest.mark.parametrize("target", [5, 1000, -2])
def test_class_out_of_range_is_named(tiny, target):
    with pytest.raises(ParameterError, match=f"class {target} is out of range.*5 classes"):
        explain(tiny, pixels(1, 32), "gradcam", target=target)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((1, 32, 32)), "shape"),
    (np.zeros((1, 32, 32, 4)), "shape"),
    (np.full((1, 32, 32, 3), np.nan), "NaN"),
    ("cat.jpg", "images"),
])
def test_bad_images_are_refused(tiny, bad, match):
    with pytest.raises(ParameterError, match=match):
        explain(tiny, bad, "saliency")


# --------------------------------------------------------------------------------------------- targets

def test_targets_int_per_image_and_callables_agree(tiny):
    images = pixels(2, 32, seed=4)
    by_int = explain(tiny, images, "gradcam", target=3)
    by_target = explain(tiny, images, "gradcam", target=ClassTarget(3))
    per_image = explain(tiny, images, "gradcam", target=[3, 1])
    assert [e.class_index for e in by_int] == [3, 3] and [e.class_index for e in per_image] == [3, 1]
    np.testing.assert_allclose(by_target[0].heatmap, by_int[0].heatmap, atol=1e-6)
    np.testing.assert_allclose(per_image[0].heatmap, by_int[0].heatmap, atol=1e-6)
    top = explain(tiny, images, "gradcam", target=TopClass())
    default = explain(tiny, images, "gradcam")
    np.testing.assert_allclose(top[1].heatmap, default[1].heatmap, atol=1e-6)
    probs = tiny(images).numpy()
    assert by_int[1].prob == pytest.approx(float(probs[1, 3]), rel=1e-4)


def test_custom_callable_target(tiny):
    """Any callable on the logits works, e.g. 'evidence for class 2 rather than class 0'."""
    images = pixels(1, 32, seed=5)
    (contrast,) = explain(tiny, images, "gradcam", target=lambda logits: logits[:, 2] - logits[:, 0])
    assert contrast.heatmap.shape == (32, 32) and np.isfinite(contrast.heatmap).all()
    (plain,) = explain(tiny, images, "gradcam", target=2)
    assert not np.allclose(contrast.heatmap, plain.heatmap)
    # The built-in ClassTarget is such a callable too.
    logits = tf.constant([[0.0, 5.0, 1.0]])
    assert float(ClassTarget(2)(logits)[0]) == 1.0 and float(TopClass()(logits)[0]) == 5.0


def test_smoothgrad_seed_and_scorecam_cap_change_the_map(tiny):
    images = pixels(1, 32, seed=6)
    a, b = (explain(tiny, images, "smoothgrad", samples=5, seed=s)[0].heatmap for s in (1, 2))
    assert not np.allclose(a, b)
    one, many = (explain(tiny, images, "scorecam", layer="conv1", max_channels=c)[0].heatmap for c in (1, 8))
    assert not np.allclose(one, many)
    # A cap above the layer's channel count simply uses them all.
    assert explain(tiny, images, "scorecam", max_channels=2048)[0].heatmap.shape == (32, 32)


# ------------------------------------------------------------------------------- models and layers

def test_any_conv_layer_can_be_chosen(tiny):
    for layer in ["conv1", "pool1", "conv2", "bn2"]:
        (exp,) = explain(tiny, pixels(1, 32), "layercam", layer=layer)
        assert exp.layer == layer and exp.heatmap.shape == (32, 32)
    (default,) = explain(tiny, pixels(1, 32), "gradcam")
    assert default.layer == "bn2"  # core.modelgraph.last_conv_layer_name
    (grads,) = explain(tiny, pixels(1, 32), "saliency", layer="conv1")  # ignored by gradient methods
    assert grads.layer is None


def test_flat_finetune_head_reaches_backbone_layers(models):
    model = models["mobilenet_v2_96"]
    (exp,) = explain(model, pixels(1, 96), "gradcam", layer="block_6_expand_relu")
    assert exp.layer == "block_6_expand_relu" and exp.heatmap.max() == pytest.approx(1.0)
    assert explain(model, pixels(1, 96), "gradcam")[0].layer == "out_relu"


def test_nested_backbone_layers_are_reachable(models):
    model = models["nested_finetune"]
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    choices = layer_choices(model)
    assert f"{base.name}/out_relu" in choices and f"{base.name}/block_6_expand_relu" in choices
    images = pixels(2, 64, seed=8)
    (default, _) = explain(model, images, "gradcam")
    assert default.layer == f"{base.name}/out_relu"
    by_inner_name = explain(model, images, "gradcam", layer="block_6_expand_relu")
    by_path = explain(model, images, "gradcam", layer=f"{base.name}/block_6_expand_relu")
    assert by_inner_name[0].layer == by_path[0].layer == f"{base.name}/block_6_expand_relu"
    np.testing.assert_allclose(by_inner_name[1].heatmap, by_path[1].heatmap, atol=1e-6)


def test_nested_backbone_gradcam_equals_eager_tape(models):
    """Oracle through the nested graph: split the computation by hand and differentiate eagerly."""
    model = models["nested_finetune"]
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    inner = keras.Model(base.inputs, [base.get_layer("block_6_expand_relu").output, base.outputs[0]])
    images = pixels(2, 64, seed=10)
    with tf.GradientTape() as tape:
        activations, features = inner(model.get_layer("preprocess")(tf.constant(images)), training=False)
        logits = model.get_layer("head")(model.get_layer("gap")(features))
        score = logits[:, 1]
    grads = tape.gradient(score, activations).numpy()
    expected = np.maximum(np.einsum("nhwc,nc->nhw", activations.numpy(), grads.mean(axis=(1, 2))), 0)
    maps, idx, probs = get_method("gradcam").raw_maps(model, images, layer="block_6_expand_relu", target=1)
    np.testing.assert_allclose(maps, expected, rtol=1e-3, atol=1e-6 * expected.max())
    np.testing.assert_allclose(probs, model(images).numpy()[:, 1], rtol=1e-4)


def test_nested_backbone_in_a_sequential(models):
    base = next(layer for layer in models["nested_finetune"].layers if isinstance(layer, keras.Model))
    seq = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Rescaling(1 / 127.5, offset=-1.0), base,
                            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3),
                            keras.layers.Activation("softmax", name="probabilities")])
    (exp,) = explain(seq, pixels(1, 64), "layercam", layer="block_13_expand_relu")
    assert exp.layer.endswith("/block_13_expand_relu") and exp.heatmap.shape == (64, 64)


def test_loaded_model_uses_its_default_layer_and_class_names(tiny):
    loaded = LoadedModel(name="tiny", model=tiny, input_size=(32, 32), class_names=list("abcde"),
                         default_cam_layer="conv1", source="a test fixture")
    (exp,) = explain(loaded, pixels(1, 32), "gradcam", target=4)
    assert exp.layer == "conv1" and exp.label == "e" and exp.class_index == 4


def test_images_at_another_size_are_resized_to_the_model(tiny):
    (exp,) = explain(tiny, pixels(1, 48), "gradcam")
    assert exp.heatmap.shape == (32, 32)


def test_explanation_json_and_peak():
    heatmap = np.zeros((4, 8), np.float32)
    heatmap[1, 6] = 1.0
    exp = Explanation(heatmap=heatmap, method="gradcam", layer="conv1", class_index=2, prob=0.5, ms=3.0)
    assert peak_location(heatmap) == (1, 6) == exp.peak()
    assert peak_location(heatmap, image_shape=(40, 80, 3)) == (15, 65)  # centre of that cell, scaled
    data = json.loads(json.dumps(exp.to_json()))
    assert data["peak"] == {"row": 1, "col": 6} and data["class_index"] == 2 and "heatmap" not in data
    assert np.array(exp.to_json(include_heatmap=True)["heatmap"]).shape == (4, 8)


# ------------------------------------------------------------------------------------- compiled cache

def test_compiled_functions_are_reused_bounded_and_released():
    model = tiny_cnn()
    images = pixels(1, 32)
    explain(model, images, "gradcam")
    size = compiled.cache_size(model)
    explain(model, images, "gradcam", target=3)  # another class: same compiled function
    assert compiled.cache_size(model) == size == 1
    for layer in ["conv1", "pool1", "conv2", "bn2"]:
        for method in ["gradcam", "gradcam++", "layercam", "scorecam", "saliency"]:
            explain(model, images, method, layer=layer)
    # 4 CAM methods x 4 layers + the input gradients (shared by the gradient methods): 17, capped at 16.
    assert compiled.cache_size(model) == compiled.MAX_PER_MODEL
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None  # the cache does not keep a model alive


# -------------------------------------------------------------------------------------------- contrast

@pytest.mark.parametrize("method", [m.name for m in list_methods() if not m.class_agnostic])
def test_contrast_equals_the_same_difference_as_a_callable(tiny, method):
    """'Why 3 rather than 1' is the gradient (or score) of logit 3 minus logit 1, reported as class 3."""
    images = pixels(2, 32, seed=12)
    by_contrast = explain(tiny, images, method, target=ContrastTarget(3, 1))
    by_callable = explain(tiny, images, method, target=lambda logits: logits[:, 3] - logits[:, 1])
    plain = explain(tiny, images, method, target=3)
    probs = tiny(images).numpy()
    for contrast, callable_, row in zip(by_contrast, by_callable, probs, strict=True):
        np.testing.assert_allclose(contrast.heatmap, callable_.heatmap, atol=1e-5)
        assert contrast.class_index == 3 and contrast.prob == pytest.approx(float(row[3]), rel=1e-4)
    assert not all(np.allclose(c.heatmap, p.heatmap, atol=1e-3) for c, p in zip(by_contrast, plain, strict=True))


def test_contrast_refusals_are_one_sentence(tiny):
    with pytest.raises(ParameterError, match="EigenCAM.*same map for every class.*can: gradcam, .*ablationcam"):
        explain(tiny, pixels(1, 32), "eigencam", target=ContrastTarget(3, 1))
    with pytest.raises(ParameterError, match="must differ from the target class 2"):
        explain(tiny, pixels(1, 32), "gradcam", target=ContrastTarget(2, 2))
    with pytest.raises(ParameterError, match="class 7 is out of range"):
        explain(tiny, pixels(1, 32), "gradcam", target=ContrastTarget(1, 7))
