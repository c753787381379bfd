"""Scoring heatmaps against ground-truth masks: the pointing game and the energy inside the mask.

- Pointing game (Zhang et al. 2016): a hit when the heatmap's hottest pixel falls on the object
  (optionally within ``tolerance`` pixels of it).
- Energy in mask: the share of the heatmap's total mass that lies on the object's pixels.

Both are reported per method over a split of a dataset with masks (the shapes datasets), next to two
references that use no model at all: a centre-bias map (a Gaussian in the middle of the image, which
is where objects tend to be) and a uniform map (whose energy share is just the object's area).
A method is only informative if it beats them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from core.errors import DataError, ParameterError
from core.explain import explain, get_method
from core.explain.base import peak_location
from core.i18n import N_
from core.progress import Progress

CENTRE = "centre-bias"
SAMPLE = N_("a class-balanced sample of {n} images from {scope}")  # ScoredImages.scope of a sample
UNIFORM = "uniform"
BATCH = 16  # images explained per call


def _mask_for(heatmap: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ParameterError(f"Parameter 'mask' must be a 2-D array, got shape {mask.shape}.")
    if mask.shape != heatmap.shape:  # nearest neighbour keeps it boolean
        mask = cv2.resize(mask.astype(np.uint8), (heatmap.shape[1], heatmap.shape[0]),
                          interpolation=cv2.INTER_NEAREST)
    return mask.astype(bool)


def pointing_hit(heatmap: np.ndarray, mask: np.ndarray, tolerance: int = 0) -> bool:
    """True when the hottest pixel lies on the mask, or within ``tolerance`` pixels of it."""
    heatmap = np.asarray(heatmap, np.float32)
    mask = _mask_for(heatmap, mask)
    if tolerance > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
        mask = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    row, col = peak_location(heatmap)
    return bool(mask[row, col])


def energy_in_mask(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Share of the heatmap's total (non-negative) mass on the mask; 0 for an all-zero map."""
    heatmap = np.clip(np.asarray(heatmap, np.float64), 0.0, None)
    mask = _mask_for(heatmap, mask)
    total = heatmap.sum()
    return float(heatmap[mask].sum() / total) if total > 0 else 0.0


