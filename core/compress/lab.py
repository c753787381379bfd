"""Compress a run into variants, each measured against the original and written atomically.

Each variant is built in a hidden partial folder ``.NAME.partial-XXXX`` beside its final place and renamed
into ``RUN/variants/NAME`` (or ``OUT/NAME``) with its ``variant.json`` only when it is complete; a failure
or a stop removes the partial folder, and partial folders left by a killed process are ignored by
:func:`list_variants` and swept by the next :func:`compress_run`.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import write_json
from core.compress import measure
from core.compress.distil import PARAMS as DISTIL_PARAMS
from core.compress.variants import KINDS, VariantSpec, parse_variants
from core.errors import GlasswingError, ParameterError
from core.params import validate_params
from core.progress import Progress, report
from core.train import runs
from core.train.loop import StopRequested

VARIANTS_DIR = "variants"
VARIANT_FILE = "variant.json"
ORIGINAL_FILE = "original.json"  # the original's measurements beside its variants
PARTIAL = ".partial-"
EVAL_IMAGES = 500  # test (or val) images scored at most
CAM_IMAGES = 16  # validation images whose Grad-CAM maps are compared
REPRESENTATIVE_IMAGES = 100  # training images calibrating int8-full
TRAIN_IMAGES = 1000  # training images fine-tuning a pruned variant


class _Context:
    """What every variant needs, loaded once: the model, its images, a SavedModel made on first use."""

    def __init__(self, run_dir: Path, model: Any, size: tuple[int, int], scratch: Path,
                 stop_event: threading.Event | None) -> None:
        self.run_dir, self.model, self.size, self._scratch = run_dir, model, size, scratch
        self.model_file = run_dir / runs.MODEL_FILE
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self._saved: Path | None = None
        self._representative: np.ndarray | None = None
        self._train: tuple[np.ndarray, np.ndarray] | None = None

    def train_images(self) -> tuple[np.ndarray, np.ndarray]:
        """Up to TRAIN_IMAGES training images (uint8) and labels, for fine-tuning a pruned variant."""
        from core.train.export import _images

        if self._train is None:
            self._train = _images(self.run_dir, "train", TRAIN_IMAGES, self.size, seed=2, with_labels=True)
        return self._train

    def saved_model(self) -> Path:
        from core.train.export import _savedmodel

        if self._saved is None:
            self._saved = self._scratch / "saved_model"
            _savedmodel(self.model, self._saved)
        return self._saved

    def representative(self) -> np.ndarray:
        from core.train.export import _images

        if self._representative is None:
            self._representative = _images(self.run_dir, "train", REPRESENTATIVE_IMAGES, self.size, seed=1)
        return self._representative


def _cam_images(run_dir: Path, saved: dict, size: tuple[int, int], data: Any) -> tuple[np.ndarray, str]:
    """Up to CAM_IMAGES validation images (test ones when there is no validation split) and that split."""
    from core.data.pipeline import load_for_model
    from core.train.data import items_from_split

    for split in ("val", "test"):
        items = items_from_split(saved, split, Path(data) if data is not None else None)
        if items:
            if len(items) > CAM_IMAGES:
                keep = np.sort(np.random.default_rng(3).choice(len(items), CAM_IMAGES, replace=False))
                items = [items[i] for i in keep]
            return np.stack([load_for_model(item.path, size) for item in items]), split
    raise GlasswingError(f"Run {run_dir.name} has no validation or test images to compare Grad-CAM maps on.")


def _sweep(out: Path) -> None:
    for leftover in out.glob(f".*{PARTIAL}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def read_original(out: str | os.PathLike) -> dict[str, Any] | None:
    """The original's measurements written beside the variants by the last compress, or None."""
    from core.train.runs import read_json

    found = read_json(out, ORIGINAL_FILE)
    return found if isinstance(found, dict) else None


