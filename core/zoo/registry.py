"""The model zoo: every model Glasswing offers, registered once by name (like timm's registry).

A :class:`ModelSpec` knows how to build its network with weights (raw pixels in, probabilities
out), its input size, its default CAM layer, its class names and where its weights come from.
Pages and the CLI read the registry; adding a model never touches UI code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import keras

from core import config
from core.progress import Progress
from core.registry import Registry

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


# Filled by the modules that call register_model (efficientnet_lite_spec, keras_apps, scratch), which
# core/zoo/__init__.py imports; create(name) builds the network with its weights (may download).
MODELS: Registry[ModelSpec] = Registry("model", factory=lambda spec, progress=None: spec.build(progress))


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the zoo under ``spec.name`` (twice is a bug)."""
    return MODELS.register(spec.name)(spec)


def get_spec(name: str) -> ModelSpec:
    """The spec registered as ``name``; an unknown name raises an error listing the known ones."""
    return MODELS.get(name)


def list_models(pattern: str = "*", pretrained_only: bool = False) -> list[ModelSpec]:
    """Registered models whose name matches a glob ``pattern``, in registration order."""
    return [s for s in MODELS.entries(pattern) if s.pretrained or not pretrained_only]
