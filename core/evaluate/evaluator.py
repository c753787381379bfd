"""Run a classifier over a labelled split and score it.

Images are streamed: one batch is decoded (on a helper thread) while the previous one goes through
the compiled forward pass, so memory holds two batches of pixels however large the split is. Per
item only a few numbers are kept (prediction, confidence, probability and rank of the true class),
which is all the metrics, the drill-down and the exports need.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from core.data.splits import Item
from core.errors import DataError, ImageError, ParameterError
from core.evaluate import metrics
from core.evaluate.classmap import ClassMap, map_classes, restrict
from core.images import load_image, resize_for_model
from core.progress import Progress, report
from core.zoo import LoadedModel

TOP_K = (1, 3, 5)  # reported when smaller than the number of classes (top-1 always)
DEFAULT_BINS = 15



@dataclass
class EvaluationResult:
    """Scores of one model on one split; ``predictions[i]`` is ``{path, true, pred, confidence, prob_true}``
    with class indices into ``class_names`` and probabilities over the dataset's classes."""

    model: str
    dataset_id: str
    split: str
    class_names: list[str]
    confusion: np.ndarray  # (C, C) counts, row = true class
    per_class: metrics.PerClass
    ranks: np.ndarray  # per prediction: classes scored above the true one (0 = correct)
    reliability: metrics.Reliability
    predictions: list[dict]
    class_map: ClassMap
    outside_fraction: float | None = None  # zoo models: share whose overall top class is not a dataset class
    skipped: list[dict] = field(default_factory=list)  # images that could not be read, with the reason
    seconds: float = 0.0

    @property
    def num_items(self) -> int:
        return len(self.predictions)

    @property
    def accuracy(self) -> float:
        return metrics.accuracy(self.confusion)

    def top_k_accuracy(self, k: int) -> float:
        return metrics.top_k_accuracy(self.ranks, k)

    def to_dict(self, include_predictions: bool = True) -> dict:
        num_classes = len(self.class_names)
        out = {
            "model": self.model, "dataset": self.dataset_id, "split": self.split, "num_items": self.num_items,
            "accuracy": self.accuracy,
            "top_k_accuracy": {str(k): self.top_k_accuracy(k) for k in TOP_K if k == 1 or k < num_classes},
            "labels": list(self.class_names),
            "confusion_matrix": self.confusion.tolist(),
            "per_class": [
                {"label": name, "precision": float(self.per_class.precision[i]),
                 "recall": float(self.per_class.recall[i]), "f1": float(self.per_class.f1[i]),
                 "support": int(self.per_class.support[i])}
                for i, name in enumerate(self.class_names)
            ],
            **{f"{kind}_avg": values for kind, values in self.per_class.averages().items()},
            "calibration": self.reliability.to_dict(),
            "class_mapping": {**self.class_map.to_dict(), "outside_fraction": self.outside_fraction},
            "skipped": list(self.skipped),
            "seconds": round(self.seconds, 3),
        }
        if include_predictions:
            out["predictions"] = list(self.predictions)
        return out

    def to_json(self, indent: int | None = 2, include_predictions: bool = True) -> str:
        return json.dumps(self.to_dict(include_predictions), indent=indent, ensure_ascii=False)


def _load_batch(items: Sequence[Item], size: tuple[int, int]) -> tuple[np.ndarray, list[int], list[dict]]:
    """Decode and resize a batch; unreadable files are reported, not fatal."""
    pixels, kept, skipped = [], [], []
    for i, item in enumerate(items):
        try:
            pixels.append(resize_for_model(load_image(item.path), size))
        except ImageError as exc:
            skipped.append({"path": str(item.path), "reason": str(exc)})
            continue
        kept.append(i)
    batch = np.stack(pixels) if pixels else np.zeros((0, *size, 3), np.float32)
    return batch, kept, skipped


