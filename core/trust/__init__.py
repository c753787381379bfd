"""Can this explanation be trusted? Faithfulness curves, sanity checks and ground-truth scores.

    from core.trust import deletion_insertion, sanity_check, score_arrays
    curves = deletion_insertion(model, pixels, heatmap)  # .deletion_auc (low = good), .insertion_auc
    check = sanity_check(model, pixels, "gradcam")            # check.passed, check.steps[i].spearman / .ssim

Modules: :mod:`~core.trust.faithfulness` (deletion / insertion), :mod:`~core.trust.sanity` (cascading
weight randomisation), :mod:`~core.trust.ground_truth` (pointing game, energy in mask),
:mod:`~core.trust.shortcut` (the watermark lesson), :mod:`~core.trust.service` (entry points for the
CLI and the dashboard).
"""

from core.trust.faithfulness import BASELINES, Curves, auc, deletion_insertion, naive_curves, random_heatmap
from core.trust.ground_truth import (
    GroundTruthReport,
    MethodScore,
    centre_bias_map,
    energy_in_mask,
    pointing_hit,
    score_arrays,
    score_dataset,
)
from core.trust.sanity import SanityResult, SanityStep, sanity_check, similarity
from core.trust.service import ImageScore, compare_methods, score_heatmap, score_image

__all__ = [
    "BASELINES", "Curves", "GroundTruthReport", "ImageScore", "MethodScore", "SanityResult", "SanityStep",
    "auc", "centre_bias_map", "compare_methods", "deletion_insertion", "energy_in_mask", "naive_curves",
    "pointing_hit", "random_heatmap", "sanity_check", "score_arrays", "score_dataset", "score_heatmap",
    "score_image", "similarity",
]
