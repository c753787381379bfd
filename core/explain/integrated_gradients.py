"""Integrated Gradients (Sundararajan et al. 2017): gradients integrated along a path from a baseline.

Attributions satisfy completeness: they sum to ``score(image) - score(baseline)`` (up to the error of
the trapezoidal rule over ``steps`` intervals), which the oracle test checks.
"""

from __future__ import annotations

import numpy as np

from core.explain.registry import register_method
from core.explain.saliency import GradientFn, Saliency, batched_gradients
from core.i18n import N_
from core.params import Param

BASELINES = {N_("black"): 0.0, N_("grey"): 127.5, N_("white"): 255.0}  # raw pixel values of a constant image


@register_method
class IntegratedGradients(Saliency):
    name = "integrated_gradients"
    title = "Integrated Gradients"
    description = N_("Gradients summed along a path from a black image: attributions that add up to the score.")
    params = (
        Param("steps", int, 32, N_("Intervals on the path from the baseline (more: more exact, slower)."),
              label=N_("Steps"), min=2, max=256),
        Param("baseline", str, "black", N_("The 'absence of signal' image the path starts from."),
              label=N_("Baseline"), choices=tuple(BASELINES)),
    )

    def attributions(self, gradients: GradientFn, images: np.ndarray, grads: np.ndarray,
                     class_idx: np.ndarray, params: dict) -> np.ndarray:
        return np.stack([
            integrated_gradients(gradients, image, int(c), params["steps"], BASELINES[params["baseline"]], g)
            for image, c, g in zip(images, class_idx, grads, strict=True)
        ])

    @staticmethod
    def reduce_channels(attributions: np.ndarray) -> np.ndarray:
        # Total absolute attribution of each pixel over its colour channels.
        return np.abs(attributions).sum(axis=-1)


def integrated_gradients(gradients: GradientFn, image: np.ndarray, class_index: int, steps: int,
                         baseline: float = 0.0, grad_at_image: np.ndarray | None = None) -> np.ndarray:
    """Raw attributions ``(H, W, 3)`` of one image for ``class_index`` (trapezoidal rule)."""
    start = np.full_like(image, baseline)
    alphas = np.arange(steps, dtype=np.float32) / steps  # 0 .. (steps-1)/steps; alpha = 1 is the image
    path = start[None] + alphas[:, None, None, None] * (image - start)[None]
    grads = batched_gradients(gradients, path, class_index)
    if grad_at_image is None:
        grad_at_image = batched_gradients(gradients, image[None], class_index)[0]
    grads = np.concatenate([grads, grad_at_image[None]])
    # Trapezoidal rule: the average of the two ends of each interval.
    mean_grad = (grads[:-1] + grads[1:]).mean(axis=0) / 2.0
    return (image - start) * mean_grad
