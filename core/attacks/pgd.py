"""Projected Gradient Descent in L-infinity (Madry et al., 2018): FGSM steps, projected after each one."""

from __future__ import annotations

import tensorflow as tf

from core.attacks.base import EPS_PARAM, Attack
from core.attacks.registry import register_attack
from core.i18n import N_
from core.params import Param


@register_attack
class PGD(Attack):
    name = "pgd"
    title = N_("PGD (projected gradient steps)")
    params = (
        EPS_PARAM,
        Param("steps", int, 10, N_("number of gradient steps"), min=1, max=1000, unit="steps", label=N_("steps")),
        Param("step_size", float, None, N_("change per step; automatic: 2.5 * eps / steps"), min=0.0, max=255.0,
              unit="pixels", min_inclusive=False, optional=True, label=N_("step size (pixel levels, of 255)")),
        Param("random_start", bool, True, N_("start from a random point of the eps-ball"), label=N_("random start")),
        Param("seed", int, 0, N_("seed of the random start"), min=0, max=2**31 - 1, label=N_("seed")),
    )
    static_params = ("random_start",)

    @property
    def step_size(self) -> float:
        """The step size in use: the given one, or 2.5 * eps / steps (so steps can reach the ball's edge)."""
        given = self.values["step_size"]
        return given if given is not None else 2.5 * self.eps / self.values["steps"]

    def _dynamic_values(self) -> dict[str, int | float]:
        # "fresh": 1 when the steps begin at x (the random start applies), 0 when they go on from ``start``.
        return {"eps": self.eps, "step_size": self.step_size, "steps": self.values["steps"], "fresh": 1}

    def chunks(self, every: int) -> list[dict[str, int]]:
        """The steps in runs of at most ``every``, each continuing where the last stopped (same result)."""
        steps = self.values["steps"]
        return [{"steps": min(every, steps - done), "fresh": int(done == 0)} for done in range(0, steps, every)]

    def _graph(self, loss_gradient, x, start, label, direction, dyn, rng):
        eps, step_size = dyn["eps"], dyn["step_size"]
        # The eps-ball around x intersected with valid pixels: one clip projects onto both.
        low, high = tf.maximum(x - eps, 0.0), tf.minimum(x + eps, 255.0)
        adversarial = start
        if self.values["random_start"]:
            noise = tf.random.stateless_uniform(tf.shape(x), seed=rng, minval=-1.0, maxval=1.0)
            adversarial = tf.cond(dyn["fresh"] > 0, lambda: tf.clip_by_value(x + eps * noise, low, high),
                                  lambda: start)
        for _ in tf.range(dyn["steps"]):
            step = direction * step_size * tf.sign(loss_gradient(adversarial, label))
            adversarial = tf.clip_by_value(adversarial + step, low, high)
        return adversarial
