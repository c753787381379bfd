"""Fast Gradient Sign Method (Goodfellow et al., 2015): one step of size eps along the gradient's sign."""

from __future__ import annotations

import tensorflow as tf

from core.attacks.base import EPS_PARAM, Attack
from core.attacks.registry import register_attack
from core.i18n import N_


@register_attack
class FGSM(Attack):
    name = "fgsm"
    title = N_("FGSM (one gradient-sign step)")
    params = (EPS_PARAM,)

    def _graph(self, loss_gradient, x, start, label, direction, dyn, rng):
        # x' = clip(x + eps * sign(grad of the loss)), towards higher loss (untargeted) or lower (targeted).
        adversarial = x + direction * dyn["eps"] * tf.sign(loss_gradient(x, label))
        return tf.clip_by_value(adversarial, 0.0, 255.0)
