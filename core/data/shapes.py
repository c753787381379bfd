"""Synthetic shapes with a ground-truth mask per image, and the watermark of the "shortcut" variant.

Each image shows one shape (circle, square, triangle or star) of a random colour, size, rotation and
position on a random background (plain, gradient or smooth blotches). The mask marks the shape's
pixels, so an explanation can be scored against where the evidence really is.

Image ``i`` of class ``c`` depends only on ``(seed, c, i)``: asking for more images adds new ones and
never changes the earlier ones, and the plain and shortcut variants share every shape. Shapes never
touch the watermark corner, so the watermark never hides part of a shape or its mask.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

SHAPE_CLASSES = ("circle", "square", "triangle", "star")
_SUPERSAMPLE = 4  # shapes are drawn this much larger, then reduced, for smooth (antialiased) edges


def watermark_box(size: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` (exclusive ends) of the watermark square in the bottom-right corner."""
    side = max(3, round(size * 0.09))
    pad = max(1, round(size * 0.03))
    return size - pad - side, size - pad - side, size - pad, size - pad


def add_watermark(image: np.ndarray) -> np.ndarray:
    """Stamp the shortcut watermark: a white square with a one-pixel black outline."""
    out = image.copy()
    x0, y0, x1, y1 = watermark_box(image.shape[0])
    out[y0:y1, x0:x1] = 0
    out[y0 + 1:y1 - 1, x0 + 1:x1 - 1] = 255
    return out


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:  # plain
        return np.broadcast_to(rng.uniform(0, 255, 3), (size, size, 3)).astype(np.float64)
    if kind == 1:  # linear gradient in a random direction
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        angle = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
        t = (xx * math.cos(angle) + yy * math.sin(angle))
        t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
        return a + (b - a) * t[..., None]
    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)  # smooth blotches
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), np.float64)


def _polygon(shape: str, cx: float, cy: float, radius: float, angle: float) -> list[tuple[float, float]]:
    if shape == "square":
        corners, radii = 4, [radius]
    elif shape == "triangle":
        corners, radii = 3, [radius]
    else:  # five-pointed star: alternate outer and inner radius
        corners, radii = 10, [radius, radius * 0.45]
    return [
        (cx + radii[k % len(radii)] * math.cos(angle + 2 * math.pi * k / corners),
         cy + radii[k % len(radii)] * math.sin(angle + 2 * math.pi * k / corners))
        for k in range(corners)
    ]


def _luma(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def render_shape(label: int, size: int, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """One image ``(size, size, 3)`` uint8 and its boolean mask ``(size, size)`` for class ``label``."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, label, index])
    background = _background(rng, size)
    # The radius bounds the whole shape; the circle is drawn a little smaller so areas look alike.
    radius = rng.uniform(0.16, 0.34) * size
    wx0, wy0, _, _ = watermark_box(size)
    low, high = radius + 1, size - radius - 1
    for _ in range(100):
        cx, cy = rng.uniform(low, high, 2)
        if cx + radius < wx0 - 1 or cy + radius < wy0 - 1:
            break  # clear of the watermark corner
    angle = rng.uniform(0, 2 * math.pi)
    base = np.asarray(background.mean(axis=(0, 1)))
    colour = rng.uniform(0, 255, 3)
    for _ in range(50):  # a colour that stands out from the background
        if abs(_luma(colour) - _luma(base)) > 60:
            break
        colour = rng.uniform(0, 255, 3)
    else:
        colour = np.full(3, 0.0 if _luma(base) > 127 else 255.0)

    big = size * _SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    s = _SUPERSAMPLE
    name = SHAPE_CLASSES[label]
    if name == "circle":
        r = radius * 0.85 * s
        draw.ellipse([cx * s - r, cy * s - r, cx * s + r, cy * s + r], fill=255)
    else:
        draw.polygon(_polygon(name, cx * s, cy * s, radius * s, angle), fill=255)
    alpha = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), np.float64) / 255.0
    image = background * (1 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), alpha >= 0.5
