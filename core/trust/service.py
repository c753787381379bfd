"""Entry points the CLI and the Trust page call: one image, all methods on one image, a dataset.

They take a :class:`~core.zoo.LoadedModel` and hold its lock around model calls; images are raw
uint8 or float pixels of any size (resized to the model's input here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.explain import explain, get_method, method_names
from core.explain.base import Explanation
from core.progress import Progress, report
from core.trust.faithfulness import DEFAULT_STEPS, Curves, deletion_insertion, random_heatmap
from core.trust.sanity import SanityResult, sanity_check

RANDOM = "random"  # the reference row of a comparison: a smooth random heatmap


def _pixels(loaded: Any, image: np.ndarray) -> np.ndarray:
    from core.images import resize_for_model

    return resize_for_model(np.asarray(image), loaded.input_size)


def _lock(loaded: Any):
    return getattr(loaded, "lock", None) or nullcontext()


def score_heatmap(loaded: Any, image: np.ndarray, heatmap: np.ndarray, class_index: int | None = None,
                  baseline: str = "blur", steps: int = DEFAULT_STEPS, exclusive: bool = True,
                  pause: Callable[[], object] | None = None) -> Curves:
    """Deletion and insertion curves of an existing heatmap (e.g. one the Explain page drew).

    ``exclusive=False`` does not hold the model's lock: the curves only call a compiled, read-only
    function of the model, which is safe beside other calls, so seconds of scoring need not hold up
    everyone else's predictions on a shared model. ``pause``: see :func:`deletion_insertion`.
    """
    with _lock(loaded) if exclusive else nullcontext():
        return deletion_insertion(loaded.model, _pixels(loaded, image), heatmap, class_index, baseline, steps,
                                  pause=pause)


@dataclass
class ImageScore:
    method: str
    layer: str | None
    class_index: int
    label: str
    prob: float
    heatmap: np.ndarray
    curves: Curves
    sanity: SanityResult | None = None

    @property
    def explanation(self) -> Explanation:
        """The scored map as core's Explanation (its emptiness and what that means)."""
        return Explanation(self.heatmap, self.method, self.layer, self.class_index, self.prob, 0.0, self.label)

    def to_json(self, include_curves: bool = False) -> dict:
        out = {"method": self.method, "layer": self.layer,
               "target": {"index": self.class_index, "label": self.label, "prob": round(self.prob, 6)},
               "faithfulness": self.curves.to_json(include_curves)}
        if self.sanity is not None:
            out["sanity"] = self.sanity.to_json()
        return out


def score_image(loaded: Any, image: np.ndarray, method: str, layer: str | None = None,
                target: int | None = None, baseline: str = "blur", steps: int = DEFAULT_STEPS,
                sanity: bool = True,
                **params: Any) -> ImageScore:
    """Explain one image with ``method``, score the heatmap and (optionally) sanity-check the method."""
    pixels = _pixels(loaded, image)
    (exp,) = explain(loaded, pixels[None], method, layer=layer, target=target, **params)
    curves = score_heatmap(loaded, pixels, exp.heatmap, exp.class_index, baseline, steps)
    check = sanity_check(loaded, pixels, method, layer=layer, class_index=exp.class_index, **params) \
        if sanity else None
    return ImageScore(method, exp.layer, exp.class_index, loaded.label(exp.class_index), exp.prob,
                      exp.heatmap, curves, check)


def compare_methods(loaded: Any, image: np.ndarray, methods: Sequence[str] | None = None,
                    target: int | None = None, baseline: str = "blur", steps: int = DEFAULT_STEPS,
                    layer: str | None = None,
                    params: dict[str, dict] | None = None, with_random: bool = True,
                    progress: Progress | None = None) -> list[ImageScore]:
    """Every method (default: all registered) on one image, best first by insertion minus deletion area.

    A smooth random heatmap is scored too (``method == "random"``): a method ranked below it orders
    pixels no better than chance on this image. ``progress`` hears "Explaining and scoring TITLE (I of N)"
    before each method.
    """
    methods = list(methods) if methods is not None else method_names()
    for name in methods:
        get_method(name)
    pixels = _pixels(loaded, image)
    rows = []
    total = len(methods) + bool(with_random and methods)
    for i, name in enumerate(methods):
        report(progress, i / total, f"Explaining and scoring {get_method(name).title} ({i + 1} of {total})")
        extra = (params or {}).get(name, {})
        (exp,) = explain(loaded, pixels[None], name, layer=layer, target=target, **extra)
        target = exp.class_index if target is None else target  # every method explains the same class
        curves = score_heatmap(loaded, pixels, exp.heatmap, exp.class_index, baseline, steps)
        rows.append(ImageScore(name, exp.layer, exp.class_index, loaded.label(exp.class_index), exp.prob,
                               exp.heatmap, curves))
    if with_random and rows:
        first = rows[0]
        report(progress, len(methods) / total, f"Scoring a random map ({total} of {total})")
        heat = random_heatmap(first.heatmap.shape)
        curves = score_heatmap(loaded, pixels, heat, first.class_index, baseline, steps)
        rows.append(ImageScore(RANDOM, None, first.class_index, first.label, first.prob, heat, curves))
    return sorted(rows, key=lambda r: -r.curves.score)
