"""Vanilla gradients (Simonyan et al. 2014) and the compiled input-gradient pass they share.

:class:`Saliency` computes one gradient of the class score with respect to the pixels. SmoothGrad and
Integrated Gradients override :meth:`Saliency.attributions` to average many such gradients, computed
in batches by the same compiled function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core.compiled import INDEX_SPEC, input_spec
from core.explain.base import Context, ExplanationMethod, Maps, prepare_images
from core.explain.registry import register_method
from core.explain.targets import resolve_target
from core.i18n import N_
from core.params import validate_params

# (images (N,H,W,3), class_idx (N,)) -> (gradients (N,H,W,3), scores (N,), class indices, probabilities)
GradientFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]

SAMPLE_BATCH = 8  # noisy samples / path points per compiled call (larger batches gain nothing on CPU)


def input_gradients(ctx: Context, key: str = "input_gradients",
                    build_model: Callable[[keras.Model], keras.Model] | None = None) -> GradientFn:
    """The compiled gradient of each image's class score with respect to its pixels (cached).

    ``build_model(model)`` gives the ``pixels -> [probabilities, logits]`` graph to differentiate
    (default: the model's own; Guided Backprop passes its gated copy) and ``key`` caches it.
    """
    fn = ctx.compiled(key, lambda: _compile_input_gradients(ctx, build_model))

    def run(images: np.ndarray, class_idx: np.ndarray):
        return tuple(t.numpy() for t in fn(tf.constant(images, tf.float32), tf.constant(class_idx, tf.int32)))

    return run


def _compile_input_gradients(ctx: Context, build_model: Callable[[keras.Model], keras.Model] | None):
    model = ctx.output_model() if build_model is None else build_model(ctx.model)
    class_score = ctx.scorer

    @tf.function(input_signature=[input_spec(ctx.model), INDEX_SPEC])
    def gradients(images: tf.Tensor, class_idx: tf.Tensor):
        with tf.GradientTape() as tape:
            tape.watch(images)
            probs, logits = model(images, training=False)
            score, idx = class_score(logits, class_idx)
        return tape.gradient(score, images), score, idx, tf.gather(probs, idx, batch_dims=1)

    return gradients


def batched_gradients(gradients: GradientFn, inputs: np.ndarray, class_index: int) -> np.ndarray:
    """Gradients for many inputs of one image's class, :data:`SAMPLE_BATCH` per compiled call."""
    out = []
    for i in range(0, len(inputs), SAMPLE_BATCH):
        chunk = inputs[i:i + SAMPLE_BATCH]
        out.append(gradients(chunk, np.full(len(chunk), class_index, np.int32))[0])
    return np.concatenate(out)


@register_method
class Saliency(ExplanationMethod):
    name = "saliency"
    title = N_("Saliency (gradients)")
    description = N_("Gradient of the class score with respect to each pixel: where it is most sensitive.")
    uses_layer = False
    kind = "gradient"  # SmoothGrad and Integrated Gradients inherit it

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict) -> Maps:
        gradients = self.gradients(ctx)
        # The clean pass fixes each image's class (the top one, unless chosen) and its probability.
        grads, _, idx, probs = gradients(images, class_idx)
        attributions = self.attributions(gradients, images, grads, idx, params)
        return self.reduce_channels(attributions), idx, probs

    def signed_attributions(self, model: keras.Model, images: np.ndarray, target: Any = None,
                            **params: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(attributions (N, H, W, 3), class indices)`` before any channel reduction or scaling."""
        values = validate_params(self.name, self.params, params)
        pixels = prepare_images(model, images)
        class_idx, custom = resolve_target(target, len(pixels), int(model.outputs[0].shape[-1]))
        gradients = self.gradients(Context(model, None, custom))
        grads, _, idx, _ = gradients(pixels, class_idx)
        return self.attributions(gradients, pixels, grads, idx, values), idx

    def gradients(self, ctx: Context) -> GradientFn:
        """The compiled input gradients this method starts from (Guided Backprop: its gated ones)."""
        return input_gradients(ctx)

    def attributions(self, gradients: GradientFn, images: np.ndarray, grads: np.ndarray,
                     class_idx: np.ndarray, params: dict) -> np.ndarray:
        """The hook: per-pixel, per-channel attributions ``(N, H, W, 3)``; here the plain gradient."""
        return grads

    @staticmethod
    def reduce_channels(attributions: np.ndarray) -> np.ndarray:
        # Largest absolute value over the colour channels, as tf-keras-vis and the paper do.
        return np.abs(attributions).max(axis=-1)
