"""Deletion and insertion curves (Petsiuk et al. 2018, RISE): does the heatmap rank pixels by evidence?

Deletion replaces the pixels with a baseline (a blurred copy, the mean colour or black) in order of
importance, most important first, and follows the probability of the explained class: a faithful
heatmap makes it fall fast, so a *low* area under the curve is good. Insertion starts from the
baseline and reveals pixels in the same order: a faithful heatmap makes the probability rise fast,
so a *high* area is good. Both areas are also given relative to the clean probability (the curves'
first and last points), so a class the model is unsure of is not judged by its low raw probability.

Average Drop and Increase in Confidence (Chattopadhyay et al. 2018, Grad-CAM++; the metrics of the
Score-CAM paper and torch-cam's table) keep only what the heatmap shows: the image multiplied by the map
(scaled to [0, 1]). Average Drop is ``max(0, clean - shown) / clean`` (lower is better), Increase in
Confidence whether ``shown > clean`` (a dataset's share of such images: higher is better).

Speed: the image, the baseline and the pixels' importance ranks go into one compiled function that
builds every step's image inside the graph (``rank < count`` is the step's mask) and runs the model
on :data:`STEP_BATCH` steps of both curves at once: one call per 8 images, with no image built in Python
or copied from it (:func:`naive_curves` is the one-by-one reference).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import keras
import numpy as np
import tensorflow as tf

from core import compiled
from core.errors import ParameterError, unknown_name
from core.explain.base import prepare_images, resize_map

BASELINES = ("blur", "mean", "black")
DEFAULT_STEPS = 32
MAX_STEPS = 512
STEP_BATCH = 4  # steps per compiled call (8 images: deletion + insertion); bigger gains nothing on CPU


@dataclass
class Curves:
    """Both curves for one heatmap: probability of ``class_index`` against the fraction of pixels."""

    class_index: int
    baseline: str
    fractions: np.ndarray  # (steps + 1,) from 0 to 1
    deletion: np.ndarray  # (steps + 1,) probability after removing that fraction, most important first
    insertion: np.ndarray  # (steps + 1,) probability after revealing that fraction on the baseline
    ms: float
    shown: float = float("nan")  # probability on the image multiplied by the heatmap (Average Drop's input)

    @property
    def clean(self) -> float:
        """Probability of ``class_index`` on the untouched image (nothing deleted yet)."""
        return float(self.deletion[0])

    @property
    def relative_deletion(self) -> float:
        """Deletion area over the clean probability: 0 means it falls at once, 1 that it never falls."""
        return self.deletion_auc / max(self.clean, 1e-12)

    @property
    def relative_insertion(self) -> float:
        """Insertion area over the clean probability: about 1 (or more) means it comes back at once."""
        return self.insertion_auc / max(self.clean, 1e-12)

    @property
    def drop(self) -> float:
        """This heatmap's term of Average Drop: ``max(0, clean - shown) / clean``, in [0, 1]."""
        return max(0.0, self.clean - self.shown) / max(self.clean, 1e-12)

    @property
    def increase(self) -> bool:
        """This heatmap's term of Increase in Confidence: the shown part alone scores higher."""
        return bool(self.shown > self.clean)

    @property
    def deletion_auc(self) -> float:
        """Area under the deletion curve (trapezoid rule, in [0, 1]); lower is better."""
        return auc(self.fractions, self.deletion)

    @property
    def insertion_auc(self) -> float:
        """Area under the insertion curve; higher is better."""
        return auc(self.fractions, self.insertion)

    @property
    def score(self) -> float:
        """Insertion minus deletion area: one number to rank heatmaps by (higher is better)."""
        return self.insertion_auc - self.deletion_auc

    def to_json(self, include_curves: bool = False) -> dict:
        out = {"class_index": self.class_index, "baseline": self.baseline, "steps": len(self.fractions) - 1,
               "deletion_auc": round(self.deletion_auc, 6), "insertion_auc": round(self.insertion_auc, 6),
               "score": round(self.score, 6), "clean_prob": round(self.clean, 6),
               "relative_deletion": round(self.relative_deletion, 6),
               "relative_insertion": round(self.relative_insertion, 6),
               "shown_prob": round(self.shown, 6), "drop": round(self.drop, 6), "increase": self.increase,
               "ms": round(self.ms, 2)}
        if include_curves:
            out["fractions"] = np.round(self.fractions, 6).tolist()
            out["deletion"] = np.round(self.deletion, 6).tolist()
            out["insertion"] = np.round(self.insertion, 6).tolist()
        return out


