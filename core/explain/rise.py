"""RISE (Petsiuk et al. 2018): the image's class probability under many random masks.

Each mask is a coarse ``resolution x resolution`` grid of cells kept with probability ``p``, upsampled
bilinearly to slightly more than the image and cropped at a random shift, so that the soft edges fall
anywhere. The saliency of a pixel is the mean score of the masked images that keep it,
``sum_i score_i * mask_i / sum_i mask_i``: the paper divides by the expected mask value ``N * p`` instead,
which leaves the masks' own random density in the map, so a model whose score no masking changes would get
a full-scale map of noise; this way it gets a constant map, which is flagged as empty. Masks are drawn
from ``seed`` (the same masks for every image of a call) and scored in batches by one compiled function
(:mod:`core.explain.perturbation`).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from core.explain.base import Context, ExplanationMethod, Maps
from core.explain.perturbation import clean_predictions, mask_scorer
from core.explain.registry import register_method
from core.i18n import N_
from core.params import Param
from core.progress import report


def rise_masks(num: int, size: tuple[int, int], resolution: int, p: float, seed: int,
               batch: int) -> Iterator[np.ndarray]:
    """The ``num`` RISE masks ``(B, H, W)`` float32 in [0, 1], ``batch`` at a time, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    height, width = size
    cell_h, cell_w = int(np.ceil(height / resolution)), int(np.ceil(width / resolution))
    up_h, up_w = (resolution + 1) * cell_h, (resolution + 1) * cell_w
    for start in range(0, num, batch):
        masks = np.empty((min(batch, num - start), height, width), np.float32)
        for mask in masks:  # drawn one by one, so the masks depend on the seed, not on the batch size
            grid = (rng.random((resolution, resolution)) < p).astype(np.float32)
            dy, dx = rng.integers(0, cell_h), rng.integers(0, cell_w)
            up = cv2.resize(grid, (up_w, up_h), interpolation=cv2.INTER_LINEAR)
            mask[:] = up[dy:dy + height, dx:dx + width]
        yield masks


@register_method
class RISE(ExplanationMethod):
    name = "rise"
    slow = True  # one forward pass per mask, channel or patch
    empty_hint = N_("hiding parts of the image never lowered the score of {target} (it does not depend on "
                    "any one region, or it is saturated). Try smaller masks (a finer grid) or more of them, "
                    "another class, or a gradient method.")
    title = "RISE"
    description = N_("Mean class probability of the random masks that keep each pixel; gradient-free, model-agnostic.")
    uses_layer = False
    params = (
        Param("num_masks", int, 1000, N_("Random masks scored per image; more: smoother, slower."),
              label=N_("Number of masks"), min=8, max=20000),
        Param("resolution", int, 7, N_("Cells per side of each coarse mask grid."),
              label=N_("Mask grid (cells per side)"), min=2, max=64),
        Param("p", float, 0.5, N_("Probability that a cell is kept."),
              label=N_("Share of cells kept (p)"), min=0.0, max=1.0, min_inclusive=False),
        Param("batch", int, 32, N_("Masked images per compiled forward pass."),
              label=N_("Images per pass"), min=1, max=512),
        Param("seed", int, 0, N_("Seed of the random masks (same seed: same map)."),
              label=N_("Random seed"), min=0, max=2**31 - 1),
    )

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict) -> Maps:
        score = mask_scorer(ctx)
        idx, probs, _ = clean_predictions(score, images, class_idx)
        num, size = params["num_masks"], images.shape[1:3]
        maps = np.zeros((len(images), *size), np.float64)
        kept = np.zeros(size, np.float64)  # how much of each pixel the masks kept (the same masks per image)
        for n, (image, c) in enumerate(zip(images, idx, strict=True)):
            def heard(done: int, n: int = n) -> None:
                report(ctx.progress, (n + done / num) / len(images),
                       f"RISE: scored {done} of {num} masks"
                       + (f" of image {n + 1} of {len(images)}" if len(images) > 1 else ""))

            masks = rise_masks(num, size, params["resolution"], params["p"], params["seed"], params["batch"])
            done = 0
            for batch in masks:  # drawn batch by batch, never all kept: memory stays one batch
                scores, _, _ = score(image, batch, 0.0, int(c))
                maps[n] += np.tensordot(scores.astype(np.float64), batch, axes=1)
                if n == 0:
                    kept += batch.sum(axis=0, dtype=np.float64)
                done += len(batch)
                heard(done)
        seen = kept > 0
        out = np.divide(maps, kept, out=np.zeros_like(maps), where=seen)
        if not seen.all() and seen.any():  # a pixel no mask kept says nothing: the image's mean, not a zero
            out[:, ~seen] = out[:, seen].mean(axis=1, keepdims=True)
        return out, idx, probs
