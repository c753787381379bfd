"""Built-in sample photos (scikit-image ships them, so they work offline)."""

from __future__ import annotations

import functools

import numpy as np

# name -> (skimage.data function, what the photo shows)
SAMPLES = {
    "cat": ("chelsea", "Chelsea the cat"),
    "coffee": ("coffee", "a cup of coffee"),
    "astronaut": ("astronaut", "astronaut Eileen Collins"),
    "rocket": ("rocket", "a rocket on the launch pad"),
}


def load_sample(name: str) -> np.ndarray:
    """An RGB uint8 photo by sample name (a fresh copy; decoded once per process)."""
    from core.errors import unknown_name

    if name not in SAMPLES:
        raise unknown_name("sample", name, list(SAMPLES))
    return _decoded(name).copy()


@functools.lru_cache(maxsize=len(SAMPLES))
def _decoded(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, SAMPLES[name][0])()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))
