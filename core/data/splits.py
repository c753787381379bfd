"""Stratified, seeded train/validation/test splits and class weights for imbalanced data."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.errors import ParameterError


class Item(NamedTuple):
    """One labelled image: a path and the index of its class in ``Dataset.class_names``."""

    path: Path
    label: int


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ParameterError(f"{name} must be at least 0 and below 1, got {value:g}.")
    return value


def stratified_split(
    items: Sequence[Item], val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0,
) -> dict[str, list[Item]]:
    """Split every class separately so each split keeps the class proportions.

    The result depends only on the set of items and ``seed`` (not on their order). Every class with
    at least two images gets at least one validation image when ``val_fraction > 0`` (and one test
    image when ``test_fraction > 0`` and it has at least three), and always keeps one for training.
    Returns ``{"train", "val"[, "test"]}`` each sorted by (label, path).
    """
    val_fraction = _check_fraction("val_fraction", val_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise ParameterError(
            f"val_fraction + test_fraction must be below 1, got {val_fraction + test_fraction:g}."
        )
    by_class: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_class[int(item.label)].append(item)
    out: dict[str, list[Item]] = {"train": [], "val": []}
    if test_fraction > 0:
        out["test"] = []
    for label, members in sorted(by_class.items()):
        members = sorted(members, key=lambda it: str(it.path))
        n = len(members)
        # A per-class stream: adding images to one class never reshuffles another.
        order = np.random.default_rng([int(seed) & 0xFFFFFFFF, label]).permutation(n)
        n_test = round(n * test_fraction)
        if test_fraction > 0 and n_test == 0 and n >= 3:
            n_test = 1
        n_val = round(n * val_fraction)
        if val_fraction > 0 and n_val == 0 and n >= 2:
            n_val = 1
        while n_test + n_val >= n and (n_test or n_val):  # keep at least one training image
            if n_test >= n_val and n_test:
                n_test -= 1
            else:
                n_val -= 1
        picked = [members[i] for i in order]
        if test_fraction > 0:
            out["test"] += picked[:n_test]
        out["val"] += picked[n_test:n_test + n_val]
        out["train"] += picked[n_test + n_val:]
    return {name: sorted(split, key=lambda it: (it.label, str(it.path))) for name, split in out.items()}


def class_weights(items: Sequence[Item], num_classes: int) -> dict[int, float]:
    """``n_samples / (n_classes * n_c)`` per class (scikit-learn's "balanced"); absent classes get 0.

    Passed to ``model.fit(class_weight=...)`` these make every class contribute equally to the loss.
    """
    counts = Counter(int(item.label) for item in items)
    present = [c for c in range(num_classes) if counts.get(c)]
    total = sum(counts[c] for c in present)
    return {c: (total / (len(present) * counts[c]) if counts.get(c) else 0.0) for c in range(num_classes)}
