"""XGrad-CAM (Fu et al. 2020): channel weights normalised by the channel's total activation.

``w_k = sum(grad_k * A_k) / (sum(A_k) + eps)``, then ``ReLU(sum_k w_k A_k)``: the weights that make
the map satisfy the paper's sensitivity and conservation axioms.
"""

from __future__ import annotations

import tensorflow as tf

from core.explain.gradcam import GradCAM
from core.explain.registry import register_method
from core.i18n import N_

EPS = 1e-7


@register_method
class XGradCAM(GradCAM):
    name = "xgradcam"
    title = "XGrad-CAM"
    description = N_("Feature maps weighted by their activation-weighted gradient (axiom-based Grad-CAM).")

    def combine_for(self, model):
        return self.combine  # its own weights on every head

    def combine(self, activations: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        # 1. One weight per channel: the gradient averaged with the activations as weights.
        weights = (tf.reduce_sum(grads * activations, axis=(1, 2))
                   / (tf.reduce_sum(activations, axis=(1, 2)) + EPS))
        # 2. Weighted sum of the channels; ReLU keeps the positive evidence.
        return tf.nn.relu(tf.einsum("nhwc,nc->nhw", activations, weights))
