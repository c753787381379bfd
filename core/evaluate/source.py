"""The labelled images to evaluate on: one split of a dataset opened with :func:`core.data.open_dataset`.

A pool of class folders has no splits of its own; it is split here exactly as training splits it
(stratified, seeded), so evaluating a run on "val" sees the images the run did not train on, provided
the same ``val_fraction``, ``test_fraction`` and ``seed`` are used (a run folder records them).

A dataset the model was not trained on is held out as a whole: its default "split" is :data:`ALL`,
every image of it, since none of them was seen in training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from core import config
from core.data.dataset import open_dataset, zip_dataset_id
from core.data.splits import Item
from core.errors import DataError, unknown_name

ALL = "all"  # every image of the dataset, whatever folder it is in


@dataclass(frozen=True)
class EvalSplit:
    """One split's items, the train split beside it (for the baseline) and the class names."""

    dataset_id: str
    split: str
    class_names: tuple[str, ...]
    items: tuple[Item, ...]
    train_items: tuple[Item, ...]  # empty when evaluating the train split itself or none exists
    dataset_images: int = 0  # images in the whole dataset
    held_out: bool = False  # the model was not trained on any image of this dataset
    settings: dict = field(default_factory=dict, compare=False)  # val_fraction / test_fraction / seed used
    train_source: str | None = None  # where train_items come from when not this dataset (the run's own)

    def describe(self) -> str:
        """Which images are scored, in one sentence (shown on the page and in the CLI's report)."""
        n, total = len(self.items), self.dataset_images or len(self.items)
        if self.split == ALL:
            if self.held_out:
                return (f"all {n} images of {self.dataset_id}: the model was not trained on this dataset, "
                        "so every image is held out")
            return (f"all {n} images of {self.dataset_id}, including any the model was trained on "
                    "(its scores look better than on unseen images)")
        how = ""
        if self.settings:
            how = ", drawn with " + ", ".join(f"{k} {v:g}" for k, v in sorted(self.settings.items()))
        scope = f"the {self.split} split of {self.dataset_id}: {n} of its {total} images{how}"
        if self.held_out:
            return scope + " (the model was not trained on this dataset, so all of it could be scored)"
        if self.split == "train":
            return scope + " (images the model learned from)"
        return scope

    def scope(self) -> dict:
        """The same, for JSON: split, counts, whether the dataset is held out, and the sentence."""
        return {"split": self.split, "num_images": len(self.items), "dataset_images": self.dataset_images,
                "held_out": self.held_out, "description": self.describe()}


def default_split(available: list[str], held_out: bool = False) -> str:
    """Every image of a held-out dataset; else ``test`` when there is one, else ``val``: never the
    images a model was trained on."""
    if held_out:
        return ALL
    for name in ("test", "val"):
        if name in available:
            return name
    return available[0]


def dataset_folder(data: str | os.PathLike) -> Path | None:
    """The folder ``data`` opens as (a folder, an imported zip, a built-in), without creating anything;
    None when it cannot be read."""
    from core.data.builtin import BUILTINS, builtin_root

    path = Path(data).expanduser()
    try:
        if path.is_dir():
            return path.resolve()
        if path.is_file():
            return (config.data_dir() / "imports" / zip_dataset_id(path)).resolve()
    except OSError:
        return None
    if str(data) in BUILTINS:
        return (builtin_root() / str(data)).resolve()
    return path.resolve()  # not there (yet): compared by where it would be


def same_dataset(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same dataset (an id and its folder, a zip and its import)."""
    if str(a) == str(b):
        return True
    folder = dataset_folder(a)
    return folder is not None and folder == dataset_folder(b)


def open_split(
    data: str | os.PathLike, split: str | None = None, val_fraction: float = 0.2, test_fraction: float = 0.0,
    seed: int = 0, held_out: bool = False,
) -> EvalSplit:
    """Open ``data`` (folder, zip or built-in id), make train/val(/test) splits and pick ``split``
    (``"all"``: every image). ``held_out`` says the model never saw this dataset: then the default is
    every image."""
    settings = {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": seed}
    opened = open_dataset(data)
    dataset = opened.with_splits(**settings)
    everything = opened.items()
    available = [name for name, items in dataset.splits.items() if items]
    if not available:
        raise DataError(f"The dataset {Path(data).name} has no usable images.")
    name = split or default_split(available, held_out)
    if name == ALL:
        items, train = everything, []
    else:
        if name not in dataset.splits:
            raise unknown_name("split", name, [*available, ALL])
        items = dataset.items(name)
        train = dataset.items("train") if name != "train" and "train" in dataset.splits else []
    if not items:
        raise DataError(f"The {name} split of dataset {dataset.id} is empty.")
    # The splits drawn here (not read from folders) depend on the settings: say which were used.
    carved = set(dataset.splits) - set(opened.splits) | ({"train"} if "val" not in opened.splits else set())
    return EvalSplit(dataset_id=dataset.id, split=name, class_names=tuple(dataset.class_names),
                     items=tuple(items), train_items=tuple(train), dataset_images=len(everything),
                     held_out=held_out, settings=settings if name in carved else {})
