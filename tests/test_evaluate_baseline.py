"""The HOG + linear SVM baseline on a tiny generated dataset of stripes (no TensorFlow needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import DataError, ParameterError

ORIENTATIONS = {"horizontal": (0.0, 1.0), "vertical": (1.0, 0.0), "diagonal": (1.0, 1.0)}


def _stripes(direction: tuple[float, float], rng: np.random.Generator, side: int = 40) -> np.ndarray:
    """Stripes of a random period, phase and pair of colours, with a little noise."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    period = rng.uniform(5, 10)
    wave = np.sin(2 * np.pi * (direction[0] * xx + direction[1] * yy) / period + rng.uniform(0, 2 * np.pi)) > 0
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    while np.abs(a - b).sum() < 150:
        b = rng.uniform(0, 255, 3)
    image = np.where(wave[..., None], a, b) + rng.normal(0, 12, (side, side, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def stripes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stripes")
    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 8)):
        for name, direction in ORIENTATIONS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(_stripes(direction, rng)).save(folder / f"{i}.png")
    return root


def test_hog_features_have_the_expected_length():
    from core.evaluate.baseline import hog_features

    image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    features = hog_features(image)
    assert features.shape == (7 * 7 * 2 * 2 * 9,) and features.dtype == np.float32  # 64 px, 8 px cells
    assert np.isfinite(features).all()


def test_baseline_beats_chance_on_the_test_split(stripes):
    from core.evaluate import ResultCache, baseline_split, open_split

    split = open_split(stripes, "test")
    cache = ResultCache()
    result = baseline_split(split, cache=cache)
    # val is carved out of train/ (as training does), so the baseline learns from the same 30 images.
    assert result.train_size == len(split.train_items) == 30 and result.test_size == 24
    assert result.confusion.sum() == 24 and result.confusion.sum(axis=1).tolist() == [8, 8, 8]
    assert result.accuracy > 0.6  # chance is 1/3
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / 24)
    report = json.loads(result.to_json())
    assert {"accuracy", "labels", "confusion_matrix", "per_class", "method"} <= report.keys()
    assert report["labels"] == ["diagonal", "horizontal", "vertical"]
    assert baseline_split(split, cache=cache) is result  # cached


def test_baseline_needs_a_train_split_and_sane_parameters(stripes):
    from core.evaluate import baseline_split, open_split, run_baseline

    split = open_split(stripes, "test")
    with pytest.raises(DataError, match="train"):
        run_baseline([], split.items, split.class_names)
    with pytest.raises(ParameterError, match="size"):
        run_baseline(split.train_items, split.items, split.class_names, size=8)
    with pytest.raises(ParameterError, match="train split"):
        baseline_split(open_split(stripes, "train"))


def test_the_baseline_reports_its_progress(tmp_path):
    """Every image's HOG features are announced, in order, and the fraction only grows to the SVM fit."""
    from core.data.splits import Item
    from core.evaluate.baseline import run_baseline

    rng = np.random.default_rng(3)
    items = []
    for i in range(60):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        items.append(Item(path=path, label=i % 2))
    heard = []
    run_baseline(items[:40], items[40:], ["a", "b"], progress=lambda f, t: heard.append((f, t)))
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1
    assert heard[0][1] == "HOG features of image 1 of 60" and heard[-1][1].startswith("Fitting the linear SVM")
    assert [t for _, t in heard if t.startswith("HOG")][-1] == "HOG features of image 41 of 60"  # every 25th
