"""The labelled images to evaluate on: one split of a dataset opened with :func:`core.data.open_dataset`.

A pool of class folders has no splits of its own; it is split here exactly as training splits it
(stratified, seeded), so evaluating a run on "val" sees the images the run did not train on, provided
the same ``val_fraction``, ``test_fraction`` and ``seed`` are used (a run folder records them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.data.dataset import open_dataset
from core.data.splits import Item
from core.errors import DataError, unknown_name


@dataclass(frozen=True)
class EvalSplit:
    """One split's items, the train split beside it (for the baseline) and the class names."""

    dataset_id: str
    split: str
    class_names: tuple[str, ...]
    items: tuple[Item, ...]
    train_items: tuple[Item, ...]  # empty when evaluating the train split itself or none exists


def default_split(available: list[str]) -> str:
    """``test`` when the dataset has one, else ``val``: never the images a model was trained on."""
    for name in ("test", "val"):
        if name in available:
            return name
    return available[0]


def open_split(
    data: str | os.PathLike, split: str | None = None, val_fraction: float = 0.2, test_fraction: float = 0.0,
    seed: int = 0,
) -> EvalSplit:
    """Open ``data`` (folder, zip or built-in id), make train/val(/test) splits and pick ``split``."""
    dataset = open_dataset(data).with_splits(val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    available = [name for name, items in dataset.splits.items() if items]
    if not available:
        raise DataError(f"The dataset {Path(data).name} has no usable images.")
    name = split or default_split(available)
    if name not in dataset.splits:
        raise unknown_name("split", name, available)
    items = dataset.items(name)
    if not items:
        raise DataError(f"The {name} split of dataset {dataset.id} is empty.")
    train = tuple(dataset.items("train")) if name != "train" and "train" in dataset.splits else ()
    return EvalSplit(dataset_id=dataset.id, split=name, class_names=tuple(dataset.class_names),
                     items=tuple(items), train_items=train)
