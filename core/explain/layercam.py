"""LayerCAM (Jiang et al. 2021): every activation weighted by its own positive gradient.

Without averaging the gradient over the map, it keeps fine detail, so it also works on early layers.
"""

from __future__ import annotations

import tensorflow as tf

from core.explain.gradcam import GradCAM
from core.explain.registry import register_method
from core.i18n import N_


@register_method
class LayerCAM(GradCAM):
    name = "layercam"
    title = "LayerCAM"
    description = N_("Each activation weighted by its own positive gradient; sharp maps, even on early layers.")

    def combine_for(self, model):
        return self.combine  # its own weights on every head

    def combine(self, activations: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(tf.reduce_sum(tf.nn.relu(grads) * activations, axis=-1))
