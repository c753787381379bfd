"""Which method to trust on this model and these images: every method scored side by side.

Each method explains the same images (the class to explain is given per image), and each heatmap is
scored by deletion and insertion (relative to the clean probability), Average Drop and Increase in
Confidence (:mod:`core.trust.faithfulness`). A smooth random map is scored the same way: a method that
does not beat it ranks pixels no better than chance here. The recommended method is the one with the
highest relative insertion minus relative deletion among those that beat the random map; the reason
names its numbers and the runner-up's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import ParameterError
from core.explain import explain, get_method
from core.i18n import N_
from core.progress import Progress
from core.trust.faithfulness import DEFAULT_STEPS, Curves, random_heatmap
from core.trust.service import RANDOM, score_heatmap

BATCH = 16  # images explained per call

# The recommendation's reason (MethodTable.reason), as templates the dashboard shows in its language.
# ``method`` and ``next`` are registry names; areas are shares of the clean probability, Average Drop and
# Increase in Confidence in per cent.
NO_METHOD = N_("No method beats a random map on {images} images (random: insertion minus deletion {random:.2f}): "
               "their heatmaps do not follow what the model relies on here.")
NO_METHOD_ONE = N_("No method beats a random map on 1 image (random: insertion minus deletion {random:.2f}): their "
                   "heatmaps do not follow what the model relies on here.")
BEST = N_("{method} ranks pixels best on {images} images: insertion minus deletion {score:.2f} of the clean "
          "probability (random map {random:.2f}), Average Drop {drop:.0f}%, Increase in Confidence {increase:.0f}%.")
BEST_ONE = N_("{method} ranks pixels best on 1 image: insertion minus deletion {score:.2f} of the clean probability "
              "(random map {random:.2f}), Average Drop {drop:.0f}%, Increase in Confidence {increase:.0f}%.")
BEST_NEXT = N_("{method} ranks pixels best on {images} images: insertion minus deletion {score:.2f} of the clean "
               "probability (random map {random:.2f}), Average Drop {drop:.0f}%, Increase in Confidence "
               "{increase:.0f}%; next is {next} at {next_score:.2f}.")
BEST_NEXT_ONE = N_("{method} ranks pixels best on 1 image: insertion minus deletion {score:.2f} of the clean "
                   "probability (random map {random:.2f}), Average Drop {drop:.0f}%, Increase in Confidence "
                   "{increase:.0f}%; next is {next} at {next_score:.2f}.")


@dataclass
class MethodRow:
    """One method's scores averaged over the images (areas relative to each image's clean probability)."""

    method: str
    curves: list[Curves] = field(default_factory=list)
    ms: float = 0.0

    @property
    def images(self) -> int:
        return len(self.curves)

    def _mean(self, values: list[float]) -> float:
        return float(np.mean(values)) if values else math.nan

    @property
    def deletion(self) -> float:
        """Mean relative deletion area (lower is better)."""
        return self._mean([c.relative_deletion for c in self.curves])

    @property
    def insertion(self) -> float:
        """Mean relative insertion area (higher is better)."""
        return self._mean([c.relative_insertion for c in self.curves])

    @property
    def score(self) -> float:
        """Relative insertion minus relative deletion: the number methods are ranked by."""
        return self.insertion - self.deletion

    @property
    def average_drop(self) -> float:
        """Average Drop in per cent (lower is better)."""
        return 100.0 * self._mean([c.drop for c in self.curves])

    @property
    def increase_in_confidence(self) -> float:
        """Increase in Confidence in per cent: the share of images whose shown part scores higher."""
        return 100.0 * self._mean([float(c.increase) for c in self.curves])

    def to_json(self) -> dict:
        return {"method": self.method, "images": self.images, "relative_deletion": round(self.deletion, 4),
                "relative_insertion": round(self.insertion, 4), "score": round(self.score, 4),
                "average_drop": round(self.average_drop, 2),
                "increase_in_confidence": round(self.increase_in_confidence, 2), "ms": round(self.ms, 1)}


@dataclass
class MethodTable:
    """Rows best first (the random reference among them), and the recommendation with its reason."""

    rows: list[MethodRow]
    recommended: str | None
    reason_template: str  # one of the templates above
    reason_fields: dict[str, Any]

    @property
    def reason(self) -> str:
        """Why this method is recommended (or none), with its numbers and the runner-up's."""
        return self.reason_template.format(**self.reason_fields)

    def row(self, method: str) -> MethodRow:
        return next(r for r in self.rows if r.method == method)

    def to_json(self) -> dict:
        return {"methods": [r.to_json() for r in self.rows],
                "recommended": {"method": self.recommended, "reason": self.reason}}


