"""Which backbone features should the head read? Feature layouts scored by one cross-validation (issue #17).

    .venv/bin/python -m bench.bench_recipe_features [--data digits|shapes|faces|FOLDER]
                                                    [--model efficientnet_lite0] [--folds 5] [--c 0.1]

The backbone runs once over every image (one forward pass of a sub-model with several outputs); each
layout below is a different weightless pooling of those outputs. Every layout, and HOG + linear SVM
(core/evaluate/baseline.py's features and classifier), is scored by the same stratified K-fold split
(seed 0) with standardisation + logistic regression (C ``--c``). Prints mean accuracy, each fold's,
and in how many folds the layout beats (ties with) HOG + SVM. The backbone's maps are saved beside the
dataset, so a second run only re-scores.

Layouts (EfficientNet-Lite names; ``--spatial`` / ``--top`` name other layers):
  top-gap         the top layer (``top_activation``) globally average-pooled: the head's input before issue #17
  top-3x3         the top layer average-pooled to a 3x3 grid, flattened
  block5-2x2      block 5's last add (``block5c_add``) average-pooled to 2x2: the head's input now
  block5-2x2+gap  block5-2x2 concatenated with top-gap (no extra forward pass)

``digits`` is bench/bench_recipe.py's 600 handwritten digits (48 px, 60 per class).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("GLASSWING_DATA", os.path.join(tempfile.gettempdir(), "glasswing-bench-recipe"))

import core  # noqa: E402,F401 - sets TensorFlow's environment before TensorFlow loads


def _items(folder: str):
    from core.data.splits import Item

    root = Path(folder)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = [Item(path, label) for label, name in enumerate(classes)
             for path in sorted((root / name).iterdir()) if path.suffix.lower() in (".png", ".jpg", ".jpeg")]
    return items, classes


def _grid_pool(maps, cells: int):
    """Average-pool ``(N, H, W, C)`` maps to a ``cells`` x ``cells`` grid (adaptive bins), flattened."""
    import numpy as np

    n, h, w, c = maps.shape
    rows = np.array_split(np.arange(h), cells)
    cols = np.array_split(np.arange(w), cells)
    out = [maps[:, r[0]:r[-1] + 1, q[0]:q[-1] + 1].mean(axis=(1, 2)) for r in rows for q in cols]
    return np.concatenate(out, axis=1)


def backbone_maps(model_name: str, items, spatial: str, top: str, batch: int = 32):
    """The two layers' maps for every image, from one compiled forward pass of a two-output sub-model."""
    import keras
    import numpy as np
    import tensorflow as tf

    from core.train.data import Batches
    from core.zoo import load_model

    loaded = load_model(model_name)
    model = loaded.model
    sub = keras.Model(model.inputs[0], [model.get_layer(spatial).output, model.get_layer(top).output])
    forward = tf.function(lambda x: sub(x, training=False))
    mid, high, labels = [], [], []
    for x, y in Batches(items, tuple(loaded.input_size), batch):
        a, b = forward(tf.cast(x, tf.float32))
        mid.append(a.numpy())
        high.append(b.numpy())
        labels.append(np.asarray(y))
    return np.concatenate(mid), np.concatenate(high), np.concatenate(labels)


def layouts(mid, high) -> dict:
    import numpy as np

    gap = high.mean(axis=(1, 2))
    block = _grid_pool(mid, 2)
    return {"top-gap": gap, "top-3x3": _grid_pool(high, 3), "block5-2x2": block,
            "block5-2x2+gap": np.concatenate([block, gap], axis=1)}


def score(features, labels, folds, c: float, svm: bool = False):
    """Accuracy per fold of standardisation + logistic regression (or the baseline's LinearSVC)."""
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    accuracies = []
    for train, test in folds:
        classifier = (LinearSVC(C=1.0, dual="auto", max_iter=5000, random_state=0) if svm
                      else LogisticRegression(C=c, max_iter=2000))
        model = make_pipeline(StandardScaler(), classifier)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(features[train], labels[train])
        accuracies.append(float(np.mean(model.predict(features[test]) == labels[test])))
    return np.array(accuracies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits", help="digits, a built-in id or a dataset folder")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--spatial", default="block5c_add", help="the mid-level layer (2x2 grid)")
    parser.add_argument("--top", default="top_activation", help="the top spatial layer")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--c", type=float, default=0.1, help="logistic regression's C")
    args = parser.parse_args()
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from bench.bench_recipe import dataset
    from core.evaluate.baseline import hog_features
    from core.images import load_image

    folder = dataset(args.data)
    items, classes = _items(folder)
    # the maps are kept beside the dataset, so re-scoring (other folds, C) skips the forward pass
    saved = Path(folder).with_name(f"{Path(folder).name}-{args.model}-{args.spatial}-{args.top}.npz")
    began = time.monotonic()
    if saved.is_file():
        with np.load(saved) as data:
            mid, high, labels = data["mid"], data["high"], data["labels"]
    else:
        mid, high, labels = backbone_maps(args.model, items, args.spatial, args.top)
        np.savez(saved, mid=mid, high=high, labels=labels)
    forward_seconds = time.monotonic() - began
    began = time.monotonic()
    hog = np.stack([hog_features(load_image(item.path)) for item in items])
    hog_seconds = time.monotonic() - began
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(hog, labels))
    print(f"data {folder}: {len(items)} images, {len(classes)} classes; model {args.model}; "
          f"{args.spatial} {mid.shape[1:]}, {args.top} {high.shape[1:]}; forward {forward_seconds:.0f} s, "
          f"HOG {hog_seconds:.0f} s; {args.folds} stratified folds, logistic regression C {args.c:g}")
    reference = score(hog, labels, folds, args.c, svm=True)
    print("| features | dimensions | mean accuracy | per fold | folds above (tied with) HOG + SVM |")
    print("|---|---|---|---|---|")
    print(f"| HOG + linear SVM (the baseline) | {hog.shape[1]} | {reference.mean():.1%} | "
          f"{' '.join(f'{a:.1%}' for a in reference)} | - |")
    for name, features in layouts(mid, high).items():
        found = score(features, labels, folds, args.c)
        print(f"| {name} + logistic regression | {features.shape[1]} | {found.mean():.1%} | "
              f"{' '.join(f'{a:.1%}' for a in found)} | {int(np.sum(found > reference))} "
              f"({int(np.sum(found == reference))}) of {args.folds} |",
              flush=True)


if __name__ == "__main__":
    main()