def list_variants(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The finished variants in ``out`` (folders with a variant.json); partial folders are ignored."""
    import json

    found = []
    for folder in sorted(Path(out).glob("*")) if Path(out).is_dir() else []:
        if folder.name.startswith(".") or not (folder / VARIANT_FILE).is_file():
            continue
        found.append(json.loads((folder / VARIANT_FILE).read_text()))
    return found


def _check_stop(stop_event: threading.Event | None) -> None:
    if stop_event is not None and stop_event.is_set():
        raise StopRequested()


def compress_run(run_ref: str | os.PathLike, variants: str | Sequence[str], out_dir: str | os.PathLike | None = None,
                 data: str | os.PathLike | None = None, eval_images: int = EVAL_IMAGES,
                 owner: str | None = runs.EVERYONE, root: str | os.PathLike | None = None,
                 stop_event: threading.Event | None = None, progress: Progress | None = None,
                 distil: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build and measure ``variants`` of a complete run (see :mod:`core.compress.variants` for the specs).

    ``data`` re-roots the run's split.json (the dataset moved). Returns
    ``{"original": {...}, "split": "test"|"val", "variants": [{"name", "format", "path", "size_bytes",
    "compressed_bytes", "latency_ms", "accuracy", "agreement", "sparsity", "cam_agreement", ...}]}``.
    ``distil`` overrides :data:`core.compress.distil.PARAMS` (temperature, alpha, epochs, learning_rate).
    A stop (``stop_event``) raises :class:`~core.train.loop.StopRequested` after removing the partial folder;
    variants finished before it stay.
    """
    from core.compiled import forward
    from core.data.pipeline import load_for_model
    from core.train.data import items_from_split
    from core.zoo.contract import check_contract
    from core.zoo.files import load_keras_file

    specs: list[VariantSpec] = parse_variants(variants)  # every spec checked before any work
    distil_params = validate_params("Distillation", DISTIL_PARAMS, dict(distil or {}))
    info = runs.get_run(run_ref, owner, root)
    if not info.complete:
        raise GlasswingError(f"Run {info.id} is {info.status}, not complete; only complete runs are compressed.")
    run_dir = info.path
    out = Path(out_dir) if out_dir is not None else run_dir / VARIANTS_DIR
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"Cannot write the variants to {out} ({exc.strerror or exc}); choose a folder.") from None
    _sweep(out)

    report(progress, 0.0, "Loading the run's model and its test images")
    model = load_keras_file(run_dir / runs.MODEL_FILE)
    size = check_contract(model, f"Run {run_dir.name}")
    saved = runs.read_json(run_dir, runs.SPLIT_FILE)
    if not saved:
        raise GlasswingError(f"Run {run_dir.name} has no {runs.SPLIT_FILE}, so there are no images to measure with.")
    split = "test"
    items = items_from_split(saved, split, Path(data) if data is not None else None)
    if not items:
        split = "val"
        items = items_from_split(saved, split, Path(data) if data is not None else None)
    if not items:
        raise GlasswingError(f"Run {run_dir.name} has no test or validation images to measure with.")
    if len(items) > eval_images:
        keep = np.sort(np.random.default_rng(0).choice(len(items), eval_images, replace=False))
        items = [items[i] for i in keep]
    images = np.stack([load_for_model(item.path, size) for item in items])
    labels = np.array([item.label for item in items])

    keras_forward = forward(model)
    reference = measure.batched(lambda x: keras_forward(x), images)
    model_file = run_dir / runs.MODEL_FILE
    original = {"name": "original", "format": "keras", "path": str(model_file),
                "size_bytes": measure.size_bytes(model_file), "compressed_bytes": measure.deflated_bytes(model_file),
                "latency_ms": measure.median_latency_ms(lambda x: keras_forward(x), images[0]),
                **measure.scores(reference, labels, reference), "sparsity": None, "cam_agreement": 1.0}

    cam_images, cam_split = _cam_images(run_dir, saved, size, data)
    cam_targets = measure.batched(lambda x: keras_forward(x), cam_images).argmax(1)

    def cam_agreement(built: dict[str, Any]) -> dict[str, Any]:
        cam_model = built["keras"] if "keras" in built else built["cam_model"]() if "cam_model" in built else None
        if cam_model is None:
            return {"cam_agreement": None, "cam_reason": f"{built['format']}: no Keras model to explain"}
        return {"cam_agreement": measure.cam_agreement(model, cam_model, cam_images, cam_targets),
                "cam_reason": built.get("cam_reason", "Grad-CAM of the Keras variant")}

    scratch = out / f".scratch{PARTIAL}{uuid.uuid4().hex[:8]}"
    context = _Context(run_dir, model, size, scratch, stop_event)
    context.distil = distil_params
    results: list[dict[str, Any]] = []
    try:
        scratch.mkdir()
        for done, spec in enumerate(specs):
            _check_stop(stop_event)
            report(progress, (done + 0.05) / len(specs), f"{spec.name} ({done + 1} of {len(specs)}): building")
            target = out / spec.name
            partial = out / f".{spec.name}{PARTIAL}{uuid.uuid4().hex[:8]}"
            partial.mkdir()
            try:
                built = KINDS.get(spec.kind)(context, spec, partial)
                _check_stop(stop_event)
                report(progress, (done + 0.6) / len(specs), f"{spec.name}: measuring on {len(images)} {split} images")
                if "tflite" in built:
                    predict = measure.tflite_runner(built["tflite"])
                elif "keras" in built:
                    predict = forward(built["keras"])
                else:
                    raise GlasswingError(f"Variant {spec.name} has no runtime to measure.")
                probabilities = measure.batched(predict, images)
                final_file = target / built["file"].name
                entry = {"name": spec.name, "format": built["format"], "path": str(final_file),
                         "size_bytes": measure.size_bytes(built["file"]),
                         "compressed_bytes": measure.deflated_bytes(built["file"]),
                         "latency_ms": measure.median_latency_ms(predict, images[0]),
                         **measure.scores(probabilities, labels, reference), "split": split,
                         "sparsity": built.get("sparsity"), **cam_agreement(built), "cam_split": cam_split,
                         **({"params": built["distil"]} if "distil" in built else {})}
                write_json(partial / VARIANT_FILE, entry)
                _check_stop(stop_event)
                if target.exists():  # a variant of the same name from an earlier compress is replaced
                    old = out / f".{spec.name}.old{PARTIAL}{uuid.uuid4().hex[:8]}"
                    os.rename(target, old)
                    shutil.rmtree(old, ignore_errors=True)
                os.rename(partial, target)
                write_json(out / ORIGINAL_FILE, {**original, "split": split})  # the variants' reference, beside them
                results.append(entry)
            finally:
                if partial.exists():
                    shutil.rmtree(partial, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = {"run_dir": str(run_dir), "out_dir": str(out), "split": split, "original": original,
               "variants": results}
    report(progress, 1.0, "Done")
    return summary
