"""EigenCAM (Muhammad & Yeasin 2020): the first principal component of the layer's feature maps.

No gradients and no class: the map is the projection of each position's activations ``(h*w, K)``,
centred, onto their first right singular vector. An SVD's sign is arbitrary, so it is chosen to make
the map correlate positively with the mean activation; ReLU keeps the positive part.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from core.compiled import INDEX_SPEC, input_spec
from core.explain.base import Context, ExplanationMethod, Maps
from core.explain.registry import register_method
from core.i18n import N_


@register_method
class EigenCAM(ExplanationMethod):
    name = "eigencam"
    title = "EigenCAM"
    description = N_("First principal component of the feature maps; class-agnostic and gradient-free.")
    uses_layer = True
    class_agnostic = True  # the map is the same for every class

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict) -> Maps:
        fn = ctx.compiled(self.name, lambda: self._compile(ctx))
        maps, idx, probs = fn(tf.constant(images), tf.constant(class_idx))
        return maps.numpy(), idx.numpy(), probs.numpy()

    def _compile(self, ctx: Context):
        model = ctx.feature_model()
        class_score = ctx.scorer

        @tf.function(input_signature=[input_spec(ctx.model), INDEX_SPEC])
        def eigen_cam(images: tf.Tensor, class_idx: tf.Tensor):
            activations, probs, logits = model(images, training=False)
            _, idx = class_score(logits, class_idx)  # reported only: the map has no class
            shape = tf.shape(activations)
            # 1. Positions as rows, channels as columns, centred per channel: (N, h*w, K).
            flat = tf.reshape(tf.cast(activations, tf.float32), [shape[0], shape[1] * shape[2], shape[3]])
            centred = flat - tf.reduce_mean(flat, axis=1, keepdims=True)
            # 2. First right singular vector of each image's matrix, and the projection onto it.
            _, _, v = tf.linalg.svd(centred)
            projection = tf.einsum("npk,nk->np", centred, v[:, :, 0])
            # 3. Sign: positively correlated with the mean activation over the channels.
            mean = tf.reduce_mean(flat, axis=-1)
            mean = mean - tf.reduce_mean(mean, axis=1, keepdims=True)
            sign = tf.where(tf.reduce_sum(projection * mean, axis=1, keepdims=True) < 0, -1.0, 1.0)
            heatmap = tf.nn.relu(projection * sign)
            return tf.reshape(heatmap, shape[:3]), idx, tf.gather(probs, idx, batch_dims=1)

        return eigen_cam
