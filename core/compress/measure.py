"""What a variant costs and keeps: size (stored and deflated), latency per image, accuracy, agreement.

Latency is the median of repeated single-image calls in the runtime the variant uses (the TFLite
interpreter, or Keras through :func:`core.compiled.forward`), after one warm-up call.
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

LATENCY_CALLS = 20


def size_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def deflated_bytes(path: Path) -> int:
    """Bytes of ``path`` (a file or a folder) in a deflated zip: dense zeros shrink here, not on disk."""
    buffer = io.BytesIO()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for f in files:
            archive.write(f, f.name if path.is_file() else str(f.relative_to(path)))
    return len(buffer.getvalue())


def median_latency_ms(predict_one: Callable[[np.ndarray], object], image: np.ndarray,
                      calls: int = LATENCY_CALLS) -> float:
    """Median wall time in ms of ``predict_one(image[None])`` over ``calls`` calls, after a warm-up."""
    x = image[None].astype(np.float32)
    predict_one(x)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        predict_one(x)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000.0, 3)


def tflite_runner(model_bytes: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """A TFLite interpreter as ``pixels -> probabilities``; the input is resized only when its shape changes."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice (LiteRT is separate)
        interpreter = tf.lite.Interpreter(model_content=model_bytes)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    shape: list[tuple] = [()]

    def predict(x: np.ndarray) -> np.ndarray:
        if tuple(x.shape) != shape[0]:
            interpreter.resize_tensor_input(inp["index"], list(x.shape))
            interpreter.allocate_tensors()
            shape[0] = tuple(x.shape)
        interpreter.set_tensor(inp["index"], x.astype(np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(out["index"]).copy()

    return predict


def batched(predict: Callable[[np.ndarray], object], images: np.ndarray, batch: int = 32) -> np.ndarray:
    return np.concatenate([np.asarray(predict(images[i:i + batch].astype(np.float32)))
                           for i in range(0, len(images), batch)])


def scores(probabilities: np.ndarray, labels: np.ndarray, reference: np.ndarray | None) -> dict[str, float | None]:
    """Accuracy against ``labels`` and top-1 agreement with the original's ``reference`` probabilities."""
    top1 = probabilities.argmax(1)
    return {"accuracy": float((top1 == labels).mean()),
            "agreement": None if reference is None else float((top1 == reference.argmax(1)).mean())}


def cam_agreement(original: object, variant: object, images: np.ndarray, targets: np.ndarray) -> float:
    """Mean Spearman rank correlation between the two models' Grad-CAM maps of ``images``, each map for the
    original's top class ``targets`` (so both answer "where is this class?"), at each model's default
    CAM layer. A constant map (nothing shown) counts as 0, as in :func:`core.trust.sanity.similarity`."""
    from core.explain import explain
    from core.trust.sanity import similarity

    pixels = images.astype(np.float32)
    first = explain(original, pixels, "gradcam", target=[int(t) for t in targets])
    second = explain(variant, pixels, "gradcam", target=[int(t) for t in targets])
    return round(float(np.mean([similarity(a.heatmap, b.heatmap)[0] for a, b in zip(first, second, strict=True)])),
                 4)
