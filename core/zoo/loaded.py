"""A model ready to use: the Keras model plus what every caller needs to know about it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core.errors import ParameterError


@dataclass
class LoadedModel:
    """A classifier taking raw RGB pixels and returning class probabilities.

    ``model`` maps float32 ``(N, H, W, 3)`` pixels in 0..255 to ``(N, C)`` probabilities; its
    preprocessing is a layer inside it. Instances are shared by every session of a server, so they
    are never trained or mutated; ``lock`` guards any call that is not thread-safe.
    """

    name: str
    model: keras.Model
    input_size: tuple[int, int]  # (height, width)
    class_names: list[str]
    default_cam_layer: str | None  # None: the model has no spatial layer for CAM methods
    source: str  # a sentence saying where the weights came from
    path: Path | None = None  # the .keras file it was loaded from, if any
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    _forward: object = field(default=None, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

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
        if self._forward is None:
            h, w = self.input_size
            spec = tf.TensorSpec([None, h, w, 3], tf.float32)
            self._forward = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[None]
        outs = [self._forward(tf.constant(images[i : i + batch_size])).numpy()
                for i in range(0, len(images), batch_size)]
        return np.concatenate(outs, axis=0) if outs else np.zeros((0, self.num_classes), np.float32)

    def top_k(self, probs: np.ndarray, k: int = 5) -> list[dict]:
        """``[{"index", "label", "prob"}]`` for the ``k`` most probable classes of one row."""
        order = np.argsort(-probs)[:k]
        return [{"index": int(i), "label": self.label(int(i)), "prob": float(probs[i])} for i in order]
