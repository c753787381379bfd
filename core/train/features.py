"""The fast path: a frozen backbone's pooled features, computed once per image (and per augmented view).

With the backbone frozen, every epoch would push the same images through the same convolutions; doing
it once and training the head on the stored vectors turns epochs of seconds into milliseconds. For
augmented training, each image is also passed through the augmentation ``views`` times, and each
epoch picks one stored view per image at random, so the head still sees varied inputs.
"""

from __future__ import annotations

import threading
from collections.abc import Sized
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core.data.augment import apply_augmenter
from core.train.events import Clock, Listener
from core.train.loop import StopRequested


class FeatureExtractor:
    """Compiled ``pixels -> features`` of a feature model, plain or after an augmenter.

    One traced function serves both (the augmenter sits behind a ``tf.cond``), so the backbone is
    traced once: tracing a 200-layer network costs seconds.
    """

    def __init__(self, feature_model: keras.Model, augmenter: Any = None) -> None:
        spec = tf.TensorSpec([None, *feature_model.inputs[0].shape[1:]], tf.float32)
        self.dim = int(feature_model.outputs[0].shape[-1])
        self.can_augment = augmenter is not None and bool(augmenter.layers)
        can_augment = self.can_augment

        @tf.function(input_signature=[spec, tf.TensorSpec([], tf.bool)], autograph=False)
        def features(x, augment):
            if can_augment:
                x = tf.cond(augment, lambda: apply_augmenter(augmenter, x), lambda: x)
            return feature_model(x, training=False)

        self._features = features

    def plain(self, x: Any) -> tf.Tensor:
        return self._features(tf.cast(x, tf.float32), tf.constant(False))

    def augmented(self, x: Any) -> tf.Tensor:
        if not self.can_augment:
            raise ValueError("this extractor has no augmenter")
        return self._features(tf.cast(x, tf.float32), tf.constant(True))


def extract(extractor: FeatureExtractor, batches: Sized, count: int, views: int, clock: Clock,
            listener: Listener, stop_event: threading.Event,
            phase: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Features ``(views, count, dim)`` float32 (view 0 is the clean image) and labels ``(count,)``.

    ``batches`` yields ``(pixels, labels)`` in a fixed order; ``views > 1`` needs an extractor with an
    augmenter. The clock counts one step per forward pass over a batch. Stops within a batch of
    ``stop_event``.
    """
    steps = len(batches)
    if views > 1 and not extractor.can_augment:
        raise ValueError("augmented views need an augmenter")
    features = np.empty((views, count, extractor.dim), np.float32)
    labels = np.empty((count,), np.int32)
    done = 0
    clock.begin(phase)
    for step, (x, y) in enumerate(batches, start=1):
        if stop_event.is_set():
            raise StopRequested
        n = int(y.shape[0])
        features[0, done:done + n] = extractor.plain(x).numpy()
        for view in range(1, views):
            features[view, done:done + n] = extractor.augmented(x).numpy()
        labels[done:done + n] = np.asarray(y)
        done += n
        clock.step(views)
        elapsed = clock.elapsed_in(phase)
        listener.on_batch(clock.stamp({
            "kind": "batch", "phase": phase, "step": step, "steps": steps, "images": done, "of": count,
            "views": views, "images_per_second": done * views / elapsed if elapsed > 0 else None,
        }))
    if done != count:
        raise RuntimeError(f"expected {count} images, the pipeline gave {done}")
    return features, labels


def epoch_batches(features: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, epoch: int):
    """One epoch over the stored features: every image once, in a seeded order, one random view each."""
    views, count = features.shape[:2]
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(count)
    chosen = rng.integers(0, views, count) if views > 1 else np.zeros(count, np.int64)
    for start in range(0, count, batch_size):
        rows = order[start:start + batch_size]
        yield tf.constant(features[chosen[rows], rows]), tf.constant(labels[rows])


def plain_batches(features: np.ndarray, labels: np.ndarray, batch_size: int = 256):
    """The clean view (view 0) in order, for validation."""
    for start in range(0, features.shape[1], batch_size):
        rows = slice(start, start + batch_size)
        yield tf.constant(features[0, rows]), tf.constant(labels[rows])