def centre_bias_map(shape: tuple[int, int], sigma_fraction: float = 0.25) -> np.ndarray:
    """A Gaussian bump centred on the image (sigma = ``sigma_fraction`` of each side)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    g = np.exp(-0.5 * (((yy - cy) / (sigma_fraction * h)) ** 2 + ((xx - cx) / (sigma_fraction * w)) ** 2))
    return (g / g.max()).astype(np.float32)


@dataclass
class MethodScore:
    method: str
    images: int = 0
    hits: int = 0
    energy_sum: float = 0.0
    ms: float = 0.0

    @property
    def pointing(self) -> float:
        return self.hits / self.images if self.images else 0.0

    @property
    def energy(self) -> float:
        return self.energy_sum / self.images if self.images else 0.0

    def add(self, heatmap: np.ndarray, mask: np.ndarray, tolerance: int) -> None:
        self.images += 1
        self.hits += pointing_hit(heatmap, mask, tolerance)
        self.energy_sum += energy_in_mask(heatmap, mask)

    def to_json(self) -> dict:
        return {"method": self.method, "images": self.images, "pointing_game": round(self.pointing, 4),
                "energy_in_mask": round(self.energy, 4), "ms": round(self.ms, 1)}


@dataclass
class GroundTruthReport:
    dataset: str
    split: str
    target: str  # "label" (the true class) or "predicted"
    tolerance: int
    scores: list[MethodScore]  # the methods, then the two references
    skipped: int = 0  # images without a mask
    accuracy: float | None = None  # the model's accuracy on the images scored
    notes: list[str] = field(default_factory=list)

    def score(self, method: str) -> MethodScore:
        return next(s for s in self.scores if s.method == method)

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "split": self.split, "target": self.target,
                "tolerance": self.tolerance,
                "skipped": self.skipped, "accuracy": self.accuracy, "notes": self.notes,
                "scores": [s.to_json() for s in self.scores]}


def score_arrays(model: Any, images: np.ndarray, masks: Sequence[np.ndarray], methods: Sequence[str],
                 labels: Sequence[int] | None = None, tolerance: int = 0,
                 params: dict[str, dict] | None = None, layer: str | None = None) -> list[MethodScore]:
    """Pointing game and energy per method (then the centre-bias and uniform references) on arrays.

    ``images`` are raw pixels ``(N, H, W, 3)`` at the model's input size; ``labels`` the class to
    explain per image (default: each image's top prediction).
    """
    if len(images) != len(masks):
        raise ParameterError(f"Got {len(images)} images but {len(masks)} masks.")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ParameterError(f"Parameter 'tolerance' must be a whole number of pixels, 0 or more, "
                             f"got {tolerance!r}.")
    for name in methods:
        get_method(name)  # unknown names fail before any work
    out = []
    for name in methods:
        score = MethodScore(name)
        start = time.perf_counter()
        for i in range(0, len(images), BATCH):
            target = None if labels is None else [int(v) for v in labels[i:i + BATCH]]
            exps = explain(model, images[i:i + BATCH], name, layer=layer, target=target,
                           **(params or {}).get(name, {}))
            for exp, mask in zip(exps, masks[i:i + BATCH], strict=True):
                score.add(exp.heatmap, mask, tolerance)
        score.ms = (time.perf_counter() - start) * 1000.0
        out.append(score)
    centre, uniform = MethodScore(CENTRE), MethodScore(UNIFORM)
    for image, mask in zip(images, masks, strict=True):
        centre.add(centre_bias_map(image.shape[:2]), mask, tolerance)
        flat = np.ones(image.shape[:2], np.float32)
        uniform.images += 1
        uniform.energy_sum += energy_in_mask(flat, mask)  # its "peak" is arbitrary: no pointing score
    return [*out, centre, uniform]


@dataclass
class ScoredImages:
    """A split's images in a seeded, class-balanced order, resized to the model's input."""

    dataset: str
    split: str
    pixels: np.ndarray  # (N, H, W, 3) raw pixels
    labels: list[int]
    predicted: list[int]
    masks: list[np.ndarray] | None  # None when the dataset has no masks
    skipped: int = 0  # images without a mask (datasets with masks)
    split_scope: str = ""  # which images of which split, in one sentence (core.evaluate's EvalSplit.describe)
    sampled: int = 0  # images drawn from that split when not all of it was loaded (0: all of it)

    @property
    def scope(self) -> str:
        """Which images were scored, in one sentence."""
        return SAMPLE.format(n=self.sampled, scope=self.split_scope) if self.sampled else self.split_scope

    @property
    def accuracy(self) -> float:
        return float(np.mean(np.asarray(self.predicted) == np.asarray(self.labels)))

    def targets(self, target: str) -> list[int]:
        """The class explained per image: ``label`` (the true class) or ``predicted``."""
        return list(self.labels) if target == "label" else list(self.predicted)


def load_scored_images(loaded: Any, source: str, split: str | None = None, limit: int | None = 200,
                       seed: int = 0, need_masks: bool = True, progress: Progress | None = None) -> ScoredImages:
    """Open ``source`` (a folder, zip or built-in id) and load up to ``limit`` images of ``split``.

    ``loaded`` is a :class:`~core.zoo.LoadedModel`; its predictions come with the images. Splits are
    drawn the way Evaluate draws them (:func:`core.evaluate.open_split`): a run's own dataset with the
    run's split settings, so "test" is images it never trained on; by default (``split`` None) the test
    split, else val, and all of a dataset the run never trained on. With ``need_masks`` a dataset
    without ground-truth masks is an error; otherwise its masks are ``None``.
    """
    from core.data import open_dataset
    from core.evaluate import held_out, map_classes, open_split, run_split_settings
    from core.images import load_image, resize_for_model

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ParameterError(f"Parameter 'limit' must be a whole number of images, 1 or more, got {limit!r}.")
    dataset = open_dataset(source)
    if need_masks and not dataset.has_masks:
        raise DataError(f"Dataset {dataset.id!r} has no ground-truth masks; use a shapes dataset.")
    chosen = open_split(source, split, held_out=held_out(loaded, str(source)), **run_split_settings(loaded))
    # The class explained is the model's output for each image's class, matched by name as Evaluate
    # matches them (a run's classes in another order, a zoo model's ImageNet-named folders).
    columns = map_classes(loaded, list(chosen.class_names)).columns
    items = _balanced(list(chosen.items), seed)[:limit]
    pixels, masks, labels, skipped = [], [], [], 0
    for n, item in enumerate(items, 1):
        mask = dataset.load_mask(item) if dataset.has_masks else None
        if dataset.has_masks and mask is None:
            skipped += 1
            continue
        pixels.append(resize_for_model(load_image(item.path), loaded.input_size))
        masks.append(mask)
        labels.append(int(columns[item.label]))
        if progress and (n % 20 == 0 or n == len(items)):
            progress(n / len(items), f"Loading image {n} of {len(items)} of {dataset.id}/{chosen.split}")
    if not pixels:
        raise DataError(f"No image of split {chosen.split!r} in {dataset.id!r} has a mask.")
    images = np.stack(pixels)
    predicted = [int(p) for p in np.argmax(loaded.predict(images), axis=-1)]
    sampled = len(items) if len(items) < len(chosen.items) else 0
    return ScoredImages(dataset.id, chosen.split, images, labels, predicted,
                        masks if dataset.has_masks else None, skipped, chosen.describe(), sampled)


def score_dataset(loaded: Any, source: str, methods: Sequence[str], split: str | None = None,
                  limit: int | None = 200, target: str = "label", tolerance: int = 0, seed: int = 0,
                  progress: Progress | None = None) -> GroundTruthReport:
    """Open ``source`` (a folder, zip or built-in id with masks) and score ``methods`` on ``split``.

    ``loaded`` is a :class:`~core.zoo.LoadedModel`. Images are taken in a seeded, class-balanced order
    (every ``limit`` images cover the classes evenly) and resized to the model's input.
    """
    if target not in ("label", "predicted"):
        raise ParameterError(f"Parameter 'target' must be 'label' or 'predicted', got {target!r}.")
    data = load_scored_images(loaded, source, split, limit, seed, need_masks=True, progress=progress)
    return report_for(data, loaded, methods, target, tolerance)


def report_for(data: ScoredImages, loaded: Any, methods: Sequence[str], target: str = "label",
               tolerance: int = 0) -> GroundTruthReport:
    """The pointing game and energy in mask of ``methods`` on images already loaded (with masks)."""
    if data.masks is None:
        raise DataError(f"Dataset {data.dataset!r} has no ground-truth masks; use a shapes dataset.")
    scores = score_arrays(loaded, data.pixels, data.masks, methods, data.targets(target), tolerance)
    return GroundTruthReport(data.dataset, data.split, target, tolerance, scores, data.skipped, data.accuracy)


def _balanced(items: list, seed: int) -> list:
    """Round-robin over classes, each class in a seeded random order."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list] = {}
    for item in items:
        by_class.setdefault(int(item.label), []).append(item)
    queues = [[members[i] for i in rng.permutation(len(members))] for _, members in sorted(by_class.items())]
    out = []
    for rank in range(max((len(q) for q in queues), default=0)):
        out += [q[rank] for q in queues if rank < len(q)]
    return out
