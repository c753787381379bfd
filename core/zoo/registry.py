"""The model zoo: every model Glasswing offers, registered once by name (like timm's registry).

A :class:`ModelSpec` knows how to build its network with weights (raw pixels in, probabilities
out), its input size, its default CAM layer, its class names and where its weights come from.
Pages and the CLI read the registry; adding a model never touches UI code.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import keras

from core import config
from core.errors import unknown_name
from core.zoo.download import Progress

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names (short form), available offline."""
    return tuple(json.loads((RESOURCES / "imagenet_labels.json").read_text()))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    input_size: tuple[int, int]  # (height, width)
    default_cam_layer: str
    weights_source: str  # one sentence: where the weights come from
    # build(progress) -> keras.Model with weights; may download (keras apps) or convert (lite).
    build: Callable[[Progress | None], keras.Model] = field(repr=False)
    # status() -> "cached" | "needs download" | "unavailable" (before conversion to .keras)
    weights_status: Callable[[], str] = field(repr=False)
    class_names: Callable[[], tuple[str, ...]] = field(default=imagenet_labels, repr=False)
    offline: bool = False  # works with no network at all
    pretrained: bool = True  # False for from-scratch architectures (training only)
    description: str = ""

    @property
    def model_file(self) -> Path:
        """Where the converted, self-contained ``.keras`` file lives once built."""
        return config.pretrained_dir() / f"{self.name}.keras"

    def status(self) -> str:
        """``ready`` (a .keras file exists), ``cached``, ``needs download`` or ``unavailable``."""
        if not self.pretrained:
            return "untrained"
        if self.model_file.is_file():
            return "ready"
        return self.weights_status()


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> ModelSpec:
    _ensure_registered()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("model", name, list(_REGISTRY)) from None


def list_models(pattern: str = "*", pretrained_only: bool = False) -> list[ModelSpec]:
    """Registered models whose name matches a glob ``pattern``, in registration order."""
    _ensure_registered()
    return [s for s in _REGISTRY.values()
            if fnmatch.fnmatch(s.name, pattern) and (s.pretrained or not pretrained_only)]


def _ensure_registered() -> None:
    # The modules that call register_model; imported lazily so importing the registry is cheap.
    from core.zoo import efficientnet_lite_spec, keras_apps, scratch  # noqa: F401
