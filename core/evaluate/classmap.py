"""Which model output column scores each class of a dataset.

A fine-tuned run must have been trained on exactly the dataset's classes (matched by name). A zoo
model predicts the 1000 ImageNet classes, so each class folder must be named after an ImageNet label
(case- and underscore-insensitive, e.g. ``golden_retriever``); evaluation then looks only at those
columns (see :func:`restrict`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.labels import display_label
from core.errors import GlasswingError, ParameterError
from core.zoo import RUN_META_FILE, RUN_MODEL_FILE, LoadedModel
from core.zoo.loaded import unnamed_classes


class ClassMappingError(GlasswingError):
    """The dataset's classes cannot be matched to the model's outputs.

    ``reason`` says which way ("run-classes", "unmatched" or "merged") and ``details`` holds the names
    the sentence quotes, so that the dashboard can say the same in the session's language."""

    def __init__(self, message: str, reason: str = "", **details: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details


@dataclass(frozen=True)
class ClassMap:
    """``columns[k]`` is the model output index for dataset class ``k``."""

    kind: str  # "identity" (same classes, same order), "by-position" (a model that names no classes) or
    # "by-name" (matched by name, maybe a subset)
    columns: tuple[int, ...]

    @property
    def restricted(self) -> bool:
        return self.kind == "by-name"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "model_indices": list(self.columns)}


def is_run(loaded: LoadedModel) -> bool:
    """True for a model loaded from a training run folder (``model.keras`` beside ``run.json``)."""
    path = loaded.path
    return path is not None and path.name == RUN_MODEL_FILE and (path.parent / RUN_META_FILE).is_file()


def _names(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(display_label(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def map_classes(loaded: LoadedModel, class_names: list[str]) -> ClassMap:
    """Match a dataset's class names to ``loaded``'s outputs, or raise :class:`ClassMappingError`."""
    if list(loaded.class_names) == list(class_names):
        return ClassMap("identity", tuple(range(len(class_names))))
    if list(loaded.class_names) == unnamed_classes(len(class_names)):
        # A model file that names no classes, with as many outputs as the dataset has classes: the
        # dataset's class k is output k, as it was when the model was trained on folders in that order.
        return ClassMap("by-position", tuple(range(len(class_names))))
    if is_run(loaded):
        # A run knows its classes by name: the same names in another order are mapped by name.
        if sorted(loaded.class_names) == sorted(class_names) and len(set(class_names)) == len(class_names):
            return ClassMap("by-name", tuple(loaded.class_names.index(n) for n in class_names))
        missing = [n for n in class_names if n not in loaded.class_names]
        extra = [n for n in loaded.class_names if n not in class_names]
        detail = "; ".join(part for part in (
            f"not in the run: {_names(missing)}" if missing else "",
            f"not in the dataset: {_names(extra)}" if extra else "") if part)
        raise ClassMappingError(
            f"Run {loaded.name} was trained on the classes [{_names(loaded.class_names)}] but the dataset has "
            f"[{_names(class_names)}] ({detail}); evaluate a run on a dataset with the same class folders.",
            "run-classes", model=loaded.name, run_classes=list(loaded.class_names), data_classes=list(class_names),
            missing=missing, extra=extra)
    columns: list[int] = []
    unmatched: list[str] = []
    for name in class_names:
        # A folder named "3" is a label, not the output index 3 (class_index would read it as one).
        if name.strip().lstrip("-").isdigit():
            unmatched.append(name)
            continue
        try:
            columns.append(loaded.class_index(name))
        except ParameterError:
            unmatched.append(name)
    if unmatched:
        raise ClassMappingError(
            f"These class folders do not name a class of model {loaded.name}: {_names(unmatched)}. "
            "Rename them after the model's labels (e.g. golden_retriever), or evaluate a run trained on "
            "this dataset.", "unmatched", model=loaded.name, unmatched=unmatched)
    seen: dict[int, str] = {}
    for name, col in zip(class_names, columns, strict=True):
        if col in seen:
            raise ClassMappingError(
                f"The class folders {display_label(seen[col])!r} and {display_label(name)!r} both name the "
                f"model's class {display_label(loaded.label(col))!r}; merge them into one folder.",
                "merged", first=seen[col], second=name, model_class=loaded.label(col))
        seen[col] = name
    return ClassMap("by-name", tuple(columns))


def restrict(probs: np.ndarray, class_map: ClassMap) -> np.ndarray:
    """The probabilities of the dataset's classes only, renormalised to sum to 1 per row.

    This is the usual way to score an ImageNet model on a subset of its classes: the model chooses
    among the classes that can occur. Rows whose mass on those classes underflows to 0 become uniform.
    """
    if not class_map.restricted:
        return probs
    sub = probs[:, list(class_map.columns)].astype(np.float64)
    total = sub.sum(axis=1, keepdims=True)
    uniform = np.full_like(sub, 1.0 / sub.shape[1])
    return np.where(total > 0, sub / np.where(total > 0, total, 1.0), uniform).astype(np.float32)

