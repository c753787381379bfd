"""Heatmaps drawn over photos: resized to the original image, coloured with an OpenCV colour map.

How a map is shown depends on its method's ``kind`` (:data:`DISPLAYS`): a CAM map is a smooth blob,
blended over the photo in a colour map; a gradient map (saliency, SmoothGrad, Integrated Gradients)
is shown as that field shows it - its absolute value clipped at the 99th percentile, in a sequential
map, on its own - since a few extreme pixels would otherwise leave the rest black. The CLI and every
page draw through :func:`overlay`, so they agree.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import ParameterError
from core.i18n import N_

COLORMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "hot": cv2.COLORMAP_HOT,
    "bone": cv2.COLORMAP_BONE,
    "gray": None,  # greyscale: the level itself
}
_SAFE, _RAINBOW = N_("colour-blind safe"), N_("rainbow, not colour-blind safe")
COLORMAP_NOTES = {"viridis": _SAFE, "inferno": _SAFE, "magma": _SAFE, "plasma": _SAFE, "gray": _SAFE,
                  "jet": _RAINBOW, "turbo": _RAINBOW}


@dataclass(frozen=True)
class Display:
    """How maps of one method kind are drawn by default."""

    colormap: str
    alpha: float  # the map's opacity over the photo (1: the map alone)
    clip_percentile: float | None  # levels above this percentile are shown at the top colour
    note: str  # one sentence for a caption or a colour bar


DISPLAYS = {
    "cam": Display("jet", 0.45, None, N_("Blended over the photo; 0 is the map's lowest value, 1 its highest.")),
    "gradient": Display("inferno", 1.0, 99.0,
                        N_("Absolute gradient, shown alone; 1 is its 99th percentile, and the brighter pixels "
                           "above it are clipped to 1.")),
}


def display_for(method: str | None) -> Display:
    """The :class:`Display` of a registered method (``None``: the CAM display)."""
    if method is None:
        return DISPLAYS["cam"]
    from core.explain.registry import get_method  # here: the registry imports every method module

    return DISPLAYS[get_method(method).kind]


def display_map(heatmap: np.ndarray, method: str | None = None) -> np.ndarray:
    """The levels actually drawn for ``method``'s map: in [0, 1], percentile-clipped for gradient maps."""
    heatmap = _check_heatmap(heatmap)
    pct = display_for(method).clip_percentile
    if pct is not None:
        top = float(np.percentile(heatmap, pct))
        if top > 0:
            heatmap = np.clip(heatmap / top, 0.0, 1.0)
    return heatmap


def _check_heatmap(heatmap: np.ndarray) -> np.ndarray:
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise ParameterError(f"Parameter 'heatmap' must be a 2-D array, got shape {heatmap.shape}.")
    return np.clip(np.nan_to_num(heatmap, nan=0.0), 0.0, 1.0)


def colorize(heatmap: np.ndarray, colormap: str = "jet", size: tuple[int, int] | None = None) -> np.ndarray:
    """``(H, W)`` heatmap in [0, 1] -> ``(H, W, 3)`` uint8 RGB, resized to ``size`` (h, w) if given."""
    if colormap not in COLORMAPS:
        raise ParameterError(f"Parameter 'colormap' must be one of {', '.join(COLORMAPS)}, got {colormap!r}.")
    heatmap = _check_heatmap(heatmap)
    if size is not None and heatmap.shape != tuple(size):
        heatmap = cv2.resize(heatmap, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    levels = np.round(np.clip(heatmap, 0.0, 1.0) * 255.0).astype(np.uint8)
    if COLORMAPS[colormap] is None:
        return np.repeat(levels[..., None], 3, axis=-1)
    return cv2.cvtColor(cv2.applyColorMap(levels, COLORMAPS[colormap]), cv2.COLOR_BGR2RGB)


def colorbar(colormap: str = "jet", width: int = 256, height: int = 14) -> np.ndarray:
    """A horizontal ``(height, width, 3)`` uint8 strip from level 0 (left) to 1 (right)."""
    ramp = np.tile(np.linspace(0.0, 1.0, max(int(width), 2), dtype=np.float32), (max(int(height), 1), 1))
    return colorize(ramp, colormap)


def overlay(image_uint8_rgb: np.ndarray, heatmap: np.ndarray, alpha: float | None = None,
            colormap: str | None = None, method: str | None = None) -> np.ndarray:
    """Blend the coloured ``heatmap`` over the image at the image's own size.

    ``heatmap`` is at model resolution and covers the whole image (models see the whole photo
    resized, no crop), so it is stretched to the image's height and width. ``method`` (a registered
    name) chooses the display of its kind (:data:`DISPLAYS`); ``alpha`` (the heatmap's opacity: 0
    shows the photo only, 1 the heatmap only) and ``colormap`` override that display's defaults.
    """
    display = display_for(method)
    alpha = display.alpha if alpha is None else alpha
    colormap = display.colormap if colormap is None else colormap
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0.0 <= float(alpha) <= 1.0:
        raise ParameterError(f"Parameter 'alpha' must be between 0 and 1, got {alpha!r}.")
    image = np.asarray(image_uint8_rgb)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ParameterError(f"Parameter 'image' must be an (H, W, 3) RGB array, got shape {image.shape}.")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    colored = colorize(display_map(heatmap, method), colormap, size=image.shape[:2])
    return cv2.addWeighted(colored, float(alpha), image, 1.0 - float(alpha), 0.0)


def heatmap_npy(heatmap: np.ndarray) -> bytes:
    """The raw heatmap (float32, model resolution, as the CLI's ``.npy``) as ``.npy`` file bytes."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(heatmap, dtype=np.float32))
    return buf.getvalue()