def auc(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoid-rule area under ``y(x)``."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 2 <= steps <= MAX_STEPS:
        raise ParameterError(f"Parameter 'steps' must be a whole number from 2 to {MAX_STEPS}, "
                             f"got {steps!r}.")
    return int(steps)


def make_baseline(image: np.ndarray, kind: str) -> np.ndarray:
    """The image pixels are replaced by: ``blur`` (Gaussian, sigma = 1/20 of the side), ``mean`` (the
    image's mean colour) or ``black``. ``image`` is float32 ``(H, W, 3)`` raw pixels."""
    if kind == "blur":
        sigma = max(1.0, max(image.shape[:2]) / 20.0)
        return cv2.GaussianBlur(np.ascontiguousarray(image, np.float32), (0, 0), sigmaX=sigma, sigmaY=sigma)
    if kind == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1), dtype=np.float64), image.shape).astype(np.float32)
    if kind == "black":
        return np.zeros_like(image, np.float32)
    raise unknown_name("baseline", str(kind), list(BASELINES))


def importance_ranks(heatmap: np.ndarray, seed: int = 0) -> np.ndarray:
    """``(H, W)`` int32: 0 for the most important pixel, 1 for the next, ...

    Ties (e.g. the zeros of a ReLU'd map) are broken by a seeded random order, not the raster order,
    so a flat region is removed evenly rather than from its top-left corner.
    """
    flat = np.asarray(heatmap, np.float64).ravel()
    tie_break = np.random.default_rng(seed).permutation(flat.size)
    order = np.lexsort((tie_break, -flat))  # last key is primary: descending importance
    ranks = np.empty(flat.size, np.int32)
    ranks[order] = np.arange(flat.size, dtype=np.int32)
    return ranks.reshape(np.shape(heatmap))


def step_counts(num_pixels: int, steps: int) -> np.ndarray:
    """Pixels removed (or revealed) at each of the ``steps + 1`` points, from 0 to all of them."""
    return np.round(np.linspace(0, num_pixels, steps + 1)).astype(np.int32)


def _compile(model: keras.Model):
    h, w = model.inputs[0].shape[1:3]
    image_spec = tf.TensorSpec([h, w, 3], tf.float32)

    @tf.function(input_signature=[image_spec, image_spec, tf.TensorSpec([h, w], tf.int32),
                                  tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)])
    def curves(image, baseline, ranks, counts, class_index):
        # One mask per step: the `count` most important pixels (1 = removed / revealed).
        masks = tf.cast(ranks[None] < counts[:, None, None], tf.float32)[..., None]  # (S, H, W, 1)
        deleted = image * (1.0 - masks) + baseline * masks
        inserted = baseline * (1.0 - masks) + image * masks
        probs = model(tf.concat([deleted, inserted], axis=0), training=False)
        scores = tf.gather(probs, class_index, axis=1)
        n = tf.shape(counts)[0]
        return scores[:n], scores[n:]

    return curves


