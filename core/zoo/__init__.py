"""The model zoo and model loading: by registered name, by a run folder, or by a ``.keras`` file.

Models are loaded once per process and shared (``load_model`` caches them); shared models are never
trained or mutated. The first load of a zoo model builds it (downloading or converting weights) and
writes a self-contained ``.keras`` file under ``pretrained/`` atomically, so later loads are fast and
offline.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import keras

from core.atomic import atomic_path
from core.errors import GlasswingError
from core.progress import Progress, report
from core.smallfiles import read_small_text
from core.zoo.contract import check_contract
from core.zoo.files import load_keras_file
from core.zoo.loaded import LoadedModel, unnamed_classes
from core.zoo.registry import ModelSpec, get_spec, imagenet_labels, list_models, register_model

# Importing the spec modules registers their models, in the order the pickers list them.
# isort: off
from core.zoo import efficientnet_lite_spec, keras_apps, scratch  # noqa: F401, E402
# isort: on

__all__ = ["LoadedModel", "ModelSpec", "get_spec", "imagenet_labels", "list_models", "load_model",
           "register_model", "resolve_source", "clear_cache", "forget", "RUN_MODEL_FILE", "RUN_META_FILE",
           "MAX_RUN_META_BYTES"]

RUN_MODEL_FILE = "model.keras"
RUN_META_FILE = "run.json"
MAX_RUN_META_BYTES = 16 * 2**20  # a run's metadata with its history: a few hundred kB at most

_cache: dict[str, LoadedModel] = {}
_stamps: dict[str, tuple] = {}  # the model file's (mtime_ns, size) when it was loaded
_cache_lock = threading.Lock()
_build_locks: dict[str, threading.Lock] = {}


def resolve_source(name_or_path: str) -> str:
    """``zoo`` for a registered name, ``run`` for a run folder, ``file`` for a .keras file."""
    try:
        return _resolve_source(name_or_path)
    except OSError as exc:  # a name the system refuses to look up (too long, a file used as a folder)
        shown = name_or_path if len(name_or_path) <= 80 else f"{name_or_path[:60]}...({len(name_or_path)} characters)"
        raise GlasswingError(f"No model {shown!r}: {exc.strerror or exc}; give a model name (python -m core "
                             "models lists them), a run folder or a .keras file.") from None


def _resolve_source(name_or_path: str) -> str:
    path = Path(name_or_path)
    if path.is_dir() and (path / RUN_MODEL_FILE).is_file():
        return "run"
    if path.suffix == ".keras" and path.is_file():
        return "file"
    if path.is_dir():
        raise GlasswingError(f"{name_or_path} is a folder but not a finished run (no {RUN_MODEL_FILE} in it).")
    if path.suffix == ".keras":
        raise GlasswingError(f"No model file {name_or_path}: give an existing .keras file, a run folder or a "
                             "model name (python -m core models lists them).")
    if len(path.parts) > 1 and not path.exists():
        raise GlasswingError(f"No run folder or model file at {name_or_path}.")
    get_spec(name_or_path)  # raises UnknownNameError listing the known names
    return "zoo"


def _class_names_for(model: keras.Model) -> list[str]:
    n = int(model.outputs[0].shape[-1])
    return list(imagenet_labels()) if n == 1000 else unnamed_classes(n)


def _load_zoo(spec: ModelSpec, progress: Progress | None) -> LoadedModel:
    if not spec.pretrained:
        spec.build(progress)  # raises a clear "train it first" error
    path = spec.model_file
    if not path.is_file():
        model = spec.build(progress)
        report(progress, 1.0, f"Saving {spec.title} for next time")
        with atomic_path(path) as tmp:
            model.save(tmp)
    report(progress, 1.0, f"Loading {spec.title}")
    model = load_keras_file(path)
    return LoadedModel(name=spec.name, model=model, input_size=spec.input_size,
                       class_names=list(spec.class_names()), default_cam_layer=spec.default_cam_layer,
                       source=spec.weights_source, path=path)


def _load_run(run_dir: Path) -> LoadedModel:
    meta = _read_run_meta(run_dir)
    model = load_keras_file(run_dir / RUN_MODEL_FILE)
    input_size = check_contract(model, f"Run {run_dir.name}")
    classes = int(model.outputs[0].shape[-1])
    class_names = meta.get("class_names")
    if class_names is None:
        class_names = _class_names_for(model)
    elif (not isinstance(class_names, list) or len(class_names) != classes
          or not all(isinstance(c, str) for c in class_names)):
        raise GlasswingError(f"Run {run_dir.name}: {RUN_META_FILE} lists class_names that do not match the "
                             f"model's {classes} classes (a list of {classes} names is needed).")
    name, cam_layer = meta.get("name"), meta.get("default_cam_layer")  # LoadedModel checks the layer
    return LoadedModel(name=name if isinstance(name, str) and name else run_dir.name, model=model,
                       input_size=input_size, class_names=list(class_names),
                       default_cam_layer=cam_layer if isinstance(cam_layer, str) else None,
                       source=f"fine-tuned run {run_dir}", path=run_dir / RUN_MODEL_FILE)


def _read_run_meta(run_dir: Path) -> dict:
    """The run's ``run.json`` as a mapping ({} when absent); a damaged one is refused in one sentence."""
    path = run_dir / RUN_META_FILE
    if not path.exists():
        return {}
    text = read_small_text(path, MAX_RUN_META_BYTES, f"Run {run_dir.name}")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        meta = None
    if not isinstance(meta, dict):
        raise GlasswingError(f"Run {run_dir.name}: {RUN_META_FILE} is damaged (not a JSON object).")
    return meta