def _batches(items: Sequence[Item], size: tuple[int, int], batch_size: int) -> Iterator[tuple]:
    """Yield ``(chunk, pixels, kept, skipped)`` while the next chunk decodes in the background."""
    chunks = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="glasswing-eval-decode") as pool:
        pending = pool.submit(_load_batch, chunks[0], size) if chunks else None
        for index, chunk in enumerate(chunks):
            result = pending.result()
            pending = pool.submit(_load_batch, chunks[index + 1], size) if index + 1 < len(chunks) else None
            yield (chunk, *result)


def evaluate(
    loaded: LoadedModel,
    items: Sequence[Item],
    class_names: Sequence[str],
    batch_size: int = 32,
    dataset_id: str = "",
    split: str = "",
    n_bins: int = DEFAULT_BINS,
    progress: Progress | None = None,
) -> EvaluationResult:
    """Predict every item of a split with ``loaded`` and compute all the scores.

    ``items`` are ``(path, label)`` pairs whose labels index ``class_names``. The model's classes
    are matched to ``class_names`` first (:func:`~core.evaluate.classmap.map_classes`), so a mismatch
    fails before any image is read. ``progress(fraction, text)`` (:mod:`core.progress`) is called after every
    batch, its text saying how many images are scored.
    """
    if batch_size < 1:
        raise ParameterError(f"batch_size must be at least 1, got {batch_size}.")
    class_names = list(class_names)
    num_classes = len(class_names)
    if num_classes < 2:
        raise DataError("Evaluation needs at least two classes.")
    if not items:
        raise DataError(f"The {split or 'chosen'} split has no images to evaluate.")
    bad = [item for item in items if not 0 <= int(item.label) < num_classes]
    if bad:
        raise DataError(f"{bad[0].path}: label {bad[0].label} is not a class index below {num_classes}.")
    class_map = map_classes(loaded, class_names)
    columns = np.asarray(class_map.columns)

    start = time.perf_counter()
    predictions: list[dict] = []
    ranks: list[np.ndarray] = []
    skipped: list[dict] = []
    outside = 0
    done = 0
    for chunk, pixels, kept, bad_files in _batches(list(items), loaded.input_size, batch_size):
        skipped += bad_files
        if kept:
            full = loaded.predict(pixels, batch_size=batch_size)  # holds the model's lock
            probs = restrict(full, class_map)
            if class_map.restricted:
                outside += int((~np.isin(full.argmax(axis=1), columns)).sum())
            labels = np.asarray([int(chunk[i].label) for i in kept], dtype=np.int64)
            pred = probs.argmax(axis=1)
            ranks.append(metrics.true_class_rank(probs, labels))
            for j, i in enumerate(kept):
                predictions.append({
                    "path": str(chunk[i].path), "true": int(labels[j]), "pred": int(pred[j]),
                    "confidence": float(probs[j, pred[j]]), "prob_true": float(probs[j, labels[j]]),
                })
        done += len(chunk)
        report(progress, done / len(items), f"Scoring {done:,} of {len(items):,} images")
    if not predictions:
        raise DataError(f"None of the {len(items)} images of the split could be read "
                        f"(first problem: {skipped[0]['reason']}).")

    y_true = np.fromiter((p["true"] for p in predictions), np.int64, len(predictions))
    y_pred = np.fromiter((p["pred"] for p in predictions), np.int64, len(predictions))
    confidence = np.fromiter((p["confidence"] for p in predictions), np.float64, len(predictions))
    cm = metrics.confusion_matrix(y_true, y_pred, num_classes)
    return EvaluationResult(
        model=loaded.name, dataset_id=dataset_id, split=split, class_names=class_names, confusion=cm,
        per_class=metrics.per_class(y_true, y_pred, num_classes), ranks=np.concatenate(ranks),
        reliability=metrics.reliability(confidence, y_true == y_pred, n_bins), predictions=predictions,
        class_map=class_map, outside_fraction=outside / len(predictions) if class_map.restricted else None,
        skipped=skipped, seconds=time.perf_counter() - start,
    )
