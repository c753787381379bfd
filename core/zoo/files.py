"""Loading ``.keras`` files safely: size cap, Keras safe mode, no custom code, no Lambda layers.

A ``.keras`` file is a zip holding ``config.json`` (the architecture) and the weights. We read the
config first and refuse anything that would run code on load, then let Keras load it in safe mode.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras

from core.errors import GlasswingError

MAX_MODEL_BYTES = 1024 * 1024 * 1024  # 1 GiB: VGG16 with its head is ~530 MB
MAX_CONFIG_BYTES = 32 * 1024 * 1024  # the architecture as JSON: ResNet50's is well under 1 MB


class ModelFileError(GlasswingError):
    """A model file was refused; the message says why."""


def _walk_layers(config: object, name: str, depth: int = 0):
    """Yield every layer config in a (possibly nested) Keras model config; refuse a malformed one."""
    if depth > 50:
        raise ModelFileError(f"{name}: refused, its config.json nests models more than 50 deep.")
    inner = config.get("config", {}) if isinstance(config, dict) else None
    layers = inner.get("layers", []) if isinstance(inner, dict) else None
    if not isinstance(layers, list):
        raise ModelFileError(f"{name}: its config.json does not describe a Keras model (malformed).")
    for layer in layers:
        if not isinstance(layer, dict):
            raise ModelFileError(f"{name}: its config.json does not describe a Keras model (malformed layer).")
        yield layer
        if isinstance(layer.get("config"), dict) and "layers" in layer["config"]:
            yield from _walk_layers(layer, name, depth + 1)


def check_keras_file(path: str | Path, max_bytes: int = MAX_MODEL_BYTES) -> dict:
    """Validate a ``.keras`` file without loading it; return its model config or raise ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path.name}: no such model file.")
    size = path.stat().st_size
    if size > max_bytes:
        raise ModelFileError(f"{path.name}: {size / 2**20:.0f} MB is larger than the {max_bytes / 2**20:.0f} MB "
                             "limit for model files.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path.name}: not a .keras model file (Keras 3 saves models as a zip archive).")
    try:
        with zipfile.ZipFile(path) as archive:
            # A zip bomb inside the model: judge the sizes it declares before unpacking anything.
            # (Reading past a declared size fails zipfile's CRC check, so declared sizes are binding.)
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > max_bytes:
                raise ModelFileError(
                    f"{path.name}: refused, it unpacks to {unpacked / 2**20:,.0f} MB, more than the "
                    f"{max_bytes / 2**20:.0f} MB limit for model files (a possible zip bomb).")
            if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
                raise ModelFileError(
                    f"{path.name}: refused, its config.json unpacks to more than "
                    f"{MAX_CONFIG_BYTES / 2**20:.0f} MB, far more than any real architecture.")
            config = json.loads(archive.read("config.json"))
    except (KeyError, ValueError, zipfile.BadZipFile, RecursionError, OSError):
        # ValueError: bad JSON, bad UTF-8, a number of 5000 digits; RecursionError: JSON nested too deep
        raise ModelFileError(f"{path.name}: the .keras archive has no readable config.json.") from None
    for layer in _walk_layers(config, path.name):
        cls, module = str(layer.get("class_name", "?")), str(layer.get("module") or "keras")
        if cls == "Lambda":
            raise ModelFileError(f"{path.name}: refused, layer {layer.get('name')!r} is a Lambda layer, which "
                                 "would run arbitrary code when loaded.")
        if not module.startswith("keras") or ">" in str(layer.get("registered_name") or ""):
            raise ModelFileError(f"{path.name}: refused, layer {layer.get('name')!r} uses custom code "
                                 f"({module}.{cls}); only built-in Keras layers are allowed.")
    return config


def load_keras_file(path: str | Path, max_bytes: int = MAX_MODEL_BYTES) -> keras.Model:
    """Load a checked ``.keras`` file in safe mode, without compiling it."""
    check_keras_file(path, max_bytes)
    try:
        return keras.models.load_model(str(path), compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras parsing an untrusted file fails in many ways (AttributeError,
        # IndexError, NotImplementedError, ...); each is this file's fault, not a bug of ours
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ModelFileError(f"{Path(path).name}: Keras could not load this model ({detail}).") from None
