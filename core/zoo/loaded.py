"""The model handle: the Keras model plus what every caller needs to know about it, decided once at load.

Core entry points (explain, attacks, feature maps, sanity checks, evaluation, prediction) accept a
:class:`LoadedModel` or a plain ``keras.Model``; :func:`as_loaded` is the one helper that turns either
into a handle, and the entry point holds the handle's lock. Callers never take the lock themselves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core import compiled
from core.errors import GlasswingError, ParameterError

# Each Keras model keeps its handle here, so that ``loaded.model`` gets the same lock as ``loaded`` and a
# bare model one handle for its lifetime (set past Keras's attribute tracking: it is not a weight).
_HANDLE = "_glasswing_handle"


def unnamed_classes(count: int) -> list[str]:
    """The class names of a model file that names none: ``class 0`` ... ``class N-1``."""
    return [f"class {i}" for i in range(count)]


@dataclass
class LoadedModel:
    """A classifier taking raw RGB pixels and returning class probabilities.

    ``model`` maps float32 ``(N, H, W, 3)`` pixels in 0..255 to ``(N, C)`` probabilities; its
    preprocessing is a layer inside it. Instances are shared by every session of a server, so they
    are never trained or mutated; ``lock`` guards any call that is not thread-safe and is taken by
    core's entry points, never by their callers. ``default_cam_layer`` is decided here, once: the layer
    given if CAM methods can explain it (its full ``"outer/inner"`` name for a nested backbone), else
    the model's last spatial layer, or None when it has none.
    """

    name: str
    model: keras.Model
    input_size: tuple[int, int]  # (height, width)
    class_names: list[str]
    default_cam_layer: str | None  # None: the model has no spatial layer for CAM methods
    source: str  # a sentence saying where the weights came from
    path: Path | None = None  # the .keras file it was loaded from, if any
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.default_cam_layer = cam_layer(self.model, self.default_cam_layer)
        object.__setattr__(self.model, _HANDLE, self)

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.class_names else int(self.model.outputs[0].shape[-1])

    def label(self, index: int) -> str:
        return self.class_names[index] if 0 <= index < len(self.class_names) else f"class {index}"

    def class_index(self, target: str | int, parameter: str = "target") -> int:
        """Resolve a class given as an index or a name (case-insensitive); errors name ``parameter``."""
        last = self.num_classes - 1
        if isinstance(target, str) and target.strip().lstrip("-").isdigit():
            text = target.strip()
            if len(text) > 18:  # Python refuses to parse over 4300 digits; any such number is out of range
                raise ParameterError(f"{parameter} must be a class index from 0 to {last}, got {text[:20]}....")
            target = int(text)
        if isinstance(target, int):
            if not 0 <= target < self.num_classes:
                raise ParameterError(f"{parameter} must be a class index from 0 to {last}, got {target}.")
            return target
        wanted = str(target).strip().lower().replace("_", " ")
        for i, name in enumerate(self.class_names):
            if name.lower().replace("_", " ") == wanted:
                return i
        close = [n for n in self.class_names if wanted in n.lower()][:5]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ParameterError(f"{parameter}: unknown class {target!r} for model {self.name}.{hint}")

    def predict(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Probabilities for a batch of images already resized to :attr:`input_size`."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[None]
        with self.lock:
            forward = compiled.forward(self.model)
            outs = [forward(tf.constant(images[i : i + batch_size])).numpy()
                    for i in range(0, len(images), batch_size)]
        return np.concatenate(outs, axis=0) if outs else np.zeros((0, self.num_classes), np.float32)

    def top_k(self, probs: np.ndarray, k: int = 5) -> list[dict]:
        """``[{"index", "label", "prob"}]`` for the ``k`` most probable classes of one row."""
        order = np.argsort(-probs)[:k]
        return [{"index": int(i), "label": self.label(int(i)), "prob": float(probs[i])} for i in order]


def cam_layer(model: keras.Model, preferred: str | None = None) -> str | None:
    """The layer CAM methods explain by default, always one of ``core.explain.layer_choices(model)``:
    ``preferred`` when it is one, else the last spatial layer (inside a nested backbone when that comes
    last), else None for a model without spatial layers (it still predicts; CAM methods say why not)."""
    from core.explain.layers import layer_choices, resolve_layer  # core.explain imports this module

    choices = layer_choices(model)
    for name in ([preferred] if preferred else []) + [None]:
        try:
            ref = resolve_layer(model, name).name
        except (GlasswingError, AttributeError, ValueError):  # not explainable: try the next choice
            continue
        if ref in choices:
            return ref
    return choices[-1] if choices else None


def as_loaded(model: LoadedModel | keras.Model) -> LoadedModel:
    """The handle of ``model``: itself, the handle a ``keras.Model`` was loaded in, or a new one.

    A bare ``keras.Model`` (raw pixels in, probabilities out) gets a handle without class names whose
    size and default layer are read from its graph.
    """
    if isinstance(model, LoadedModel):
        return model
    if not isinstance(model, keras.Model):
        raise ParameterError(f"Parameter 'model' must be a keras.Model or a loaded Glasswing model, "
                             f"got {type(model).__name__}.")
    handle = model.__dict__.get(_HANDLE)
    if handle is not None:
        return handle
    inputs = getattr(model, "inputs", None) or []
    h, w = tuple(inputs[0].shape[1:3]) if inputs and len(inputs[0].shape) == 4 else (None, None)
    return LoadedModel(name=model.name, model=model, input_size=(h, w), class_names=[],
                       default_cam_layer=None, source="a Keras model")
