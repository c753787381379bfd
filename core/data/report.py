"""The inspection report of a dataset: what is usable, what was skipped and why, and what looks wrong."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from core.data.files import SkippedFile
from core.data.labels import display_label
from core.data.scan import ScanResult

MIN_PER_CLASS = 2  # one image for training and one for validation
FEW_IMAGES = 10  # below this a class gets a warning
IMBALANCE_WARNING = 3.0  # largest / smallest class above this gets a warning
TINY_SIDE = 16  # images smaller than this get a warning


@dataclass
class SizeStats:
    """Image sizes in pixels (after EXIF rotation), over every usable image."""

    count: int = 0
    min_width: int = 0
    max_width: int = 0
    min_height: int = 0
    max_height: int = 0
    median_width: float = 0.0
    median_height: float = 0.0
    most_common: list[dict[str, int]] = field(default_factory=list)  # [{"width", "height", "count"}]

    @classmethod
    def from_sizes(cls, sizes: list[tuple[int, int]]) -> SizeStats:
        if not sizes:
            return cls()
        widths = [w for w, _ in sizes]
        heights = [h for _, h in sizes]
        common = Counter(sizes).most_common(5)
        return cls(
            count=len(sizes), min_width=min(widths), max_width=max(widths), min_height=min(heights),
            max_height=max(heights), median_width=float(statistics.median(widths)),
            median_height=float(statistics.median(heights)),
            most_common=[{"width": w, "height": h, "count": n} for (w, h), n in common],
        )


@dataclass
class DatasetReport:
    """Everything :func:`core.data.inspect.inspect_dataset` found. ``errors`` non-empty means unusable."""

    dataset_id: str
    root: str
    layout: str  # "class-folders" (one pool, split later) or "splits" (train/ + val/ and/or test/)
    class_names: list[str]
    classes: dict[str, int]  # class -> usable images, all splits together
    splits: dict[str, dict[str, int]]  # split -> class -> usable images
    image_sizes: SizeStats
    imbalance: dict[str, Any]
    duplicates: list[list[str]]  # groups of byte-identical files
    cross_split_duplicates: list[list[str]]  # the groups above that span more than one split
    label_conflicts: list[list[str]]  # the groups above whose copies sit in different classes
    skipped: list[SkippedFile]
    warnings: list[str]
    errors: list[str]
    has_masks: bool = False

    @property
    def usable(self) -> bool:
        return not self.errors

    @property
    def num_images(self) -> int:
        return sum(self.classes.values())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skipped"] = [s.to_dict() for s in self.skipped]
        out["skipped_by_reason"] = dict(Counter(s.code for s in self.skipped))
        out["num_images"] = self.num_images
        out["usable"] = self.usable
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def summary(self) -> str:
        """A few lines for a terminal; labels are shown through :func:`display_label`."""
        lines = [f"Dataset {self.dataset_id} at {self.root} ({self.layout})",
                 f"{self.num_images} usable images in {len(self.classes)} classes:"]
        width = max((len(display_label(c)) for c in self.classes), default=0)
        for name, count in self.classes.items():
            per_split = ", ".join(f"{s} {counts.get(name, 0)}" for s, counts in self.splits.items())
            lines.append(f"  {display_label(name):<{width}}  {count:>6}   ({per_split})")
        s = self.image_sizes
        if s.count:
            lines.append(f"Image sizes: width {s.min_width}-{s.max_width}, height {s.min_height}-{s.max_height}, "
                         f"median {s.median_width:g}x{s.median_height:g}")
        if self.imbalance.get("ratio"):
            lines.append(f"Class imbalance (largest/smallest): {self.imbalance['ratio']:.2f}")
        if self.duplicates:
            lines.append(f"Exact duplicates: {len(self.duplicates)} groups "
                         f"({len(self.cross_split_duplicates)} across splits)")
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} files:")
            for item in self.skipped[:50]:
                lines.append(f"  {item.path}: {item.reason}")
            if len(self.skipped) > 50:
                lines.append(f"  ... and {len(self.skipped) - 50} more (use --json for all)")
        lines += [f"Warning: {w}" for w in self.warnings]
        lines += [f"Problem: {e}" for e in self.errors]
        lines.append("Usable: yes" if self.usable else "Usable: NO")
        return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def build_report(scan: ScanResult, min_per_class: int = MIN_PER_CLASS) -> DatasetReport:
    """Turn a folder scan into counts, statistics, duplicates, warnings and errors."""
    classes = {name: 0 for name in scan.class_names}
    splits: dict[str, dict[str, int]] = {s: {name: 0 for name in scan.class_names} for s in scan.split_names}
    for img in scan.images:
        classes[img.class_name] += 1
        splits[img.split][img.class_name] += 1

    by_hash: dict[str, list] = defaultdict(list)
    for img in scan.images:
        by_hash[img.sha256].append(img)
    groups = [g for g in by_hash.values() if len(g) > 1]
    duplicates = [[img.rel for img in g] for g in groups]
    cross = [[img.rel for img in g] for g in groups if len({img.split for img in g}) > 1]
    conflicts = [[img.rel for img in g] for g in groups if len({img.class_name for img in g}) > 1]

    errors: list[str] = []
    warnings: list[str] = []
    nonempty = {c: n for c, n in classes.items() if n}
    if not scan.images:
        errors.append("No usable images were found (expected one folder per class, e.g. cats/ and dogs/).")
    elif len(scan.class_names) < 2:
        errors.append(f"Only one class ({display_label(scan.class_names[0])!r}) was found; "
                      "at least two class folders are needed.")
    for name, count in classes.items():
        if count < min_per_class:
            errors.append(f"Class {display_label(name)!r} has {_plural(count, 'usable image')}; "
                          f"at least {min_per_class} are needed.")
        elif count < FEW_IMAGES:
            warnings.append(f"Class {display_label(name)!r} has only {_plural(count, 'image')}; "
                            "results will be unreliable.")
    if scan.layout == "splits":
        if "train" not in splits:
            errors.append("The dataset has split folders but no train/ folder.")
        else:
            for name in scan.class_names:
                if splits["train"][name] == 0:
                    errors.append(f"Class {display_label(name)!r} has no training images.")

    imbalance: dict[str, Any] = {}
    if len(nonempty) >= 2:
        largest = max(nonempty, key=nonempty.get)
        smallest = min(nonempty, key=nonempty.get)
        ratio = nonempty[largest] / nonempty[smallest]
        total = sum(nonempty.values())
        imbalance = {"ratio": round(ratio, 4), "largest": largest, "smallest": smallest,
                     "fractions": {c: round(n / total, 4) for c, n in classes.items()}}
        if ratio > IMBALANCE_WARNING:
            warnings.append(f"Classes are imbalanced: {display_label(largest)!r} has {ratio:.1f} times more "
                            f"images than {display_label(smallest)!r}; consider class weights.")
    if duplicates:
        warnings.append(f"{_plural(sum(len(g) - 1 for g in duplicates), 'file')} exactly duplicate another.")
    if cross:
        warnings.append(f"{_plural(len(cross), 'image')} appear in more than one split, which inflates "
                        "validation and test scores.")
    if conflicts:
        warnings.append(f"{_plural(len(conflicts), 'image')} appear in more than one class.")
    tiny = sum(1 for img in scan.images if min(img.width, img.height) < TINY_SIDE)
    if tiny:
        warnings.append(f"{_plural(tiny, 'image')} are smaller than {TINY_SIDE} pixels on a side.")

    return DatasetReport(
        dataset_id=scan.dataset_id, root=str(scan.root), layout=scan.layout, class_names=list(scan.class_names),
        classes=classes, splits=splits, image_sizes=SizeStats.from_sizes([(i.width, i.height) for i in scan.images]),
        imbalance=imbalance, duplicates=duplicates, cross_split_duplicates=cross, label_conflicts=conflicts,
        skipped=list(scan.skipped), warnings=warnings, errors=errors, has_masks=scan.masks_dir is not None,
    )
