"""Speed of the explanation methods against a compiled forward(+backward) pass and tf-keras-vis.

    .venv/bin/python -m bench.bench_explain [--models resnet50,vgg16,efficientnet_lite0] [--repeats N]

For each model, on the same photo and in the same run, it times (median after a warm-up call): a
compiled forward pass, a compiled forward+backward pass (gradient of the top logit with respect to the
input), every registered method through ``core.explain.explain`` (Score-CAM with its default channel
cap) and tf-keras-vis ``Gradcam`` (ReplaceToLinear, CategoricalScore). Weights do not change speed, so
models are built with random weights (batch-norm statistics calibrated on one batch so activations
stay in a realistic range) and wrapped per the model contract: raw pixels in, probabilities out.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import core  # noqa: F401 - sets TensorFlow's environment (core/__init__.py) before TensorFlow loads

# isort: split

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from core.explain import explain, get_method, list_methods  # noqa: E402
from core.explain.layers import resolve_layer  # noqa: E402
from core.modelgraph import logits_model  # noqa: E402

SLOW_SECONDS = 1.0  # methods slower than this per call get at most 3 timed repeats


def _caffe() -> keras.layers.Layer:
    return keras.layers.Rescaling(1.0, offset=[-123.68, -116.779, -103.939], name="preprocess")


# name -> (constructor, input size, preprocessing layer factory)
APPLICATIONS: dict[str, tuple[Callable, int, Callable[[], keras.layers.Layer]]] = {
    "resnet50": (keras.applications.ResNet50, 224, _caffe),
    "vgg16": (keras.applications.VGG16, 224, _caffe),
    "mobilenet_v2": (keras.applications.MobileNetV2, 224,
                     lambda: keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")),
}


def contract_model(name: str) -> keras.Model | None:
    """A flat raw-pixel classifier ending in ``Activation("softmax", name="probabilities")``."""
    if name == "efficientnet_lite0":
        try:
            from core.zoo.efficientnet_lite import build_efficientnet_lite
        except ImportError as exc:
            print(f"note: skipping efficientnet_lite0 (core.zoo.efficientnet_lite not importable: {exc})")
            return None
        return build_efficientnet_lite("lite0")
    constructor, size, preprocess = APPLICATIONS[name]
    pixels = keras.Input((size, size, 3), name="pixels")
    backbone = constructor(weights=None, include_top=True, classifier_activation=None,
                           input_tensor=preprocess()(pixels))
    probs = keras.layers.Activation("softmax", name="probabilities")(backbone.output)
    return keras.Model(pixels, probs, name=name)


def calibrate_batchnorm(model: keras.Model, images: np.ndarray) -> None:
    """Set batch-norm statistics from one batch; random-init deep nets otherwise shrink activations to ~0."""
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum


def photo(size: int) -> np.ndarray:
    """scikit-image's cat photo as float32 raw pixels ``(1, size, size, 3)``."""
    from skimage import data

    from core.images import resize_for_model

    return resize_for_model(data.chelsea(), (size, size))[None]


def median_times(candidates: list[tuple[str, Callable[[], object]]], repeats: int) -> list[tuple[str, float]]:
    """Median ms per candidate after one warm-up call each (tracing, compiling).

    Fast candidates are timed round-robin, one call each per round, so that load from other
    processes hits them alike and their ratios stay meaningful on a busy machine. Candidates slower
    than :data:`SLOW_SECONDS` get at most 3 timed calls.
    """
    times: dict[str, list[float]] = {label: [] for label, _ in candidates}
    slow = set()
    for label, fn in candidates:
        start = time.perf_counter()
        fn()
        if time.perf_counter() - start > SLOW_SECONDS:
            slow.add(label)
    for _ in range(repeats):
        for label, fn in candidates:
            if label not in slow:
                start = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - start)
    for label, fn in candidates:
        for _ in range(min(repeats, 3) if label in slow else 0):
            start = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - start)
    return [(label, statistics.median(times[label]) * 1000.0) for label, _ in candidates]


def compiled_passes(model: keras.Model) -> tuple[Callable, Callable]:
    """A compiled forward pass and a compiled forward+backward (top logit w.r.t. the input)."""
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
    logits = logits_model(model)

    @tf.function(input_signature=[spec])
    def forward(x):
        return model(x, training=False)

    @tf.function(input_signature=[spec])
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_max(logits(x, training=False), axis=-1)
        return tape.gradient(score, x)

    return forward, forward_backward


def tf_keras_vis_gradcam(model: keras.Model, image: np.ndarray, layer: str) -> Callable[[], object]:
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    class_index = int(np.argmax(model(image, training=False)[0]))
    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    score = CategoricalScore([class_index])
    return lambda: gradcam(score, image, penultimate_layer=layer)


def bench_model(name: str, repeats: int) -> list[tuple[str, float]] | None:
    model = contract_model(name)
    if model is None:
        return None
    size = int(model.inputs[0].shape[1])
    image = photo(size)
    calibrate_batchnorm(model, np.concatenate([image, image[:, ::-1], np.full_like(image, 127.0)]))
    forward, forward_backward = compiled_passes(model)
    x = tf.constant(image)
    layer = resolve_layer(model, None).name
    candidates = [("compiled forward", lambda: forward(x).numpy()),
                  ("compiled forward+backward", lambda: forward_backward(x).numpy())]
    candidates += [(m.name, lambda m=m.name: explain(model, image, m)) for m in list_methods()]
    candidates.append(("tf-keras-vis Gradcam", tf_keras_vis_gradcam(model, image, layer)))
    return median_times(candidates, repeats)


def print_table(name: str, rows: list[tuple[str, float]]) -> None:
    ms = dict(rows)
    base = ms["compiled forward+backward"]
    print(f"\n{name}  (median ms; x fwd+bwd = time / compiled forward+backward)")
    print(f"  {'':28s} {'ms':>9s} {'x fwd+bwd':>10s}")
    for label, value in rows:
        print(f"  {label:28s} {value:9.1f} {value / base:10.2f}")
    print(f"  tf-keras-vis Gradcam / our gradcam: {ms['tf-keras-vis Gradcam'] / ms['gradcam']:.1f}x slower")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,vgg16,efficientnet_lite0",
                        help=f"comma-separated: {', '.join([*APPLICATIONS, 'efficientnet_lite0'])}")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per measurement (after warm-up)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in APPLICATIONS and n != "efficientnet_lite0"]
    if unknown or args.repeats < 1:
        parser.error(f"unknown model(s): {', '.join(unknown)}" if unknown else "--repeats must be at least 1")
    scorecam_cap = next(p.default for p in get_method("scorecam").params if p.name == "max_channels")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, batch 1, "
          f"Score-CAM max_channels={scorecam_cap}, {args.repeats} interleaved repeats "
          f"(3 for calls over {SLOW_SECONDS:g} s)")
    for name in names:
        rows = bench_model(name, args.repeats)
        if rows is not None:
            print_table(name, rows)
        keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
