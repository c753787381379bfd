"""Datasets: getting images in safely, inspecting them, splitting, augmenting and feeding training.

Modules (one job each):

- :mod:`~core.data.archive`: hostile-proof zip extraction.
- :mod:`~core.data.scan` / :mod:`~core.data.report` / :mod:`~core.data.inspect`: validate every file
  and report classes, sizes, imbalance, duplicates and skipped files with reasons.
- :mod:`~core.data.dataset`: the :class:`Dataset` object and :func:`open_dataset`.
- :mod:`~core.data.splits`: stratified seeded splits and class weights.
- :mod:`~core.data.builtin` (+ :mod:`~core.data.shapes`, :mod:`~core.data.fashion`): offline datasets.
- :mod:`~core.data.uploads` / :mod:`~core.data.sessions`: dashboard uploads per browser session.
- :mod:`~core.data.augment`: the augmentation spec shared by preview and training.
- :mod:`~core.data.pipeline`: the ``tf.data`` pipeline (imports TensorFlow; not re-exported here).
"""

from core.data.augment import PRESETS, AugmentSpec, augment, preset
from core.data.builtin import BUILTINS, materialise
from core.data.dataset import Dataset, open_dataset
from core.data.files import SkippedFile
from core.data.inspect import inspect_dataset
from core.data.report import DatasetReport
from core.data.splits import Item, class_weights, stratified_split

__all__ = [
    "AugmentSpec", "BUILTINS", "Dataset", "DatasetReport", "Item", "PRESETS", "SkippedFile", "augment",
    "class_weights", "inspect_dataset", "materialise", "open_dataset", "preset", "stratified_split",
]
