"""Occlusion sensitivity (Zeiler & Fergus 2014): how much the class probability drops under a patch.

A ``patch x patch`` square of grey (or zero) pixels slides over the image by ``stride``; each pixel's
value is the mean drop of the target class's probability over the patches that cover it. The
occluded copies are scored in batches by the compiled scorer RISE uses (:mod:`core.explain.perturbation`).
"""

from __future__ import annotations

import numpy as np

from core.explain.base import Context, ExplanationMethod, Maps
from core.explain.perturbation import clean_predictions, mask_scorer
from core.explain.registry import register_method
from core.i18n import N_
from core.params import Param
from core.progress import report

FILLS = {N_("grey"): 127.5, N_("zero"): 0.0}  # raw 0..255 pixel value under the patch


def patch_corners(size: tuple[int, int], patch: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of the patches: every ``stride`` pixels, plus one flush with each far edge."""
    def starts(length: int) -> list[int]:
        last = max(length - patch, 0)
        return sorted(set(range(0, last + 1, stride)) | {last})

    return [(r, c) for r in starts(size[0]) for c in starts(size[1])]


@register_method
class Occlusion(ExplanationMethod):
    name = "occlusion"
    slow = True  # one forward pass per mask, channel or patch
    empty_hint = N_("hiding parts of the image never lowered the score of {target} (it does not depend on "
                    "any one region, or it is saturated). Try a larger patch, another class, or a gradient method.")
    title = "Occlusion"
    description = N_("Drop in the class probability when a sliding patch hides each region; gradient-free.")
    uses_layer = False
    params = (
        Param("patch", int, 16, N_("Side of the square patch, in pixels."),
              label=N_("Patch size (pixels)"), min=1, max=512),
        Param("stride", int, 8, N_("Pixels the patch moves each step; smaller: finer, slower."),
              label=N_("Stride (pixels)"), min=1, max=512),
        Param("fill", str, "grey", N_("What hides the patch: mid-grey or black pixels."),
              label=N_("Patch fill"), choices=tuple(FILLS)),
        Param("batch", int, 32, N_("Occluded images per compiled forward pass."),
              label=N_("Images per pass"), min=1, max=512),
    )

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict) -> Maps:
        score = mask_scorer(ctx)
        idx, probs, unmasked = clean_predictions(score, images, class_idx)
        size, patch, batch = images.shape[1:3], params["patch"], params["batch"]
        corners = patch_corners(size, patch, params["stride"])
        maps = np.zeros((len(images), *size), np.float64)
        for n, (image, c, clean) in enumerate(zip(images, idx, unmasked, strict=True)):
            drop, count = np.zeros(size, np.float64), np.zeros(size, np.float64)
            for start in range(0, len(corners), batch):
                chunk = corners[start:start + batch]
                masks = np.ones((len(chunk), *size), np.float32)
                for m, (r, col) in zip(masks, chunk, strict=True):
                    m[r:r + patch, col:col + patch] = 0.0
                scores, _, _ = score(image, masks, FILLS[params["fill"]], int(c))
                # Each patch's drop lands on the pixels it hid.
                hidden = 1.0 - masks.astype(np.float64)
                drop += np.tensordot(float(clean) - scores.astype(np.float64), hidden, axes=1)
                count += hidden.sum(axis=0)
                done = min(start + batch, len(corners))
                report(ctx.progress, (n + done / len(corners)) / len(images),
                       f"Occlusion: scored {done} of {len(corners)} patches"
                       + (f" of image {n + 1} of {len(images)}" if len(images) > 1 else ""))
            maps[n] = drop / np.maximum(count, 1.0)
        return maps, idx, probs
