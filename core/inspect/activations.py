"""Feature maps: what one layer computes for an image, its most active channels, and a display grid.

The activations come from a sub-model ``pixels -> layer output`` that shares the model's layers,
compiled once per (model, layer) with ``tf.function`` and kept in the bounded per-model cache of
:mod:`core.compiled` (so a server browsing many layers does not grow).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import keras
import numpy as np
import tensorflow as tf

from core import compiled
from core.errors import ParameterError
from core.explain.base import normalise, prepare_images
from core.explain.layers import LayerRef, feature_model, resolve_layer
from core.images import resize_for_model
from core.progress import Progress, report
from core.zoo.loaded import LoadedModel, as_loaded

MAX_TOP = 256  # channels returned at most: more does not fit on a page


@dataclass(frozen=True)
class ChannelStat:
    index: int  # channel index in the layer's output
    mean: float  # mean activation over the map
    max: float


@dataclass
class FeatureMaps:
    layer: str
    activations: np.ndarray  # float32 (H', W', C): the layer's whole output for the image
    channels: list[ChannelStat]  # the most active channels, by mean activation, highest first
    maps: np.ndarray  # float32 (len(channels), H', W'), each scaled to [0, 1] for display

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.activations.shape)

    def labels(self) -> list[str]:
        """``"#12  0.83"``: channel index and mean activation, one per shown map."""
        return [f"#{c.index}  {c.mean:.2f}" for c in self.channels]


def activation_model(model: keras.Model, ref: LayerRef) -> keras.Model:
    """``pixels -> activations of ref``, sharing the model's layers (nested backbones included)."""
    if len(ref.path) == 1:
        return keras.Model(model.inputs[0], model.get_layer(ref.name).output)
    full = feature_model(model, ref)  # [activations, probabilities, logits]
    return keras.Model(full.inputs[0], full.outputs[0])


def _compiled_activations(model: keras.Model, ref: LayerRef):
    def build():
        sub = activation_model(model, ref)
        return tf.function(lambda x: sub(x, training=False), input_signature=[compiled.input_spec(model)])
    return compiled.get(model, ("inspect.activations", ref), build)


def layer_activations(loaded_or_model: LoadedModel | keras.Model, images: np.ndarray,
                      layer: str, progress: Progress | None = None) -> np.ndarray:
    """The layer's output ``(N, H', W', C)`` for raw-pixel images (resized to the model's input).

    ``progress(fraction, text)`` (:mod:`core.progress`) hears "Building the sub-model for LAYER" (instant
    once cached), then the computation (whose first call compiles the sub-model)."""
    handle = as_loaded(loaded_or_model)
    model = handle.model
    ref = resolve_layer(model, layer)
    batch = prepare_images(model, images)
    with handle.lock:
        report(progress, 0.0, f"Building the sub-model for {ref.name}")
        fn = _compiled_activations(model, ref)
        report(progress, 0.5, f"Computing the activations of {ref.name} for {len(batch)} image"
                              f"{'s' if len(batch) != 1 else ''}")
        out = np.asarray(fn(tf.constant(batch)), dtype=np.float32)
    report(progress, 1.0, f"Computed the activations of {ref.name}")
    return out


