"""Grad-CAM (Selvaraju et al. 2017), written like the keras-io example and compiled once per model/layer.

Grad-CAM++ and LayerCAM differ only in how they weigh the feature maps: they override
:meth:`GradCAM.combine` and inherit the compiled forward/backward pass.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from core.explain.base import Context, ExplanationMethod, Maps
from core.explain.compiled import INDEX_SPEC, input_spec
from core.explain.registry import register_method


@register_method
class GradCAM(ExplanationMethod):
    name = "gradcam"
    title = "Grad-CAM"
    description = "Feature maps of a conv layer weighted by the class score's average gradient."
    uses_layer = True

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict) -> Maps:
        grad_cam = ctx.compiled(self.name, lambda: self._compile(ctx))
        heatmaps, idx, probs = grad_cam(tf.constant(images), tf.constant(class_idx))
        return heatmaps.numpy(), idx.numpy(), probs.numpy()

    def _compile(self, ctx: Context) -> tf.types.experimental.PolymorphicFunction:
        # A model mapping the input image to the chosen layer's activations, the probabilities and the
        # pre-softmax logits (sharing the classifier's layers and weights).
        grad_model = ctx.feature_model()
        class_score = ctx.scorer

        @tf.function(input_signature=[input_spec(ctx.model), INDEX_SPEC])
        def grad_cam(images: tf.Tensor, class_idx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            # 1. Forward pass under a tape: the layer's feature maps and the predictions.
            with tf.GradientTape() as tape:
                activations, probs, logits = grad_model(images, training=False)
                # 2. The target class's score before softmax (the top class unless one was chosen).
                score, idx = class_score(logits, class_idx)
            # 3. Gradient of that score with respect to the feature maps.
            grads = tape.gradient(score, activations)
            # 4-5. Weigh the feature maps by importance and sum them into one map (see combine).
            heatmap = self.combine(activations, grads)
            return heatmap, idx, tf.gather(probs, idx, batch_dims=1)

        return grad_cam

    def combine(self, activations: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        """``(N, h, w, C)`` feature maps and their gradients -> ``(N, h, w)`` class activation map."""
        # 4. Mean intensity of the gradient over each feature map channel: one weight per channel.
        pooled_grads = tf.reduce_mean(grads, axis=(1, 2))
        # 5. Sum of the channels weighted by "how important this channel is for the class";
        #    ReLU keeps only the features with a positive influence on the class.
        return tf.nn.relu(tf.einsum("nhwc,nc->nhw", activations, pooled_grads))