def forget(name_or_path: str | os.PathLike) -> None:
    """Drop one model from the process cache (a deleted run, a replaced file); the next load reads it again."""
    text = str(name_or_path)  # a zoo name or a path that may no longer exist: drop both spellings
    with _cache_lock:
        _cache.pop(text, None)
        _cache.pop(str(Path(text).resolve()), None)


def _load_file(path: Path) -> LoadedModel:
    model = load_keras_file(path)
    return LoadedModel(name=path.stem, model=model, input_size=check_contract(model, path.name),
                       class_names=_class_names_for(model), default_cam_layer=None,
                       source=f"model file {path}", path=path)


def load_model(name_or_path: str, weights: str | None = None, progress: Progress | None = None) -> LoadedModel:
    """Load a zoo model by name, a run folder or a ``.keras`` file; cached per process.

    ``weights`` is an ImageNet weights ``.h5`` file for a keras.applications architecture, used as
    is (not cached, no checksum): for people who keep their own copy of the weights.
    """
    kind = resolve_source(name_or_path)
    if weights is not None:
        return _load_with_weights(name_or_path, Path(weights))
    key = name_or_path if kind == "zoo" else str(Path(name_or_path).resolve())
    # A file written again in place (a variant compressed again) is a new model: the cache holds the
    # file's date and size with the model, and a different one loads it again.
    stamp = () if kind == "zoo" else _file_stamp(Path(key) / RUN_MODEL_FILE if kind == "run" else Path(key))
    with _cache_lock:
        if key in _cache and _stamps.get(key) == stamp:
            return _cache[key]
        build_lock = _build_locks.setdefault(key, threading.Lock())
    with build_lock:  # one build per model even when many sessions ask at once
        with _cache_lock:
            if key in _cache and _stamps.get(key) == stamp:
                return _cache[key]
        if kind == "zoo":
            loaded = _load_zoo(get_spec(name_or_path), progress)
        elif kind == "run":
            loaded = _load_run(Path(name_or_path))
        else:
            loaded = _load_file(Path(name_or_path))
        with _cache_lock:
            _cache[key], _stamps[key] = loaded, stamp
    return loaded


def _file_stamp(path: Path) -> tuple:
    try:
        stat = path.stat()
    except OSError:
        return ()
    return (stat.st_mtime_ns, stat.st_size)


def _load_with_weights(name: str, weights: Path) -> LoadedModel:
    from core.zoo.keras_apps import APPS, build_flat
    apps = {a.name: a for a in APPS}
    if name not in apps:
        raise GlasswingError(f"--weights works with the keras.applications models ({', '.join(apps)}), not {name}.")
    if not weights.is_file():
        raise GlasswingError(f"--weights: no such file {weights}.")
    spec = get_spec(name)
    model = build_flat(apps[name], weights)
    return LoadedModel(name=name, model=model, input_size=spec.input_size, class_names=list(spec.class_names()),
                       default_cam_layer=spec.default_cam_layer, source=f"ImageNet weights from {weights}")


def clear_cache() -> None:
    """Forget loaded models (tests, or freeing memory on a server)."""
    with _cache_lock:
        _cache.clear()
