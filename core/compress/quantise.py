"""Post-training quantisation variants through core.train.export's one TFLite converter.

``float16`` stores float16 weights; ``int8`` is dynamic-range (int8 weights, float activations, no
calibration); ``int8-full`` has full-integer kernels calibrated on the run's training images. Inputs and
outputs stay float32 pixels in, probabilities out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.compress.variants import KINDS, QUANTISED, VariantSpec
from core.train.export import tflite_bytes


def _build(context: Any, spec: VariantSpec, folder: Path) -> dict[str, Any]:
    kind = QUANTISED[spec.kind]
    representative = context.representative() if kind == "tflite-int8" else None
    content = tflite_bytes(context.saved_model(), kind, representative)
    target = folder / "model.tflite"
    target.write_bytes(content)
    return {"format": kind, "file": target, "tflite": content,
            "cam_model": lambda: dequantised(context.model_file, spec.kind), "cam_reason": CAM_REASON[spec.kind]}


for _kind in QUANTISED:
    KINDS.register(_kind)(_build)


def _int8_per_channel(kernel: np.ndarray) -> np.ndarray:
    """A kernel through symmetric int8 with one scale per output channel (the last axis), back to float:
    TFLite's weight scheme for convolutions (and, in recent converters, fully connected layers)."""
    scale = np.abs(kernel).reshape(-1, kernel.shape[-1]).max(0) / 127.0
    scale = np.where(scale == 0, 1.0, scale)
    return (np.clip(np.round(kernel / scale), -127, 127) * scale).astype(kernel.dtype)


def dequantised(model_file: Path, kind: str) -> Any:
    """The Keras model with its weights as ``kind`` stores them, de-quantised: float16 rounds every weight;
    int8 and int8-full round every kernel to per-channel int8 (biases and BatchNorm stay float; int8-full's
    activation quantisation is not modelled)."""
    from core.compress.prune import kernels
    from core.zoo.files import load_keras_file

    model = load_keras_file(model_file)
    if kind == "float16":
        for weight in model.weights:
            weight.assign(np.asarray(weight.numpy()).astype(np.float16).astype(np.float32))
    else:
        for kernel in kernels(model):
            kernel.assign(_int8_per_channel(np.asarray(kernel.numpy())))
    return model


CAM_REASON = {"float16": "Grad-CAM through the Keras model with float16-rounded weights, as TFLite stores them",
              "int8": "Grad-CAM through the Keras model with per-channel int8 kernels de-quantised "
                      "(TFLite's weight scheme); dynamic activation quantisation not modelled",
              "int8-full": "Grad-CAM through the Keras model with per-channel int8 kernels de-quantised "
                           "(TFLite's weight scheme); activation quantisation not modelled"}
