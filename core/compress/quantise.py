"""Post-training quantisation variants through core.train.export's one TFLite converter.

``float16`` stores float16 weights; ``int8`` is dynamic-range (int8 weights, float activations, no
calibration); ``int8-full`` has full-integer kernels calibrated on the run's training images. Inputs and
outputs stay float32 pixels in, probabilities out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.compress.variants import KINDS, QUANTISED, VariantSpec
from core.train.export import tflite_bytes


def _build(context: Any, spec: VariantSpec, folder: Path) -> dict[str, Any]:
    kind = QUANTISED[spec.kind]
    representative = context.representative() if kind == "tflite-int8" else None
    content = tflite_bytes(context.saved_model(), kind, representative)
    target = folder / "model.tflite"
    target.write_bytes(content)
    return {"format": kind, "file": target, "tflite": content}


for _kind in QUANTISED:
    KINDS.register(_kind)(_build)
