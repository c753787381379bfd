"""Model-parameter randomisation sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

An explanation of a model should depend on what the model learned. So randomise the model's weights
layer by layer, cascading from the top (the classifier) down to the first convolution, recompute the
explanation each time and compare it with the original: rank correlation (Spearman) and structural
similarity (SSIM). A method whose maps stay similar when the weights no longer mean anything is
showing the image (its edges, say), not the model, and fails the check.

Everything happens on a fresh copy of the model: the shared model is never touched. The copy is
traced once per method (weights are changed in place, so the compiled explanation stays valid) and
dropped at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from core import compiled
from core.errors import GlasswingError, ParameterError
from core.explain import explain, get_method
from core.i18n import N_
from core.progress import Progress, report
from core.zoo.loaded import LoadedModel, as_loaded

MAX_STAGES = 8  # cascade checkpoints shown; deep models randomise several layers per checkpoint
PASS_THRESHOLD = 0.5  # both similarities must fall below this, on average over the cascade and at its end

# The verdict's sentences (SanityResult.reading), as templates the dashboard shows in its language.
PASSED = N_("Passed: once the model's weights were replaced by random numbers, the {method} map changed (rank "
            "correlation {rho:.2f}, SSIM {ssim:.2f} with the original). The map depends on what the model "
            "learned, as an explanation should.")
FAILED_LATE = N_("Failed: the {method} map kept looking like the original while most of the model was randomised "
                 "from the top down (mean similarity {cascade:.2f} over the cascade), and changed only near the "
                 "first layers (rank correlation {rho:.2f}, SSIM {ssim:.2f} at the end). It shows the image and "
                 "the first layers more than what the model learned; do not read it as the model's reasoning.")
FAILED = N_("Failed: even with every weight of the model randomised, the {method} map still looks like the "
            "original (rank correlation {rho:.2f}, SSIM {ssim:.2f}). It mostly shows the image itself, such as "
            "its edges, rather than what the model learned; do not read it as the model's reasoning.")


@dataclass
class SanityStep:
    """The explanation after randomising every weighted layer from the top down to ``layer``."""

    layer: str  # the deepest layer randomised so far ("original" for the untouched model)
    layers_randomised: int
    heatmap: np.ndarray
    spearman: float  # rank correlation with the original map (1 = same ranking)
    ssim: float  # structural similarity with the original map (1 = identical)

    def to_json(self, include_heatmap: bool = False) -> dict:
        out = {"layer": self.layer, "layers_randomised": self.layers_randomised,
               "spearman": round(self.spearman, 4), "ssim": round(self.ssim, 4)}
        if include_heatmap:
            out["heatmap"] = np.round(self.heatmap, 3).tolist()
        return out


@dataclass
class SanityResult:
    method: str
    class_index: int
    steps: list[SanityStep]  # steps[0] is the original model
    threshold: float = PASS_THRESHOLD
    ms: float = 0.0
    layer: str | None = None  # the explained layer, for CAM methods
    notes: list[str] = field(default_factory=list)

    @property
    def final(self) -> SanityStep:
        return self.steps[-1]

    @property
    def cascade_similarity(self) -> float:
        """Mean over the cascade's steps of ``max(|Spearman|, SSIM)``: how much of the map survives while
        the model is randomised from the top down (1 = unchanged throughout)."""
        values = [max(abs(s.spearman), s.ssim) for s in self.steps[1:]]
        return float(np.mean(values)) if values else 1.0

    @property
    def passed(self) -> bool:
        """Pass: the map stops resembling the original as the model is randomised, along the cascade
        (mean similarity) and with every layer random (final similarity).

        Judging only the end misses what Adebayo et al. found for Guided Backprop: its map survives the
        top half of the network being randomised (on EfficientNet-Lite0's cat, rank correlation 0.96, 0.88
        and 0.83 over the first three stages; cascade mean 0.68) and changes only once the stem is random
        (final 0.38). Saliency's mean there is 0.24 and Grad-CAM's 0.05."""
        final = max(abs(self.final.spearman), self.final.ssim)
        return final < self.threshold and self.cascade_similarity < self.threshold

    def reading_message(self) -> tuple[str, dict[str, Any]]:
        """The reading as a template (:data:`PASSED`, :data:`FAILED_LATE` or :data:`FAILED`) and its fields
        (``method`` is the method's title), for a page that shows it in another language."""
        rho, ssim = self.final.spearman, self.final.ssim
        fields = {"method": _method_title(self.method), "rho": rho, "ssim": ssim,
                  "cascade": self.cascade_similarity}
        if self.passed:
            return PASSED, fields
        if max(abs(rho), ssim) < self.threshold:  # it changes at last, but survives most of the cascade
            return FAILED_LATE, fields
        return FAILED, fields

    def reading(self) -> str:
        """A plain-language sentence for students."""
        template, fields = self.reading_message()
        return template.format(**fields)

    def to_json(self, include_heatmaps: bool = False) -> dict:
        return {"method": self.method, "layer": self.layer, "class_index": self.class_index,
                "passed": self.passed, "threshold": self.threshold,
                "cascade_similarity": round(self.cascade_similarity, 4), "ms": round(self.ms, 1),
                "reading": self.reading(), "steps": [s.to_json(include_heatmaps) for s in self.steps]}


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(Spearman rank correlation, SSIM)`` of two maps in [0, 1]; a constant map shares nothing (0, 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ParameterError(f"Maps to compare must have the same shape, got {a.shape} and {b.shape}.")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0, 0.0
    rho = float(spearmanr(a.ravel(), b.ravel()).statistic)
    side = min(a.shape)
    win = min(7, side if side % 2 else side - 1)
    ssim = float(structural_similarity(a, b, data_range=1.0, win_size=win)) if win >= 3 else rho
    return (0.0 if np.isnan(rho) else rho), (0.0 if np.isnan(ssim) else ssim)


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers with a learned kernel (convolutions, dense), from the top of the model down."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += list(reversed(weighted_layers(layer)))
        elif any(v.name in ("kernel", "depthwise_kernel") for v in layer.weights):
            found.append(layer)
    return list(reversed(found))


def cascade(layers: list[keras.layers.Layer], max_stages: int = MAX_STAGES) -> list[list[keras.layers.Layer]]:
    """Split the top-down layer list into at most ``max_stages`` consecutive groups (one per checkpoint)."""
    if not layers:
        return []
    stages = min(max_stages, len(layers))
    bounds = np.round(np.linspace(0, len(layers), stages + 1)).astype(int)
    return [layers[bounds[i]:bounds[i + 1]] for i in range(stages)]


def randomise_layer(layer: keras.layers.Layer, rng: np.random.Generator) -> None:
    """Replace every trainable weight of ``layer`` with Gaussian noise of the same standard deviation.

    Keeping each tensor's scale keeps activations in a realistic range, so the check compares
    "learned" with "random", not "learned" with "collapsed to zero".
    """
    for var in layer.trainable_weights:
        value = np.asarray(var.numpy())
        std = float(value.std())
        var.assign(rng.normal(0.0, std, value.shape).astype(value.dtype) if std > 0 else np.zeros_like(value))


def _clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    if isinstance(layer, keras.layers.Lambda):  # its config holds code: reuse the function, not the config
        return keras.layers.Lambda(layer.function, name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def fresh_copy(model: keras.Model) -> keras.Model:
    """An independent copy (same graph and layer names, its own weights); the model is not touched."""
    copy = keras.models.clone_model(model, clone_function=_clone_layer)
    copy.set_weights(model.get_weights())
    return copy


def sanity_check(model: LoadedModel | keras.Model, image: np.ndarray, method: str, layer: str | None = None,
                 class_index: int | None = None, max_stages: int = MAX_STAGES, seed: int = 0,
                 threshold: float = PASS_THRESHOLD, progress: Progress | None = None,
                 **params: Any) -> SanityResult:
    """Cascading randomisation check of ``method`` on one image (raw pixels ``(H, W, 3)``).

    ``model`` is a ``LoadedModel`` or a ``keras.Model`` (its handle's lock is held while copying). The
    explained class stays the original model's choice (``class_index``, default its top class).
    ``progress(fraction, text)`` (:mod:`core.progress`) hears of each stage as it starts.
    """
    start = time.perf_counter()
    handle = as_loaded(model)
    if isinstance(max_stages, bool) or not isinstance(max_stages, int) or not 1 <= max_stages <= 64:
        raise ParameterError(f"Parameter 'max_stages' must be a whole number from 1 to 64, "
                             f"got {max_stages!r}.")
    if not 0.0 < float(threshold) <= 1.0:
        raise ParameterError(f"Parameter 'threshold' must be above 0 and at most 1, got {threshold!r}.")
    report(progress, 0.0, "Explaining with the trained model ...")
    (original,) = explain(handle, np.asarray(image, np.float32)[None], method, layer=layer, target=class_index,
                          **params)
    report(progress, 0.0, "Copying the model to randomise it ...")
    with handle.lock:
        copy = fresh_copy(handle.model)
    rng = np.random.default_rng(seed)
    steps = [SanityStep("original", 0, original.heatmap, 1.0, 1.0)]
    try:
        done = 0
        stages = cascade(weighted_layers(copy), max_stages)
        for number, group in enumerate(stages, start=1):
            report(progress, (number - 1) / len(stages),
                   f"Stage {number} of {len(stages)}: randomising down to {group[-1].name}, explaining again ...")
            for weighted in group:
                randomise_layer(weighted, rng)
            done += len(group)
            (exp,) = explain(copy, np.asarray(image, np.float32)[None], method, layer=original.layer,
                             target=original.class_index, **params)
            rho, ssim = similarity(original.heatmap, exp.heatmap)
            steps.append(SanityStep(group[-1].name, done, exp.heatmap, rho, ssim))
    finally:
        compiled.clear(copy)  # the copy's traced functions go with it
        del copy
    report(progress, 1.0, "Done.")
    notes = [] if len(steps) > 1 else ["The model has no convolution or dense layers to randomise."]
    return SanityResult(method, original.class_index, steps, float(threshold),
                        (time.perf_counter() - start) * 1000.0, original.layer, notes)


def _method_title(name: str) -> str:
    """The method's display name ("Grad-CAM"), or its registry name for one not registered."""
    try:
        return get_method(name).title
    except GlasswingError:
        return name
