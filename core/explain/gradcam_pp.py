"""Grad-CAM++ (Chattopadhay et al. 2018): pixel-wise weights that credit several instances of a class.

Uses the closed form for an exponential score, as pytorch-grad-cam and tf-keras-vis do: with first,
second and third derivatives approximated by ``g``, ``g**2`` and ``g**3`` of the plain gradient ``g``.
"""

from __future__ import annotations

import tensorflow as tf

from core.explain.gradcam import GradCAM
from core.explain.registry import register_method
from core.i18n import N_


@register_method
class GradCAMPlusPlus(GradCAM):
    name = "gradcam++"
    title = "Grad-CAM++"
    description = N_("Grad-CAM with per-pixel gradient weights; better with several objects of a class.")

    def combine_for(self, model):
        return self.combine  # its own weights on every head

    def combine(self, activations: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
        grads_2, grads_3 = grads**2, grads**3
        # alpha = g^2 / (2 g^2 + sum_ij(A) g^3), defined as 0 where the gradient vanishes.
        sum_activations = tf.reduce_sum(activations, axis=(1, 2), keepdims=True)
        denominator = 2.0 * grads_2 + sum_activations * grads_3
        alphas = tf.where(grads != 0.0, grads_2 / tf.where(denominator != 0.0, denominator, 1.0), 0.0)
        # Channel weight: alpha-weighted sum of the positive gradients over the map.
        weights = tf.reduce_sum(alphas * tf.nn.relu(grads), axis=(1, 2))
        return tf.nn.relu(tf.einsum("nhwc,nc->nhw", activations, weights))
