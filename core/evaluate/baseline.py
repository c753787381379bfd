"""A classical baseline to put a CNN's score in perspective: HOG features and a linear SVM.

Every image is converted to grey and resized (whole image, no crop) to a fixed square, described by
its histogram of oriented gradients (scikit-image), standardised, and classified by a linear SVM
(scikit-learn) trained on the train split. If a fine-tuned CNN barely beats this, it has learnt
little more than edges and layout.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from core.data.splits import Item
from core.errors import DataError, ImageError, ParameterError
from core.evaluate import metrics
from core.images import load_image
from core.progress import Progress, report

HOG_SIZE = 64  # pixels per side after resizing
HOG_PARAMS = {"orientations": 9, "pixels_per_cell": (8, 8), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
MAX_TRAIN = 20_000  # training images used at most (a stratified-enough random subset beyond that)


def hog_features(image: np.ndarray, size: int = HOG_SIZE) -> np.ndarray:
    """HOG descriptor (float32) of an RGB uint8 image, in grey at ``size`` x ``size``."""
    from skimage.feature import hog

    grey = Image.fromarray(np.asarray(image, np.uint8)).convert("L").resize(
        (size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return hog(np.asarray(grey, np.float32) / 255.0, feature_vector=True, **HOG_PARAMS).astype(np.float32)


def _features(items: Sequence[Item], size: int, progress: Progress | None = None, done: int = 0,
              total: int = 0) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    rows, labels, skipped = [], [], []
    for i, item in enumerate(items):
        if progress is not None and i % 25 == 0:  # HOG is the slow part; the SVM fit is quick
            report(progress, 0.95 * (done + i) / max(total, 1),
                   f"HOG features of image {done + i + 1:,} of {total:,}")
        try:
            rows.append(hog_features(load_image(item.path), size))
        except ImageError as exc:
            skipped.append({"path": str(item.path), "reason": str(exc)})
            continue
        labels.append(int(item.label))
    if not rows:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), skipped
    return np.stack(rows), np.asarray(labels, np.int64), skipped


@dataclass
class BaselineResult:
    """Accuracy and confusion matrix (row = true class) of HOG + linear SVM on one split."""

    class_names: list[str]
    confusion: np.ndarray
    per_class: metrics.PerClass
    train_size: int
    test_size: int
    method: str
    seconds: float
    skipped: list[dict] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return metrics.accuracy(self.confusion)

    def to_dict(self) -> dict:
        return {
            "method": self.method, "accuracy": self.accuracy, "labels": list(self.class_names),
            "confusion_matrix": self.confusion.tolist(),
            "per_class": [{"label": name, "precision": float(self.per_class.precision[i]),
                           "recall": float(self.per_class.recall[i]), "f1": float(self.per_class.f1[i]),
                           "support": int(self.per_class.support[i])}
                          for i, name in enumerate(self.class_names)],
            "train_size": self.train_size, "test_size": self.test_size, "seconds": round(self.seconds, 3),
            "skipped": list(self.skipped),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def run_baseline(
    train_items: Sequence[Item],
    test_items: Sequence[Item],
    class_names: Sequence[str],
    size: int = HOG_SIZE,
    c: float = 1.0,
    max_train: int = MAX_TRAIN,
    seed: int = 0,
    progress: Progress | None = None,
) -> BaselineResult:
    """Train HOG + standardisation + ``LinearSVC(C=c)`` on ``train_items`` and score ``test_items``.

    ``progress(fraction, text)`` (:mod:`core.progress`) hears of the images as their features are computed.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if size < 16:
        raise ParameterError(f"size must be at least 16 pixels for HOG's 8-pixel cells, got {size}.")
    if not c > 0:
        raise ParameterError(f"c must be above 0, got {c}.")
    if not train_items:
        raise DataError("The baseline needs a train split to learn from, and this dataset has none.")
    start = time.perf_counter()
    train = list(train_items)
    if len(train) > max_train:
        keep = np.random.default_rng(seed).choice(len(train), max_train, replace=False)
        train = [train[i] for i in sorted(keep)]
    total = len(train) + len(test_items)
    x_train, y_train, skipped = _features(train, size, progress, 0, total)
    if len(np.unique(y_train)) < 2:
        raise DataError("The baseline needs training images of at least two classes.")
    x_test, y_test, skipped_test = _features(test_items, size, progress, len(train), total)
    if not len(y_test):
        raise DataError("None of the images to score the baseline on could be read.")
    # dual="auto" picks the primal problem when there are more images than HOG features.
    model = make_pipeline(StandardScaler(), LinearSVC(C=c, dual="auto", max_iter=5000, random_state=seed))
    with warnings.catch_warnings():  # not converging in max_iter still leaves a usable baseline
        warnings.simplefilter("ignore", ConvergenceWarning)
        report(progress, 0.95, f"Fitting the linear SVM on {len(y_train):,} images")
        model.fit(x_train, y_train)
    y_pred = model.predict(x_test)
    cm = metrics.confusion_matrix(y_test, y_pred, len(class_names))
    return BaselineResult(
        class_names=list(class_names), confusion=cm, per_class=metrics.per_class(y_test, y_pred, len(class_names)),
        train_size=len(y_train),
        test_size=len(y_test), method=f"HOG {size}x{size} grey + standardisation + LinearSVC(C={c:g})",
        seconds=time.perf_counter() - start, skipped=skipped + skipped_test,
    )
