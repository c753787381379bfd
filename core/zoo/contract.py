"""The model contract every loaded classifier must meet, checked once when it is loaded.

One input of fixed-size RGB images (``(batch, height, width, 3)``, each side at most
:data:`MAX_INPUT_SIDE` pixels) and one output of class scores (``(batch, classes)``, at least two
classes). Anything else would fail later, deep inside a prediction or an explanation, or take
unbounded memory (a model declaring a 20000x20000 input needs 4.8 GB for one image's pixels alone).
"""

from __future__ import annotations

import keras

from core.errors import GlasswingError

# The largest image side a model may declare: ImageNet classifiers take 224-600 px (EfficientNet-B7: 600).
MAX_INPUT_SIDE = 1024


class ModelContractError(GlasswingError):
    """A model loads but is not an image classifier Glasswing can use; the message says which part."""


def _shape(tensor) -> tuple:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def check_contract(model: keras.Model, name: str) -> tuple[int, int]:
    """Check ``model`` against the contract; return its input ``(height, width)`` or raise."""
    inputs, outputs = list(model.inputs or []), list(model.outputs or [])
    if len(inputs) != 1:
        raise ModelContractError(f"{name}: the model takes {len(inputs)} inputs; Glasswing needs a classifier "
                                 "with one image input.")
    shape = _shape(inputs[0])
    if len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[2] is None:
        raise ModelContractError(f"{name}: the model does not take fixed-size RGB images (input {shape}; "
                                 "expected (batch, height, width, 3)).")
    height, width = shape[1], shape[2]
    if height < 1 or width < 1 or max(height, width) > MAX_INPUT_SIDE:
        raise ModelContractError(f"{name}: the model declares a {height}x{width} input; Glasswing accepts "
                                 f"models whose input sides are 1 to {MAX_INPUT_SIDE} pixels.")
    if len(outputs) != 1:
        raise ModelContractError(f"{name}: the model has {len(outputs)} outputs; Glasswing needs a classifier "
                                 "with one output of class probabilities.")
    out = _shape(outputs[0])
    if len(out) != 2 or out[1] is None or out[1] < 2:
        raise ModelContractError(f"{name}: the model's output has shape {out}; Glasswing needs class "
                                 "probabilities of shape (batch, classes) with at least two classes.")
    return height, width
