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
from core.i18n import N_

MIN_PER_CLASS = 2  # one image for training and one for validation
FEW_IMAGES = 10  # below this a class gets a warning
IMBALANCE_WARNING = 3.0  # largest / smallest class above this gets a warning
TINY_SIDE = 16  # images smaller than this get a warning


class Finding(str):
    """A warning or problem of the report: the English sentence, which keeps its template and fields.

    It is a ``str`` (printed, compared, written to JSON as the sentence), and the dashboard shows it in
    the session's language as ``_(finding.template).format(**finding.fields)``. The templates are marked
    with :func:`~core.i18n.N_`; a count has a template for one and one for several.
    """

    template: str
    fields: dict[str, Any]

    def __new__(cls, template: str, **fields: Any) -> Finding:
        self = super().__new__(cls, template.format(**fields))
        self.template, self.fields = template, fields
        return self

    def __reduce__(self):  # pickle and deepcopy (dataclasses.asdict) keep the template
        return _finding, (self.template, self.fields)


def _finding(template: str, fields: dict[str, Any]) -> Finding:
    return Finding(template, **fields)


def _count(n: int, one: str, several: str, **fields: Any) -> Finding:
    """The finding for a count ``n``: the template ``one`` when it is 1, else ``several``."""
    return Finding(one if n == 1 else several, n=n, **fields)


def _quoted(label: str) -> str:
    return repr(display_label(label))


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
        errors.append(Finding(N_("No usable images were found (expected one folder per class, e.g. cats/ and "
                                 "dogs/).")))
    elif len(scan.class_names) < 2:
        errors.append(Finding(N_("Only one class ({name}) was found; at least two class folders are needed."),
                              name=_quoted(scan.class_names[0])))
    for name, count in classes.items():
        if count < min_per_class:
            errors.append(_count(count, N_("Class {name} has {n} usable image; at least {needed} are needed."),
                                 N_("Class {name} has {n} usable images; at least {needed} are needed."),
                                 name=_quoted(name), needed=min_per_class))
        elif count < FEW_IMAGES:
            warnings.append(_count(count, N_("Class {name} has only {n} image; results will be unreliable."),
                                   N_("Class {name} has only {n} images; results will be unreliable."),
                                   name=_quoted(name)))
    if scan.layout == "splits":
        if "train" not in splits:
            errors.append(Finding(N_("The dataset has split folders but no train/ folder.")))
        else:
            for name in scan.class_names:
                if splits["train"][name] == 0:
                    errors.append(Finding(N_("Class {name} has no training images."), name=_quoted(name)))

    imbalance: dict[str, Any] = {}
    if len(nonempty) >= 2:
        largest = max(nonempty, key=nonempty.get)
        smallest = min(nonempty, key=nonempty.get)
        ratio = nonempty[largest] / nonempty[smallest]
        total = sum(nonempty.values())
        imbalance = {"ratio": round(ratio, 4), "largest": largest, "smallest": smallest,
                     "fractions": {c: round(n / total, 4) for c, n in classes.items()}}
        if ratio > IMBALANCE_WARNING:
            warnings.append(Finding(N_("Classes are imbalanced: {largest} has {ratio:.1f} times more images than "
                                       "{smallest}; consider class weights."),
                                    largest=_quoted(largest), ratio=ratio, smallest=_quoted(smallest)))
    if duplicates:
        warnings.append(_count(sum(len(g) - 1 for g in duplicates), N_("{n} file exactly duplicates another."),
                               N_("{n} files exactly duplicate another.")))
    if cross:
        warnings.append(_count(len(cross), N_("{n} image appears in more than one split, which inflates validation "
                                              "and test scores."),
                               N_("{n} images appear in more than one split, which inflates validation and "
                                  "test scores.")))
    if conflicts:
        warnings.append(_count(len(conflicts), N_("{n} image appears in more than one class."),
                               N_("{n} images appear in more than one class.")))
    tiny = sum(1 for img in scan.images if min(img.width, img.height) < TINY_SIDE)
    if tiny:
        warnings.append(_count(tiny, N_("{n} image is smaller than {side} pixels on a side."),
                               N_("{n} images are smaller than {side} pixels on a side."), side=TINY_SIDE))

    return DatasetReport(
        dataset_id=scan.dataset_id, root=str(scan.root), layout=scan.layout, class_names=list(scan.class_names),
        classes=classes, splits=splits, image_sizes=SizeStats.from_sizes([(i.width, i.height) for i in scan.images]),
        imbalance=imbalance, duplicates=duplicates, cross_split_duplicates=cross, label_conflicts=conflicts,
        skipped=list(scan.skipped), warnings=warnings, errors=errors, has_masks=scan.masks_dir is not None,
    )
