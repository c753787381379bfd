"""What to explain: tiny callables mapping logits to the score whose evidence we look for.

As in pytorch-grad-cam (``ClassifierOutputTarget``) and tf-keras-vis (``CategoricalScore``), a target
is a callable ``logits (N, C) -> scores (N,)``. The two built-ins also carry a class ``index`` so the
compiled hot path can take it as a tensor (``-1`` = each image's top class) instead of recompiling
for every class a user picks; any other callable is compiled with the method (and cached per target).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from core.errors import ParameterError

TOP = -1  # class index meaning "the top prediction of each image"


@dataclass(frozen=True)
class ClassTarget:
    """The pre-softmax score of one class."""

    index: int

    def __call__(self, logits: tf.Tensor) -> tf.Tensor:
        return logits[:, self.index]


@dataclass(frozen=True)
class TopClass:
    """The pre-softmax score of each image's most probable class (the default)."""

    index: int = TOP

    def __call__(self, logits: tf.Tensor) -> tf.Tensor:
        return tf.reduce_max(logits, axis=-1)


@dataclass(frozen=True)
class ContrastTarget:
    """Why class ``index`` rather than class ``other``: the difference of their pre-softmax scores.

    A custom target (compiled per pair, no per-method code) that still reports ``index`` as its class.
    """

    index: int
    other: int

    def __call__(self, logits: tf.Tensor) -> tf.Tensor:
        return logits[:, self.index] - logits[:, self.other]


Target = Callable[[tf.Tensor], tf.Tensor]


def class_scores(logits: tf.Tensor, class_idx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(scores, indices)``: each row's logit at ``class_idx``, where ``-1`` picks the row's argmax."""
    top = tf.argmax(logits, axis=-1, output_type=tf.int32)
    idx = tf.where(class_idx < 0, top, class_idx)
    return tf.gather(logits, idx, batch_dims=1), idx


def scorer(target: Target | None) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """The in-graph scoring function for a resolved custom target (``None``: by class index)."""
    if target is None:
        return class_scores

    def custom(logits: tf.Tensor, class_idx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        # A custom score has no class of its own: report each image's top class.
        return tf.reshape(target(logits), [-1]), class_scores(logits, class_idx)[1]

    return custom


def resolve_target(target: Any, num_images: int, num_classes: int) -> tuple[np.ndarray, Target | None]:
    """``(class indices (N,) int32 with -1 = top, custom callable or None)`` for ``target``.

    ``target`` is ``None`` (top prediction), a class index, one index per image, a
    :class:`ClassTarget` / :class:`TopClass`, a :class:`ContrastTarget` (reported as its ``index``), or
    any callable ``logits -> (N,) scores``.
    """
    if target is None or isinstance(target, (ClassTarget, TopClass)):
        target = TOP if target is None else target.index
    elif isinstance(target, ContrastTarget):
        for index in (target.index, target.other):
            _check_class(index, num_classes)
        if target.index == target.other:
            raise ParameterError(f"The contrast class must differ from the target class {target.index}.")
        return np.full(num_images, target.index, np.int32), target
    elif callable(target):
        return np.full(num_images, TOP, np.int32), target
    indices = np.atleast_1d(np.asarray(target))
    if indices.dtype == bool or not np.issubdtype(indices.dtype, np.integer):
        if not (np.issubdtype(indices.dtype, np.floating) and np.all(indices == np.round(indices))):
            raise ParameterError(f"Parameter 'target' must be a class index, got {target!r}.")
    indices = indices.astype(np.int64)
    if indices.ndim != 1 or len(indices) not in (1, num_images):
        raise ParameterError(
            f"Parameter 'target' must be one class index or one per image ({num_images}), got {target!r}.")
    for index in indices:
        if index != TOP:
            _check_class(index, num_classes)
    return np.broadcast_to(indices, (num_images,)).astype(np.int32), None


def _check_class(index: int, num_classes: int) -> None:
    if not 0 <= index < num_classes:
        raise ParameterError(
            f"Target class {int(index)} is out of range: the model has {num_classes} classes "
            f"(0..{num_classes - 1}).")
