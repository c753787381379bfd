"""The training engine's view of a dataset: open and split it, batch it, and name bad files clearly.

A thin adapter over :mod:`core.data`: :func:`open_training_data` opens and splits a dataset as the
config says and checks every class has training images; :class:`Batches` wraps
:func:`core.data.pipeline.make_tf_dataset` so that an image that fails to decode half-way through
training (changed on disk after the scan) ends the run with one :class:`~core.errors.DataError`
sentence instead of a TensorFlow traceback; :func:`relative_items` and :func:`items_from_split` write
and read the split a run saves (split.json), kept inside the dataset's folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from core.data.dataset import Dataset, open_dataset
from core.data.pipeline import make_tf_dataset
from core.data.splits import Item
from core.errors import DataError
from core.train.config import TrainConfig

_TF_PREFIX = re.compile(r"^\{\{[^}]*\}\}\s*")


def open_training_data(config: TrainConfig) -> Dataset:
    """The dataset with train/val(/test) splits, checked to have what training needs."""
    dataset = open_dataset(config.data).with_splits(config.val_fraction, config.test_fraction, config.seed)
    train, val = dataset.splits.get("train", []), dataset.splits.get("val", [])
    if not train:
        raise DataError(f"Dataset {dataset.id} has no training images.")
    if not val:
        raise DataError(f"Dataset {dataset.id} has no validation images; raise val_fraction or add a val/ "
                        "folder.")
    missing = [dataset.class_names[c] for c in range(dataset.num_classes)
               if not any(item.label == c for item in train)]
    if missing:
        raise DataError(f"Class {missing[0]!r} has no training images.")
    return dataset


def _explain(exc: Exception) -> str:
    """The first line of a TensorFlow error raised inside the input pipeline, without the op prefix."""
    text = _TF_PREFIX.sub("", str(getattr(exc, "message", None) or exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Batches:
    """Re-iterable batches ``(float32 pixels (B, H, W, 3), int32 labels (B,))`` of some items."""

    def __init__(self, items: Sequence[Item], size: tuple[int, int], batch_size: int, shuffle: bool = False,
                 seed: int = 0, augment: Any = None, cache: bool = True) -> None:
        self.items = list(items)
        self.batch_size = int(batch_size)
        self.steps = -(-len(self.items) // self.batch_size)
        self._ds = make_tf_dataset(self.items, size, self.batch_size, shuffle=shuffle, seed=seed,
                                   augment=augment, cache=cache)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        import tensorflow as tf

        try:
            yield from self._ds
        except tf.errors.ResourceExhaustedError:
            raise
        except tf.errors.OpError as exc:
            raise DataError(f"An image could not be used during training: {_explain(exc)} Check the dataset "
                            "(python -m core data inspect) and train again.") from None


def relative_items(items: Sequence[Item], root: Path) -> list[list[Any]]:
    """``[[path relative to root (or absolute), label], ...]`` for split.json."""
    out = []
    for item in items:
        path = Path(item.path)
        try:
            text = path.relative_to(root).as_posix()
        except ValueError:
            text = os.fspath(path)
        out.append([text, int(item.label)])
    return out


def items_from_split(split: dict[str, Any], name: str, root: Path | None = None) -> list[Item]:
    """Items of one split saved in a run's split.json, resolved against its (or a new) dataset root.

    Every file must lie inside that root (relative, no ``..``, no link leading out), so an edited
    split.json cannot make an export or an evaluation read files elsewhere.
    """
    from core.paths import OutsideRootError, file_inside

    try:
        base = Path(root) if root is not None else Path(split["root"])
        entries = split["splits"].get(name, [])
        pairs = [(str(rel), int(label)) for rel, label in entries]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise DataError("split.json is not a split this version of Glasswing wrote (it needs a root and "
                        "splits of [path, label] pairs).") from None
    try:
        return [Item(file_inside(base, rel, "split.json"), label) for rel, label in pairs]
    except OutsideRootError as exc:
        raise DataError(str(exc)) from None
