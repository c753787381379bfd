"""The entry points the CLI and the Evaluate page call: evaluate and baseline, cached per split.

Results are cached in a process-wide :class:`~core.evaluate.cache.ResultCache`, so a page rerun or a
second session asking for the same (model, dataset split) gets the result instantly.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

from core.errors import GlasswingError, ParameterError
from core.evaluate.baseline import BaselineResult, run_baseline
from core.evaluate.cache import ResultCache, items_fingerprint, model_identity
from core.evaluate.classmap import is_run
from core.evaluate.compare import Comparison, compare_results
from core.evaluate.evaluator import DEFAULT_BINS, EvaluationResult, evaluate
from core.evaluate.source import ALL, EvalSplit, same_dataset
from core.i18n import N_
from core.progress import Progress
from core.smallfiles import read_small_text
from core.zoo import MAX_RUN_META_BYTES, RUN_META_FILE, LoadedModel

_CACHE = ResultCache(max_entries=8, max_size=200_000)
SPLIT_SETTINGS = ("val_fraction", "test_fraction", "seed")
RUN_CONFIG_FILE = "config.json"  # core.train.runs.CONFIG_FILE: the run's TrainConfig
MAX_RUN_FILE_BYTES = MAX_RUN_META_BYTES


def default_cache() -> ResultCache:
    """The process-wide cache (shared by every session of a server)."""
    return _CACHE


def _run_files(loaded: LoadedModel) -> list[dict[str, Any]]:
    """The run's ``config.json`` and ``run.json`` (and a ``config`` mapping inside it), when readable."""
    if not is_run(loaded):
        return []
    found = []
    for name in (RUN_CONFIG_FILE, RUN_META_FILE):
        try:
            data = json.loads(read_small_text(loaded.path.parent / name, MAX_RUN_FILE_BYTES, name))
        except (GlasswingError, ValueError, RecursionError):  # absent or damaged: the run's hints are optional
            continue
        if isinstance(data, dict):
            found.append(data)
            if isinstance(data.get("config"), dict):
                found.append(data["config"])
    return found


def run_split_settings(loaded: LoadedModel) -> dict[str, Any]:
    """The split settings a run was trained with (``val_fraction``, ``test_fraction``, ``seed``), so that
    "val" means the run's own held-out images; empty for a model that is not a run."""
    settings: dict[str, Any] = {}
    for scope in _run_files(loaded):
        for key in SPLIT_SETTINGS:
            value = scope.get(key)
            if key not in settings and isinstance(value, (int, float)) and not isinstance(value, bool):
                settings[key] = value
    return settings


def run_dataset(loaded: LoadedModel) -> str | None:
    """The dataset a run was trained on (its config's ``data``), or None."""
    for scope in _run_files(loaded):
        if isinstance(scope.get("data"), str) and scope["data"]:
            return scope["data"]
    return None


def held_out(loaded: LoadedModel, data: str) -> bool:
    """True when ``loaded`` is a run and ``data`` is neither the dataset it was trained on nor a version of
    it (or one it is a version of): then none of ``data``'s images was seen in training. False when it cannot
    be known (a zoo model or a model file)."""
    own = run_dataset(loaded)
    return own is not None and not _shares_images(own, data)


def _shares_images(own: str, data: str) -> bool:
    from core.data.versions import related
    from core.evaluate.source import dataset_folder

    if same_dataset(own, data):
        return True
    a, b = dataset_folder(own), dataset_folder(data)
    return a is not None and b is not None and related(a, b)


def _file_identity(path: str, by_content: bool) -> tuple:
    """Keys under which one image is the same file: its device and inode (a version's hard link to its
    parent's image) and, ``by_content``, the SHA-256 of its bytes (a version copied across file systems)."""
    try:
        stat = os.stat(path)
    except OSError:
        return (("missing", path),)
    keys: tuple = (("inode", stat.st_dev, stat.st_ino),)
    if by_content:
        import hashlib

        with open(path, "rb") as handle:
            keys += (("sha256", hashlib.file_digest(handle, "sha256").hexdigest()),)
    return keys


def evaluate_split(
    loaded: LoadedModel,
    split: EvalSplit,
    batch_size: int = 32,
    n_bins: int = DEFAULT_BINS,
    progress: Progress | None = None,
    cache: ResultCache | None = None,
) -> EvaluationResult:
    """:func:`~core.evaluate.evaluator.evaluate` on one split, reusing a cached result when the model
    file and every image are unchanged. ``progress`` is only called when work is actually done."""
    cache = _CACHE if cache is None else cache
    key = ("evaluate", model_identity(loaded), split.dataset_id, split.split,
           items_fingerprint(split.items, split.class_names), n_bins)
    return cache.get_or_compute(
        key,
        lambda: evaluate(loaded, split.items, split.class_names, batch_size=batch_size,
                         dataset_id=split.dataset_id, split=split.split, n_bins=n_bins, progress=progress),
        size=lambda result: result.num_items,
    )


