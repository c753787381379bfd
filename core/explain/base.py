"""The base of every explanation method: inputs, targets, layers, resizing, normalisation, timing.

A method subclass declares its name, title, description, whether it uses a layer and its parameters,
and overrides one hook, :meth:`ExplanationMethod.compute`, returning raw maps at any resolution.
Everything else - checking the images, resolving the target class, choosing the layer, resizing the
maps to the model's input resolution and scaling them to [0, 1] - happens here, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cv2
import keras
import numpy as np

from core import compiled
from core.errors import ParameterError
from core.explain.layers import LayerRef, feature_model, output_model, resolve_layer
from core.explain.registry import list_methods
from core.explain.targets import ContrastTarget, Target, resolve_target, scorer
from core.i18n import N_
from core.params import Param, validate_params
from core.progress import Progress

Maps = tuple[np.ndarray, np.ndarray, np.ndarray]  # raw maps (N, h, w), class indices (N,), probs (N,)
# What an empty map means (Explanation.empty_note), in messages the dashboard translates.
EMPTY_NOTE = N_("Empty map: {hint}")
EMPTY_CLASS = N_("class {index}")
EMPTY_CAM = N_("{method} found no positive evidence for {target} at layer '{layer}' (every weighted sum was zero "
               "or negative, or the same everywhere). It does not show that the image has no evidence; try "
               "Layer-CAM or Score-CAM, an earlier layer, or another class.")
EMPTY_GRADIENT = N_("the gradient of {target} is zero everywhere (a saturated or dead output, or a constant "
                    "image). Try Integrated Gradients, another class, or a CAM method.")


@dataclass
class Explanation:
    heatmap: np.ndarray  # float32 (H, W) in [0, 1] at the model's input resolution
    method: str
    layer: str | None  # None for methods that explain the input directly
    class_index: int
    prob: float  # the model's probability of that class
    ms: float  # wall time to compute it (a batch's time is shared equally by its images)
    label: str | None = None  # class name, when the model's class names are known

    def peak(self, image_shape: Sequence[int] | None = None) -> tuple[int, int]:
        """``(row, col)`` of the hottest pixel, on the heatmap or mapped onto an image of ``image_shape``."""
        return peak_location(self.heatmap, image_shape)

    @property
    def empty(self) -> bool:
        """True when the map shows nothing: all zero, or constant (normalise turns a constant map to 0)."""
        return not bool(np.any(self.heatmap > 0))

    @property
    def empty_note(self) -> str | None:
        """What an empty map means and what to try; None when the map shows something."""
        return self.empty_note_in()

    def empty_note_in(self, translate: Callable[[str], str] = str) -> str | None:
        """:attr:`empty_note` with its messages passed through ``translate`` (the dashboard's ``_``)."""
        if not self.empty:
            return None
        target = (f"'{self.label}'" if self.label
                  else translate(EMPTY_CLASS).format(index=self.class_index))
        from core.explain.registry import METHODS  # the method's own reading, when it has one

        method = METHODS.get(self.method) if self.method in METHODS else None
        if method is not None and method.empty_hint:
            hint = translate(method.empty_hint).format(target=target)
        elif self.layer is not None:
            title = translate(method.title) if method is not None else self.method  # "Grad-CAM", not "gradcam"
            hint = translate(EMPTY_CAM).format(method=title, target=target, layer=self.layer)
        else:
            hint = translate(EMPTY_GRADIENT).format(target=target)
        return translate(EMPTY_NOTE).format(hint=hint)

    def to_json(self, include_heatmap: bool = False) -> dict:
        """A JSON-ready dict; the heatmap itself (rounded to 3 decimals) only when asked for."""
        row, col = self.peak()
        out = {"method": self.method, "layer": self.layer, "class_index": self.class_index,
               "label": self.label, "prob": round(float(self.prob), 6), "ms": round(self.ms, 2),
               "shape": list(self.heatmap.shape), "peak": {"row": row, "col": col},
               "empty": self.empty, "empty_note": self.empty_note}
        if include_heatmap:
            out["heatmap"] = np.round(self.heatmap, 3).tolist()
        return out


def peak_location(heatmap: np.ndarray, image_shape: Sequence[int] | None = None) -> tuple[int, int]:
    """``(row, col)`` of the hottest pixel; mapped onto an image of ``image_shape`` (H, W, ...) if given."""
    heatmap = np.asarray(heatmap)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise ParameterError(f"Parameter 'heatmap' must be a 2-D array, got shape {heatmap.shape}.")
    row, col = np.unravel_index(int(np.nanargmax(heatmap)), heatmap.shape)
    if image_shape is not None:
        # Centre of the heatmap pixel, scaled to the image (the heatmap covers the whole image).
        row = min(int((row + 0.5) * image_shape[0] / heatmap.shape[0]), image_shape[0] - 1)
        col = min(int((col + 0.5) * image_shape[1] / heatmap.shape[1]), image_shape[1] - 1)
    return int(row), int(col)


def normalise(heatmap: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1] as float32; a constant map (no evidence anywhere) becomes all zeros."""
    heatmap = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(heatmap.min()), float(heatmap.max())
    if not hi - lo > 1e-6 * max(abs(hi), abs(lo)):  # relative: raw maps can be on any scale
        return np.zeros_like(heatmap)
    return np.clip((heatmap - lo) / (hi - lo), 0.0, 1.0)


def resize_map(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to ``(height, width)``."""
    if heatmap.shape == tuple(size):
        return heatmap
    return cv2.resize(np.asarray(heatmap, np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def prepare_images(model: keras.Model, images: Any) -> np.ndarray:
    """Float32 ``(N, H, W, 3)`` raw pixels at the model's input size (resized if they are not)."""
    try:
        arr = np.asarray(images, dtype=np.float32)
    except (TypeError, ValueError):
        raise ParameterError("Parameter 'images' must be an array of pixels (N, H, W, 3).") from None
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3 or min(arr.shape) == 0:
        raise ParameterError(f"Parameter 'images' must have shape (N, H, W, 3), got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ParameterError("Parameter 'images' contains NaN or infinite values.")
    h, w = model.inputs[0].shape[1:3]
    if h is not None and w is not None and arr.shape[1:3] != (h, w):
        arr = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR) for im in arr])
    return np.ascontiguousarray(arr)


@dataclass
class Context:
    """What one call explains: the model, the layer (CAM methods) and a custom target, if any."""

    model: keras.Model
    layer: LayerRef | None
    target: Target | None  # a custom callable; None = by class index (the common, shared case)
    progress: Progress | None = None  # progress(fraction, text) for slow methods (core.progress)
    scorer: Callable = field(init=False)

    def __post_init__(self) -> None:
        self.scorer = scorer(self.target)

    def compiled(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The function ``build()`` returns, cached per model, ``key``, layer and custom target."""
        return compiled.get(self.model, (key, self.layer, self.target), build)

    def feature_model(self) -> keras.Model:
        """``pixels -> [activations of the layer, probabilities, logits]``."""
        return feature_model(self.model, self.layer)

    def output_model(self) -> keras.Model:
        """``pixels -> [probabilities, logits]``."""
        return output_model(self.model)


class ExplanationMethod:
    """Base class; subclasses set the class attributes and override :meth:`compute`."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]  # one line, shown next to the method picker
    uses_layer: ClassVar[bool]  # True: explains a conv layer's feature maps (CAM); False: the input
    class_agnostic: ClassVar[bool] = False  # True: the map ignores the target (so no contrast either)
    slow: ClassVar[bool] = False  # True: many forward passes per image (not chosen by default on a page)
    empty_hint: ClassVar[str | None] = None  # what an empty map means for this method ("{target}" is filled)
    kind: ClassVar[str] = "cam"  # how its maps are shown (core.explain.overlay.DISPLAYS): "cam" or "gradient"
    params: ClassVar[tuple[Param, ...]] = ()
    batch_size: ClassVar[int] = 16  # images per compiled call

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict) -> Maps:
        """The hook: raw maps ``(N, h, w)`` (any resolution, any scale), class indices and probabilities.

        ``class_idx`` holds one class per image, ``-1`` meaning the image's top prediction.
        """
        raise NotImplementedError

    def check_contrast(self) -> None:
        """Raise a one-sentence error when this method cannot explain 'class A rather than class B'."""
        if self.class_agnostic:
            able = ", ".join(m.name for m in list_methods() if not m.class_agnostic)
            raise ParameterError(f"{self.title} ({self.name}) draws the same map for every class, so it "
                                 f"cannot contrast two classes; methods that can: {able}.")

    def spec(self) -> dict:
        """Everything a UI needs to offer this method."""
        return {"name": self.name, "title": self.title, "description": self.description,
                "uses_layer": self.uses_layer, "kind": self.kind, "params": [p.to_dict() for p in self.params]}

    def explain(self, model: keras.Model, images: np.ndarray, layer: str | None = None,
                target: int | Sequence[int] | Target | None = None, class_names: Sequence[str] | None = None,
                progress: Progress | None = None, **params: Any) -> list[Explanation]:
        """One :class:`Explanation` per image; see :func:`core.explain.explain`."""
        start = time.perf_counter()
        ref, size, maps, indices, probs = self._run(model, images, layer, target, params, progress)
        heatmaps = [normalise(resize_map(m, size)) for m in maps]
        ms = (time.perf_counter() - start) * 1000.0 / len(maps)
        return [
            Explanation(heatmap=h, method=self.name, layer=ref.name if ref else None, class_index=int(i),
                        prob=float(p), ms=ms,
                        label=class_names[int(i)] if class_names and 0 <= i < len(class_names) else None)
            for h, i, p in zip(heatmaps, indices, probs, strict=True)
        ]

    def raw_maps(self, model: keras.Model, images: np.ndarray, layer: str | None = None,
                 target: int | Sequence[int] | Target | None = None, **params: Any) -> Maps:
        """The hook's raw output for the same inputs as :meth:`explain`: no resizing, no scaling."""
        return self._run(model, images, layer, target, params)[2:]

    def _run(self, model: keras.Model, images: np.ndarray, layer: str | None, target: Any, params: dict,
             progress: Progress | None = None
             ) -> tuple[LayerRef | None, tuple[int, int], np.ndarray, np.ndarray, np.ndarray]:
        values = validate_params(self.name, self.params, params)
        if isinstance(target, ContrastTarget):
            self.check_contrast()
        pixels = prepare_images(model, images)
        ref = resolve_layer(model, layer) if self.uses_layer else None
        class_idx, custom = resolve_target(target, len(pixels), int(model.outputs[0].shape[-1]))
        ctx = Context(model, ref, custom, progress)
        chunks = [self.compute(ctx, pixels[i:i + self.batch_size], class_idx[i:i + self.batch_size], values)
                  for i in range(0, len(pixels), self.batch_size)]
        maps, indices, probs = (np.concatenate(parts) for parts in zip(*chunks, strict=True))
        size = (pixels.shape[1], pixels.shape[2])
        return ref, size, maps.astype(np.float32), indices.astype(np.int64), probs.astype(np.float32)
