"""The :class:`Dataset` object and :func:`open_dataset`, the one way to get one.

``open_dataset`` accepts a folder, a zip file or a built-in id ("shapes", "faces", ...). A zip given
on the command line is extracted safely once into ``data_dir()/imports/<id>/`` and reused.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core import config
from core.data.archive import ArchiveLimits, extract_zip
from core.data.report import MIN_PER_CLASS, DatasetReport, build_report
from core.data.scan import ALL, ScanResult, scan_folder
from core.data.splits import Item, class_weights, stratified_split
from core.errors import DataError, unknown_name
from core.progress import Progress


@dataclass
class Dataset:
    """A validated dataset: only images that decoded cleanly are in ``splits``.

    ``splits`` maps "train"/"val"/"test" (or "all" before splitting) to lists of ``(path, label)``.
    """

    id: str
    root: Path
    class_names: list[str]
    splits: dict[str, list[Item]]
    report: DatasetReport
    meta: dict[str, Any] = field(default_factory=dict)
    masks_dir: Path | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_masks(self) -> bool:
        return self.masks_dir is not None

    def items(self, split: str | None = None) -> list[Item]:
        """Items of one split, or of all splits together when ``split`` is None."""
        if split is None:
            return [item for items in self.splits.values() for item in items]
        if split not in self.splits:
            raise unknown_name("split", split, list(self.splits))
        return list(self.splits[split])

    def counts(self, split: str | None = None) -> dict[str, int]:
        counted = Counter(item.label for item in self.items(split))
        return {name: counted.get(i, 0) for i, name in enumerate(self.class_names)}

    def class_weights(self, split: str = "train") -> dict[int, float]:
        return class_weights(self.items(split), self.num_classes)

    def with_splits(self, val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0) -> Dataset:
        """Train/val(/test) splits. An existing ``train/`` + ``val/`` layout is kept as it is; a
        ``train/`` + ``test/`` layout gets its validation images from ``train/``; a pool of class
        folders is split stratified with ``seed``."""
        if "train" in self.splits and ("val" in self.splits or not val_fraction):
            return self
        if "train" in self.splits:
            carved = stratified_split(self.splits["train"], val_fraction, 0.0, seed)
            return replace(self, splits={**self.splits, **carved})
        return replace(self, splits=stratified_split(self.items(ALL), val_fraction, test_fraction, seed))

    def mask_path(self, image: Item | str | os.PathLike) -> Path | None:
        """The ground-truth mask (PNG, 255 = object) saved for ``image``, if the dataset has masks."""
        if self.masks_dir is None:
            return None
        path = Path(image.path if isinstance(image, Item) else image)
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return None
        candidate = (self.masks_dir / rel).with_suffix(".png")
        return candidate if candidate.is_file() else None

    def load_mask(self, image: Item | str | os.PathLike) -> np.ndarray | None:
        """The mask for ``image`` as a boolean ``(H, W)`` array, or None."""
        path = self.mask_path(image)
        if path is None:
            return None
        from core.images import load_image

        rgb = load_image(path, name=f"mask {Path(path).name}")  # the same checks and pixel cap as images
        return rgb @ np.array([0.299, 0.587, 0.114]) >= 128  # PIL's "L" luminance


def dataset_from_scan(scan: ScanResult, report: DatasetReport) -> Dataset:
    index = {name: i for i, name in enumerate(scan.class_names)}
    splits: dict[str, list[Item]] = {name: [] for name in scan.split_names}
    for img in scan.images:
        splits[img.split].append(Item(img.path, index[img.class_name]))
    for name in splits:
        splits[name].sort(key=lambda it: (it.label, str(it.path)))
    return Dataset(id=scan.dataset_id, root=scan.root, class_names=list(scan.class_names), splits=splits,
                   report=report, meta=scan.meta, masks_dir=scan.masks_dir)


def zip_dataset_id(path: str | os.PathLike) -> str:
    """The id of a zipped dataset: ``upload-`` and the start of the archive's SHA-256."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:  # e.g. /proc/self/mem: a "file" that cannot be read
        raise _refused(path, exc) from None
    return f"upload-{digest.hexdigest()[:12]}"


def import_zip(path: str | os.PathLike, limits: ArchiveLimits | None = None) -> Path:
    """Extract a zip once into ``data_dir()/imports/upload-<hash>/`` and return that folder."""
    source = Path(path)
    dataset_id = zip_dataset_id(source)
    dest = config.data_dir() / "imports" / dataset_id
    if not (dest / "dataset.json").is_file():
        try:
            extract_zip(source, dest, limits, metadata={"id": dataset_id, "source": source.name})
        except OSError:
            if not dest.is_dir():  # another process won the race otherwise
                raise
    return dest


def _shown(source: str | os.PathLike) -> str:
    text = str(source)
    return text if len(text) <= 80 else f"{text[:60]}...({len(text)} characters)"


def _refused(source: str | os.PathLike, exc: OSError | RuntimeError) -> DataError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return DataError(f"Cannot open the dataset {_shown(source)} ({reason.rstrip('.')}).")


def probe_source(source: str | os.PathLike) -> tuple[Path, str]:
    """``(path, "dir" | "file" | "none")``; a name the system refuses to look up (too long, "~nobody")
    is one sentence instead of an OSError."""
    try:
        path = Path(source).expanduser()
        return path, "dir" if path.is_dir() else "file" if path.is_file() else "none"
    except (OSError, RuntimeError) as exc:
        raise _refused(source, exc) from None


def resolve_source(source: str | os.PathLike, allow_download: bool = True) -> Path:
    """A folder for ``source``: a folder as is, a zip extracted, a built-in id materialised."""
    from core.data import builtin

    path, kind = probe_source(source)
    if kind == "dir":
        return path
    if kind == "file":
        return import_zip(path)
    if isinstance(source, str) and source in builtin.BUILTINS:
        return builtin.materialise(source, allow_download=allow_download)
    raise DataError(f"No such dataset folder, zip file or built-in dataset: {_shown(source)}. "
                    f"Built-in datasets: {', '.join(builtin.BUILTINS)}.")


def open_dataset(
    source: str | os.PathLike, min_per_class: int = MIN_PER_CLASS, strict: bool = True,
    progress: Progress | None = None,
) -> Dataset:
    """Open, scan and validate a dataset. With ``strict`` (default) an unusable dataset raises
    :class:`DataError` naming its first problem; the full story is in ``inspect_dataset``.
    ``progress(fraction, text)`` hears of the images as they are checked."""
    scan = scan_folder(resolve_source(source), progress=progress)
    report = build_report(scan, min_per_class)
    if strict and report.errors:
        more = f" (and {len(report.errors) - 1} more problems)" if len(report.errors) > 1 else ""
        raise DataError(f"{report.errors[0]}{more}")
    return dataset_from_scan(scan, report)