def baseline_source(loaded: LoadedModel, split: EvalSplit) -> EvalSplit:
    """``split`` with the images a baseline learns from. A held-out dataset scored whole has none of its own:
    then the baseline learns from the run's own training images, as the CNN did (the train split of the run's
    dataset, drawn with the run's settings), when that dataset has the same classes (in any order: its labels
    are renumbered by class name); else ``split`` as it is."""
    own = run_dataset(loaded)
    if split.split != ALL or not split.held_out or own is None:
        return split
    from core.evaluate.source import open_split

    try:
        trained = open_split(own, "train", **run_split_settings(loaded))
    except GlasswingError:
        return split  # the run's dataset is gone or changed: the page says the baseline needs a split
    if sorted(trained.class_names) != sorted(split.class_names):
        return split
    index = {name: i for i, name in enumerate(split.class_names)}
    renumbered = tuple(item._replace(label=index[trained.class_names[item.label]]) for item in trained.items)
    return replace(split, train_items=renumbered, train_source=trained.dataset_id)


def baseline_split(split: EvalSplit, cache: ResultCache | None = None,
                   progress: Progress | None = None) -> BaselineResult:
    """HOG + linear SVM trained on the split's train items and scored on its items, cached."""
    if split.split == "train":
        raise ParameterError("The baseline learns from the train split, so score it on another split "
                             "(val or test).")
    if not split.train_items:
        raise ParameterError("The baseline learns from a train split, and every image of this dataset is "
                             "being scored: choose its val or test split to compare with HOG + linear SVM.")
    cache = _CACHE if cache is None else cache
    key = ("baseline", split.dataset_id, split.split, items_fingerprint(split.items, split.class_names),
           items_fingerprint(split.train_items, split.class_names))
    return cache.get_or_compute(
        key, lambda: run_baseline(split.train_items, split.items, split.class_names, progress=progress),
        size=lambda result: result.test_size,
    )


def seen_in_training(loaded: LoadedModel, data: str, split: EvalSplit) -> set[str]:
    """The paths of ``split`` (of ``data``) that ``loaded`` trained on: a run trained on ``data`` or on a
    dataset that shares its images (a version of it, or one it is a version of); empty otherwise."""
    from core.evaluate.source import open_split

    own = run_dataset(loaded)
    if own is None or not _shares_images(own, data):
        return set()
    by_content = not same_dataset(own, data)  # a version: its images may be copies of the run's
    trained = set()
    for item in open_split(own, "train", **run_split_settings(loaded)).items:
        trained.update(_file_identity(str(item.path), by_content))
    return {str(item.path) for item in split.items
            if any(key in trained for key in _file_identity(str(item.path), by_content))}


def without_seen(models: list[LoadedModel], data: str, split: EvalSplit) -> tuple[EvalSplit, int]:
    """``split`` less the images any of ``models`` trained on, and how many were left out (two runs that split
    a dataset differently, or a run retrained on a corrected version whose split moved an image). Refused in
    one sentence when nothing is left."""
    seen: set[str] = set()
    for model in models:
        seen |= seen_in_training(model, data, split)
    if not seen:
        return split, 0
    kept = tuple(item for item in split.items if str(item.path) not in seen)
    if not kept:
        raise ParameterError.say(N_("Every image of the {split} split was trained on by one of the two models; "
                                    "compare them on a dataset neither trained on."), split=split.split)
    return replace(split, items=kept), len(seen)


def comparison_split(a: LoadedModel, b: LoadedModel, data: str, split: str | None = None) -> tuple[EvalSplit, int]:
    """The images of ``data`` to score both models on, and how many of the split were left out: split as the
    first model trained on ``data`` split it (so its held-out images are scored), all of it when neither
    model is a run trained on it, less any image either model trained on."""
    from core.evaluate.source import open_split

    own = [m for m in (a, b) if run_dataset(m) is not None and not held_out(m, data)]
    whole = not own and held_out(a, data) and held_out(b, data)  # runs that never saw it: all is held out
    chosen = open_split(data, split, held_out=whole, **(run_split_settings(own[0]) if own else {}))
    if chosen.split == "train":  # asked for by name, training images are the person's choice, as in evaluate
        return chosen, 0
    return without_seen(own, data, chosen)  # the first's own too: a version of its data may have moved images


def compare_split(a: LoadedModel, b: LoadedModel, split: EvalSplit, batch_size: int = 32,
                  progress: Progress | None = None, cache: ResultCache | None = None,
                  left_out: int = 0) -> Comparison:
    """Both models on ``split`` (each evaluation cached as :func:`evaluate_split`'s), paired by image;
    ``left_out`` is recorded (images of the split left out because a model trained on them)."""
    def half(start: float, name: str) -> Progress | None:
        if progress is None:
            return None
        return lambda fraction, text: progress(start + fraction / 2, f"{name}: {text}")

    first = evaluate_split(a, split, batch_size, progress=half(0.0, "A"), cache=cache)
    second = evaluate_split(b, split, batch_size, progress=half(0.5, "B"), cache=cache)
    return compare_results(first, second, left_out=left_out)
