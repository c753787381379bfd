"""Grad-CAM (Selvaraju et al. 2017), written like the keras-io example and compiled once per model/layer.

Grad-CAM++ and LayerCAM differ only in how they weigh the feature maps: they override
:meth:`GradCAM.combine` and inherit the compiled forward/backward pass.

Grad-CAM averages the gradient over the map, which is exact when the classifier pools globally (the
gradient is then the same at every position). A head that flattens the map instead (Flatten + Dense,
as in small_cnn, LeNet-5 or VGG16) gives each position its own weights; their average cancels, the
weighted sum is negative everywhere and the ReLU leaves an all-zero map (measured on the lesson's
small CNN: empty on every watermarked circle, at every layer). There Grad-CAM keeps each position's
own gradient (HiResCAM, Draelos & Carin 2020), which equals Grad-CAM on globally pooled heads.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from core.compiled import INDEX_SPEC, input_spec
from core.explain.base import Context, ExplanationMethod, Maps
from core.explain.registry import register_method
from core.i18n import N_


@register_method
class GradCAM(ExplanationMethod):
    name = "gradcam"
    title = "Grad-CAM"
    description = N_("Feature maps weighted by the class score's average gradient (per position on Flatten heads).")
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
        combine = self.combine_for(ctx.model)

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
            heatmap = combine(activations, grads)
            return heatmap, idx, tf.gather(probs, idx, batch_dims=1)

        return grad_cam

    def combine(self, activations: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        """``(N, h, w, C)`` feature maps and their gradients -> ``(N, h, w)`` class activation map."""
        # 4. Mean intensity of the gradient over each feature map channel: one weight per channel.
        pooled_grads = tf.reduce_mean(grads, axis=(1, 2))
        # 5. Sum of the channels weighted by "how important this channel is for the class";
        #    ReLU keeps only the features with a positive influence on the class.
        return tf.nn.relu(tf.einsum("nhwc,nc->nhw", activations, pooled_grads))

    def combine_for(self, model: keras.Model):
        """The weighting for ``model``: element-wise (HiResCAM) when its head flattens positions."""
        return hirescam if flattens_positions(model) else self.combine


def hirescam(activations: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
    """Each activation weighted by its own gradient, summed over channels; ReLU as in Grad-CAM."""
    return tf.nn.relu(tf.reduce_sum(activations * grads, axis=-1))


_POOLING = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)


def flattens_positions(model: keras.Model) -> bool:
    """True when the model's head flattens feature maps (Flatten) and never pools them globally."""
    layers = list(_all_layers(model))
    return (any(isinstance(layer, keras.layers.Flatten) for layer in layers)
            and not any(isinstance(layer, _POOLING) for layer in layers))


def _all_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
