"""Explanation methods: which pixels made a classifier predict what it did.

    from core.explain import explain
    (exp,) = explain(model, pixels[None], "gradcam")   # exp.heatmap: float32 (H, W) in [0, 1]

Methods are registered by name (:func:`list_methods`, :func:`get_method`); each is one small module
over :class:`~core.explain.base.ExplanationMethod`. Their hot paths are compiled with ``tf.function``
once per model and layer and cached (:mod:`core.compiled`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

# Importing the method modules registers them, in the order the dashboard lists them.
# isort: off
from core.explain import gradcam, gradcam_pp, layercam, scorecam  # noqa: F401
from core.explain import saliency, smoothgrad, integrated_gradients  # noqa: F401
from core.explain import hirescam, xgradcam, eigencam, ablationcam  # noqa: F401
from core.explain import rise, occlusion, guided  # noqa: F401
# isort: on
from core.explain.base import Explanation, ExplanationMethod, peak_location
from core.explain.layers import layer_choices
from core.explain.registry import get_method, list_methods, method_names, register_method
from core.explain.targets import ClassTarget, ContrastTarget, Target, TopClass
from core.params import Param
from core.progress import Progress
from core.zoo.loaded import LoadedModel, as_loaded

__all__ = [
    "ClassTarget", "ContrastTarget", "Explanation", "ExplanationMethod", "Param", "Target", "TopClass", "explain",
    "get_method", "layer_choices", "list_methods", "method_names", "peak_location", "register_method",
]


def explain(model: LoadedModel | keras.Model, images: np.ndarray, method: str, layer: str | None = None,
            target: int | Sequence[int] | Target | None = None, progress: Progress | None = None,
            **params: Any) -> list[Explanation]:
    """Explain ``model``'s predictions for ``images`` with ``method``; one :class:`Explanation` each.

    ``model`` is a ``LoadedModel`` or a ``keras.Model`` (raw pixels in, probabilities out), made a
    handle by :func:`core.zoo.loaded.as_loaded`: its lock is held here, its class names label the
    results. ``images`` are float32 raw pixels ``(N, H, W, 3)`` at the model's input size. ``layer`` is
    for CAM methods (default: the handle's ``default_cam_layer``, decided when it was loaded) and
    ignored by the others. ``target`` is a class index, one per image, or a callable on the logits
    (default: each image's top prediction). ``params`` are the method's declared parameters (see
    ``get_method(method).params``). ``progress(fraction, text)`` (:mod:`core.progress`) hears how far a
    slow method (Score-CAM) has got.
    """
    explainer = get_method(method)
    handle = as_loaded(model)
    if layer is None and explainer.uses_layer:
        layer = handle.default_cam_layer
    with handle.lock:
        return explainer.explain(handle.model, images, layer=layer, target=target,
                                 class_names=handle.class_names or None, progress=progress, **params)
