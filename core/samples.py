"""Built-in sample photos (scikit-image ships them, so they work offline)."""

from __future__ import annotations

import functools

import numpy as np

from core.i18n import N_

# name -> (skimage.data function, what the photo shows)
SAMPLES = {
    "cat": ("chelsea", N_("Chelsea the cat")),
    "coffee": ("coffee", N_("a cup of coffee")),
    "astronaut": ("astronaut", N_("astronaut Eileen Collins")),
    "rocket": ("rocket", N_("a rocket on the launch pad")),
}
# name -> the name as the dashboard shows it (translated; the name itself stays the CLI's and the files')
TITLES = {"cat": N_("cat"), "coffee": N_("coffee"), "astronaut": N_("astronaut"), "rocket": N_("rocket")}


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
