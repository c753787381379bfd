"""SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the image.

Averaging removes the high-frequency noise of a single gradient. The noise is drawn from a seeded
generator, so the same seed gives the same map.
"""

from __future__ import annotations

import numpy as np

from core.explain.registry import register_method
from core.explain.saliency import GradientFn, Saliency, batched_gradients
from core.i18n import N_
from core.params import Param


@register_method
class SmoothGrad(Saliency):
    name = "smoothgrad"
    title = "SmoothGrad"
    description = N_("Gradients averaged over noisy copies of the image: a less speckled saliency map.")
    params = (
        Param("samples", int, 20, N_("Noisy copies to average (more: smoother, slower)."),
              label=N_("Noisy copies"), min=1, max=200),
        Param("noise", float, 0.2, N_("Noise standard deviation as a fraction of the image's value range."),
              label=N_("Noise level"), min=0.0, max=1.0, step=0.01),
        Param("seed", int, 0, N_("Random seed of the noise (same seed, same map)."),
              label=N_("Random seed"), min=0, max=9999),
    )

    def attributions(self, gradients: GradientFn, images: np.ndarray, grads: np.ndarray,
                     class_idx: np.ndarray, params: dict) -> np.ndarray:
        out = np.empty_like(images)
        for i, image in enumerate(images):
            rng = np.random.default_rng([params["seed"], i])
            sigma = params["noise"] * float(image.max() - image.min())
            noise = rng.standard_normal((params["samples"], *image.shape), dtype=np.float32)
            out[i] = batched_gradients(gradients, image + sigma * noise, int(class_idx[i])).mean(axis=0)
        return out
