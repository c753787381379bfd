"""Heatmaps drawn over photos: resized to the original image, coloured with an OpenCV colour map."""

from __future__ import annotations

import numbers

import cv2
import numpy as np

from core.errors import ParameterError

COLORMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "hot": cv2.COLORMAP_HOT,
    "bone": cv2.COLORMAP_BONE,
}


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
    return cv2.cvtColor(cv2.applyColorMap(levels, COLORMAPS[colormap]), cv2.COLOR_BGR2RGB)


def overlay(image_uint8_rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45,
            colormap: str = "jet") -> np.ndarray:
    """Blend the coloured ``heatmap`` over the image at the image's own size.

    ``heatmap`` is at model resolution and covers the whole image (models see the whole photo
    resized, no crop), so it is stretched to the image's height and width. ``alpha`` is the
    heatmap's opacity: 0 shows the photo only, 1 the heatmap only.
    """
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0.0 <= float(alpha) <= 1.0:
        raise ParameterError(f"Parameter 'alpha' must be between 0 and 1, got {alpha!r}.")
    image = np.asarray(image_uint8_rgb)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ParameterError(f"Parameter 'image' must be an (H, W, 3) RGB array, got shape {image.shape}.")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    colored = colorize(heatmap, colormap, size=image.shape[:2])
    return cv2.addWeighted(colored, float(alpha), image, 1.0 - float(alpha), 0.0)


def heatmap_png(heatmap: np.ndarray, colormap: str = "jet", size: tuple[int, int] | None = None) -> bytes:
    """The coloured heatmap alone as PNG bytes (e.g. for a download button)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(colorize(heatmap, colormap, size), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ParameterError("Parameter 'heatmap' could not be encoded as PNG.")
    return buf.tobytes()
