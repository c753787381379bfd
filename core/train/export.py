"""Exporting a run: ``.keras``, TensorFlow SavedModel, and TFLite (float16, int8), each checked for parity.

Every export is loaded back and run on the run's validation images; the report gives the top-1
agreement with the Keras model (1.0 = same predicted class for every image) and the largest
probability difference. int8 quantisation is calibrated on a representative set of the run's own
training images. Inputs and outputs stay float32 in every format: raw pixels 0..255 in,
probabilities out, like the Keras model.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_path
from core.errors import GlasswingError, ParameterError
from core.paths import is_inside
from core.progress import Progress, report
from core.train import runs
from core.train.data import items_from_split

FORMATS = ("keras", "savedmodel", "tflite-float16", "tflite-int8")
EXPORT_DIR = "export"
REPRESENTATIVE_IMAGES = 100  # training images used to calibrate int8
PARITY_IMAGES = 500  # validation images compared at most


@dataclass
class ExportResult:
    format: str
    path: str
    bytes: int
    seconds: float
    count: int  # validation images compared
    top1_agreement: float  # fraction with the same predicted class as the Keras model
    max_abs_diff: float  # largest absolute difference of a probability
    accuracy: float | None = None  # this export's accuracy on those images (their labels)
    keras_accuracy: float | None = None  # the Keras model's accuracy on the same images

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "warning": parity_warning(asdict(self))}


AGREEMENT_WARNING = 0.95  # below this share of unchanged top classes an export is flagged, not captioned


def parity_warning(result: dict[str, Any]) -> str | None:
    """One sentence when an export changes the top class of many images (e.g. a poorly calibrated int8
    model), with its accuracy against the Keras model's; None when it agrees closely."""
    agreement = float(result.get("top1_agreement", 1.0))
    if agreement >= AGREEMENT_WARNING:
        return None
    accuracy, keras_accuracy = result.get("accuracy"), result.get("keras_accuracy")
    scores = (f" Its accuracy on them is {accuracy:.1%}, the Keras model's {keras_accuracy:.1%}."
              if accuracy is not None and keras_accuracy is not None else "")
    return (f"This {result.get('format', 'export')} model changes the top class of {1 - agreement:.0%} of "
            f"{result.get('count', 0)} validation images.{scores} Prefer the float16 or Keras export, or "
            "calibrate int8 on more training images.")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _images(run_dir: Path, split: str, limit: int, size: tuple[int, int], seed: int = 0,
            with_labels: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` images of a split saved in split.json, at the model's size, as uint8 (a quarter
    of the memory of float32; batches are converted as they are used)."""
    from core.data.pipeline import load_for_model

    saved = runs.read_json(run_dir, runs.SPLIT_FILE)
    if not saved:
        raise GlasswingError(f"Run {run_dir.name} has no {runs.SPLIT_FILE}, so there are no images to check "
                             "the export with.")
    items = items_from_split(saved, split)
    if len(items) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(items), limit, replace=False))
        items = [items[i] for i in keep]
    if not items:
        raise GlasswingError(f"Run {run_dir.name} has no {split} images to check the export with.")
    images = np.stack([load_for_model(item.path, size) for item in items])
    return (images, np.array([item.label for item in items])) if with_labels else images


def _savedmodel(model: Any, target: Path) -> None:
    """A SavedModel whose ``serve`` endpoint (also ``serving_default``) maps float32 pixels
    ``(N, H, W, 3)`` to probabilities; written into a hidden folder and renamed into place."""
    import keras
    import tensorflow as tf

    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32, name="pixels")
        archive.add_endpoint("serve", lambda pixels: model(pixels, training=False), input_signature=[spec])
        archive.write_out(str(tmp), verbose=False)
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def tflite_bytes(saved_model: Path, kind: str, representative: np.ndarray | None) -> bytes:
    """The one TFLite converter: ``kind`` is ``tflite-float16``, ``tflite-dynamic`` (int8 weights, float
    activations, no calibration) or ``tflite-int8`` (full-integer kernels calibrated on ``representative``)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "tflite-float16":
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "tflite-dynamic":
        pass  # Optimize.DEFAULT without a representative set: dynamic-range int8 weights
    else:  # full-integer kernels, calibrated on training images; float32 in and out
        samples = representative if representative is not None else np.zeros((0,))
        converter.representative_dataset = lambda: ([samples[i:i + 1].astype(np.float32)]
                                                    for i in range(len(samples)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        return converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises many unrelated types
        raise GlasswingError(f"TFLite conversion ({kind}) failed: {str(exc).splitlines()[0][:300]}") from None


def export_run(run_ref: str | os.PathLike, formats: Sequence[str] = FORMATS,
               out_dir: str | os.PathLike | None = None, parity_images: int = PARITY_IMAGES,
               representative_images: int = REPRESENTATIVE_IMAGES,
               owner: str | None = runs.EVERYONE, root: str | os.PathLike | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
    """Export a complete run in ``formats`` into ``out_dir`` (default ``<run>/export/``), with parity checks.

    ``progress(fraction, text)`` (:mod:`core.progress`) hears of each format's conversion and check.

    Returns ``{"run_dir", "out_dir", "exports": [ExportResult dicts]}``; the report is also written
    to ``export.json`` in ``out_dir``.
    """
    from core.atomic import write_json
    from core.compress.measure import batched, tflite_runner  # the one TFLite runner, shared with the lab
    from core.zoo.contract import check_contract
    from core.zoo.files import load_keras_file

    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ParameterError(f"formats must be some of {', '.join(FORMATS)}, got "
                             f"{', '.join(unknown) or 'none'}.")
    info = runs.get_run(run_ref, owner, root)
    if not info.complete:
        raise GlasswingError(f"Run {info.id} is {info.status}, not complete; only complete runs are "
                             "exported.")
    run_dir = info.path
    out = Path(out_dir) if out_dir is not None else run_dir / EXPORT_DIR
    if out_dir is None and os.path.lexists(out) and not is_inside(out, run_dir):
        raise GlasswingError(f"{out} is a link out of the run's folder; remove it, or export with --out DIR.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"Cannot write the exports to {out} ({exc.strerror or exc}); "
                             "choose a folder.") from None
    report(progress, 0.0, "Loading the run's model and its validation images")
    model = load_keras_file(run_dir / runs.MODEL_FILE)
    size = check_contract(model, f"Run {run_dir.name}")  # the model's own input size, not run.json's word
    images, labels = _images(run_dir, "val", parity_images, size, with_labels=True)
    reference = batched(lambda x: model(x, training=False), images)
    keras_accuracy = float((reference.argmax(1) == labels).mean())
    representative = None
    if "tflite-int8" in formats:
        representative = _images(run_dir, "train", representative_images, size, seed=1)

    results: list[ExportResult] = []

    def record(fmt: str, path: Path, started: float, predicted: np.ndarray) -> None:
        results.append(ExportResult(
            format=fmt, path=str(path), bytes=_size(path), seconds=round(time.monotonic() - started, 3),
            count=len(images), top1_agreement=float((predicted.argmax(1) == reference.argmax(1)).mean()),
            max_abs_diff=float(np.abs(predicted - reference).max()),
            accuracy=float((predicted.argmax(1) == labels).mean()), keras_accuracy=keras_accuracy))

    # TFLite converts from a SavedModel: the exported one, or a temporary one removed at the end.
    keep_saved_model = "savedmodel" in formats
    saved_model = out / "saved_model" if keep_saved_model else out / f".saved_model-{uuid.uuid4().hex[:8]}"
    exported = False  # this call's SavedModel exists (a folder left by an earlier export is not used)
    try:
        for done, fmt in enumerate(formats):
            started = time.monotonic()
            report(progress, (done + 0.1) / len(formats), f"{fmt} ({done + 1} of {len(formats)}): converting, then "
                   f"comparing with the Keras model on {len(images)} validation images")
            if fmt == "keras":
                target = out / "model.keras"
                with atomic_path(target) as tmp:
                    shutil.copyfile(run_dir / runs.MODEL_FILE, tmp)
                reloaded = load_keras_file(target)
                record(fmt, target, started, batched(lambda x, m=reloaded: m(x, training=False), images))
                continue
            if not exported:
                _savedmodel(model, saved_model)
                exported = True
            if fmt == "savedmodel":
                import tensorflow as tf

                loaded = tf.saved_model.load(str(saved_model))
                record(fmt, saved_model, started, batched(lambda x, s=loaded: s.serve(x), images))
                continue
            target = out / f"model-{fmt.split('-')[1]}.tflite"
            content = tflite_bytes(saved_model, fmt, representative)
            with atomic_path(target) as tmp:
                tmp.write_bytes(content)
            record(fmt, target, started, batched(tflite_runner(content), images))
    finally:
        if not keep_saved_model and saved_model.exists():
            shutil.rmtree(saved_model, ignore_errors=True)
    summary = {"run_dir": str(run_dir), "out_dir": str(out), "exports": [r.to_dict() for r in results]}
    write_json(out / "export.json", summary)
    report(progress, 1.0, "Done")
    return summary