def feature_maps(loaded_or_model: LoadedModel | keras.Model, image: np.ndarray, layer: str,
                 top: int = 16, progress: Progress | None = None) -> FeatureMaps:
    """The ``top`` most active channels of ``layer`` for one image (H x W x 3, raw pixels 0..255).

    ``progress(fraction, text)`` hears the sub-model being built, then the computation."""
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= MAX_TOP:
        raise ParameterError(f"Parameter 'top' must be a whole number from 1 to {MAX_TOP}, got {top!r}.")
    image = np.asarray(image)
    if image.ndim != 3:
        raise ParameterError(f"Parameter 'image' must be one image of shape (H, W, 3), got {image.shape}.")
    model = as_loaded(loaded_or_model).model
    ref = resolve_layer(model, layer)
    h, w = model.inputs[0].shape[1:3]
    if h is not None and w is not None and image.shape[:2] != (h, w):  # the same resize as prediction
        image = resize_for_model(np.clip(image, 0, 255).astype(np.uint8), (h, w))
    acts = layer_activations(loaded_or_model, image[None], ref.name, progress=progress)[0]
    means, maxes = acts.mean(axis=(0, 1)), acts.max(axis=(0, 1))
    order = np.argsort(-means, kind="stable")[: min(int(top), acts.shape[-1])]
    channels = [ChannelStat(int(c), float(means[c]), float(maxes[c])) for c in order]
    maps = np.stack([normalise(acts[:, :, c]) for c in order])
    return FeatureMaps(layer=ref.name, activations=acts, channels=channels, maps=maps.astype(np.float32))


def _colourise(tile: np.ndarray, colormap: str | None) -> np.ndarray:
    grey = np.clip(tile * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if colormap is None:
        return np.repeat(grey[:, :, None], 3, axis=2)
    code = getattr(cv2, f"COLORMAP_{colormap.upper()}", None)
    if code is None:
        raise ParameterError(f"Parameter 'colormap' must be an OpenCV colormap name such as 'viridis', "
                             f"got {colormap!r}.")
    return cv2.cvtColor(cv2.applyColorMap(grey, code), cv2.COLOR_BGR2RGB)


LABEL_FONT, LABEL_SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.38


def grid(maps: np.ndarray | FeatureMaps, cols: int = 4, tile: int = 96, labels: list[str] | None = None,
         colormap: str | None = "viridis", gap: int = 4) -> np.ndarray:
    """Tile maps ``(N, h, w)`` in [0, 1] into one RGB uint8 image, ``cols`` per row.

    Each map is enlarged with nearest-neighbour (a 7x7 map shows its 49 cells) to at most ``tile``
    pixels on its longer side, keeping its aspect. ``labels`` (default for :class:`FeatureMaps`: the
    channel index and mean activation) are written under each tile.
    """
    if isinstance(maps, FeatureMaps):
        labels = maps.labels() if labels is None else labels
        maps = maps.maps
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ParameterError(f"Parameter 'maps' must have shape (N, h, w) with N >= 1, got {maps.shape}.")
    if not isinstance(cols, (int, np.integer)) or cols < 1:
        raise ParameterError(f"Parameter 'cols' must be a whole number >= 1, got {cols!r}.")
    if labels is not None and len(labels) != len(maps):
        raise ParameterError(f"Parameter 'labels' must have one label per map ({len(maps)}), "
                             f"got {len(labels)}.")
    n, h, w = maps.shape
    scale = max(1, tile // max(h, w))  # integer factor: every cell stays a crisp square
    th, tw = h * scale, w * scale
    text_h = 16 if labels is not None else 0
    # Each cell is wide enough for its whole label (a 56-pixel tile cut "#15  -0.12" to "#15  -0.").
    label_w = max((cv2.getTextSize(str(t), LABEL_FONT, LABEL_SCALE, 1)[0][0] + 2 for t in labels), default=0) \
        if labels is not None else 0
    cw = max(tw, label_w)
    cols = min(int(cols), n)
    rows = -(-n // cols)
    out = np.full((rows * (th + text_h + gap) - gap, cols * (cw + gap) - gap, 3), 255, np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        y, x = r * (th + text_h + gap), c * (cw + gap)
        big = cv2.resize(maps[k], (tw, th), interpolation=cv2.INTER_NEAREST)
        out[y : y + th, x : x + tw] = _colourise(big, colormap)
        if labels is not None:
            cv2.putText(out, str(labels[k]), (x + 1, y + th + 12), LABEL_FONT, LABEL_SCALE, (0, 0, 0), 1,
                        cv2.LINE_AA)
    return out