def shown_image(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The image multiplied by the heatmap scaled to [0, 1] (all black for an all-zero map)."""
    peak = float(np.max(heatmap))
    weights = np.clip(heatmap / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(heatmap)
    return (image * weights[..., None]).astype(np.float32)


def _inputs(model: keras.Model, image: np.ndarray, heatmap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = prepare_images(model, image)
    if len(pixels) != 1:
        raise ParameterError(f"Parameter 'image' must be one image, got {len(pixels)}.")
    heatmap = np.asarray(heatmap, np.float32)
    if heatmap.ndim != 2 or heatmap.size == 0 or not np.isfinite(heatmap).all():
        raise ParameterError(f"Parameter 'heatmap' must be a finite 2-D array, got shape {heatmap.shape}.")
    return pixels[0], resize_map(heatmap, pixels.shape[1:3])


def _class_index(model: keras.Model, image: np.ndarray, class_index: int | None) -> int:
    num_classes = int(model.outputs[0].shape[-1])
    if class_index is None:
        return int(np.argmax(model(image[None], training=False)[0]))
    if isinstance(class_index, bool) or not 0 <= int(class_index) < num_classes:
        raise ParameterError(f"Parameter 'class_index' must be from 0 to {num_classes - 1}, "
                             f"got {class_index!r}.")
    return int(class_index)


def deletion_insertion(model: keras.Model, image: np.ndarray, heatmap: np.ndarray,
                       class_index: int | None = None, baseline: str = "blur", steps: int = DEFAULT_STEPS,
                       seed: int = 0, pause: Callable[[], object] | None = None) -> Curves:
    """Deletion and insertion curves of ``heatmap`` for ``model`` on one image, batched and compiled.

    ``image`` is raw pixels ``(H, W, 3)`` (resized to the model's input if needed), ``heatmap`` any
    2-D importance map (resized to the input), ``class_index`` the class followed (default: the top
    prediction). The compiled function is cached per model (:mod:`core.compiled`).
    ``pause`` is called before each batched call: a server scoring in the background passes one that
    waits while people wait for their own heatmaps (time spent in it is not counted in ``ms``).
    """
    steps = check_steps(steps)
    start = time.perf_counter()
    pixels, heatmap = _inputs(model, image, heatmap)
    base = make_baseline(pixels, baseline)
    index = _class_index(model, pixels, class_index)
    fn = compiled.get(model, ("trust_curves",), lambda: _compile(model))
    counts = step_counts(heatmap.size, steps)
    ranks = tf.constant(importance_ranks(heatmap, seed))
    image_t, base_t, index_t = tf.constant(pixels), tf.constant(base), tf.constant(index, tf.int32)
    deletion, insertion = [], []
    paused = 0.0
    for i in range(0, len(counts), STEP_BATCH):
        if pause is not None:
            waited = time.perf_counter()
            pause()
            paused += time.perf_counter() - waited
        d, s = fn(image_t, base_t, ranks, tf.constant(counts[i:i + STEP_BATCH]), index_t)
        deletion.append(d.numpy())
        insertion.append(s.numpy())
    shown = compiled.forward(model)(tf.constant(shown_image(pixels, heatmap)[None]))[0, index]
    fractions = counts / float(heatmap.size)
    return Curves(index, baseline, fractions, np.concatenate(deletion).astype(np.float64),
                  np.concatenate(insertion).astype(np.float64), (time.perf_counter() - start - paused) * 1000.0,
                  float(shown))


def naive_curves(model: keras.Model, image: np.ndarray, heatmap: np.ndarray, class_index: int | None = None,
                 baseline: str = "blur", steps: int = DEFAULT_STEPS, seed: int = 0) -> Curves:
    """The textbook loop: one eager forward pass per step and curve. Same numbers, for benchmarks."""
    steps = check_steps(steps)
    start = time.perf_counter()
    pixels, heatmap = _inputs(model, image, heatmap)
    base = make_baseline(pixels, baseline)
    index = _class_index(model, pixels, class_index)
    ranks = importance_ranks(heatmap, seed)
    deletion, insertion = [], []
    for count in step_counts(heatmap.size, steps):
        mask = (ranks < count)[..., None]
        deletion.append(float(model(np.where(mask, base, pixels)[None], training=False)[0, index]))
        insertion.append(float(model(np.where(mask, pixels, base)[None], training=False)[0, index]))
    shown = float(model(shown_image(pixels, heatmap)[None], training=False)[0, index])
    fractions = step_counts(heatmap.size, steps) / float(heatmap.size)
    return Curves(index, baseline, fractions, np.array(deletion), np.array(insertion),
                  (time.perf_counter() - start) * 1000.0, shown)


def random_heatmap(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A smooth random map (blurred noise): the reference a real explanation should beat."""
    noise = np.random.default_rng(seed).random(shape).astype(np.float32)
    sigma = max(1.0, max(shape) / 16.0)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return (smooth - smooth.min()) / max(float(smooth.max() - smooth.min()), 1e-9)