def method_table(loaded: Any, images: np.ndarray, targets: Sequence[int], methods: Sequence[str],
                 baseline: str = "blur", steps: int = DEFAULT_STEPS, layer: str | None = None,
                 params: dict[str, dict] | None = None, progress: Progress | None = None) -> MethodTable:
    """Score ``methods`` on ``images`` (raw pixels at the model's input size), explaining ``targets``.

    ``loaded`` is a :class:`~core.zoo.LoadedModel`. ``progress(fraction, text)`` hears each method's
    explanation and scoring.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ParameterError(f"Parameter 'images' must be a non-empty batch (N, H, W, 3), got shape "
                             f"{images.shape}.")
    if len(targets) != len(images):
        raise ParameterError(f"Got {len(images)} images but {len(targets)} classes to explain.")
    methods = list(methods)
    if not methods:
        raise ParameterError("Name at least one explanation method to compare.")
    for name in methods:
        get_method(name)  # unknown names fail before any work
    total = (len(methods) + 1) * len(images)
    done = 0

    def report(text: str) -> None:
        if progress is not None:
            progress(done / total, text)

    rows = []
    for name in methods:
        row, start = MethodRow(name), time.perf_counter()
        for i in range(0, len(images), BATCH):
            report(f"Explaining images {i + 1} to {min(i + BATCH, len(images))} of {len(images)} with {name}")
            chunk = [int(t) for t in targets[i:i + BATCH]]
            exps = explain(loaded, images[i:i + BATCH], name, layer=layer, target=chunk,
                           **(params or {}).get(name, {}))
            for pixels, exp in zip(images[i:i + BATCH], exps, strict=True):
                report(f"Scoring {name}'s heatmap of image {done % len(images) + 1} of {len(images)}")
                row.curves.append(score_heatmap(loaded, pixels, exp.heatmap, exp.class_index, baseline, steps))
                done += 1
        row.ms = (time.perf_counter() - start) * 1000.0
        rows.append(row)
    reference = MethodRow(RANDOM)
    for n, (pixels, target) in enumerate(zip(images, targets, strict=True)):
        report(f"Scoring a random map on image {n + 1} of {len(images)}")
        reference.curves.append(score_heatmap(loaded, pixels, random_heatmap(pixels.shape[:2], seed=n),
                                              int(target), baseline, steps))
        done += 1
    rows.append(reference)
    rows.sort(key=lambda r: -r.score)
    return MethodTable(rows, *recommendation(rows, reference, len(images)))


def recommendation(rows: list[MethodRow], reference: MethodRow,
                   images: int) -> tuple[str | None, str, dict[str, Any]]:
    """The method to recommend (None when none beats the random map), its reason's template and fields."""
    better = [r for r in rows if r.method != RANDOM and r.score > reference.score]
    fields: dict[str, Any] = {"images": images, "random": reference.score}
    if not better:
        return None, NO_METHOD_ONE if images == 1 else NO_METHOD, fields
    best = better[0]
    fields.update(method=best.method, score=best.score, drop=best.average_drop,
                  increase=best.increase_in_confidence)
    if len(better) == 1:
        return best.method, BEST_ONE if images == 1 else BEST, fields
    fields.update(next=better[1].method, next_score=better[1].score)
    return best.method, BEST_NEXT_ONE if images == 1 else BEST_NEXT, fields


def _recommend(rows: list[MethodRow], reference: MethodRow, images: int) -> tuple[str | None, str]:
    method, template, fields = recommendation(rows, reference, images)
    return method, template.format(**fields)
