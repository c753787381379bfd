"""The default training recipe against HOG + a linear SVM, setting by setting (issue #17).

    .venv/bin/python -m bench.bench_recipe [--data digits|shapes|faces|FOLDER] [--setting NAME ...]
                                           [--model efficientnet_lite0] [--seeds 0]
    .venv/bin/python -m bench.bench_recipe --lesson [--epochs 5] [--lr 0.002] [--batch 32] [--seeds 0]

Each setting is a full ``train()`` run (as the Train page and ``python -m core train`` run it) on the
same split; it prints validation accuracy, the HOG + linear SVM baseline on the same validation images
(fitted with the first setting only: it depends on the split alone),
seconds, epochs run and whether the backbone features came from the cache. Settings run one after
another. Backbone features are cached across runs (core/train/feature_cache.py) under
``GLASSWING_DATA`` (default here: /tmp/glasswing-bench-recipe), so only the first head-only run of a
dataset pays for them; pass ``--cold`` to time a first run.

``digits`` is 600 real handwritten digits: scikit-learn's ``load_digits`` (8x8), 60 per class,
upscaled to 48 px (bilinear), ten class folders "0".."9". ``shapes`` and ``faces`` are the built-in
datasets (faces: scikit-image's LFW subset, real photos).

``--lesson`` trains the Lesson's recipe (``dashboard.views.lesson_train.lesson_config``: small_cnn from
scratch on shapes-shortcut, 64 px, the lesson's default dataset size) and prints accuracy per class on
validation (circles watermarked) and on the clean test split, so a model that learned only the
watermark shows as such. ``--epochs/--lr/--batch`` override the recipe's numbers to compare candidates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLASSWING_DATA", os.path.join(tempfile.gettempdir(), "glasswing-bench-recipe"))

import core  # noqa: E402,F401 - sets TensorFlow's environment before TensorFlow loads

# What each setting changes; "default" is TrainConfig's defaults as they are now.
OLD = {"epochs": 10, "learning_rate": 1e-3, "early_stopping_patience": 3, "fine_tune_layers": 0}


def _head(lr: float, epochs: int = 100, **more) -> dict:
    """The head until validation stops improving (patience 10), at ``lr``."""
    return {**OLD, "epochs": epochs, "learning_rate": lr, "early_stopping_patience": 10, **more}


def _stage2(blocks: int, epochs: int, lr: float) -> dict:
    """The best head (lr 0.01), then the top ``blocks`` blocks unfrozen for ``epochs`` epochs at ``lr``."""
    return _head(1e-2, fine_tune_layers=blocks, fine_tune_unit="blocks", fine_tune_epochs=epochs,
                 fine_tune_learning_rate=lr)


SETTINGS: dict[str, dict] = {
    "default": {},
    "old-default": OLD,  # the defaults before issue #17 (the Train page's form used the same numbers)
    "head-lr0.01-p10": _head(1e-2),
    "head-lr0.003-p10": _head(3e-3),
    "head-lr0.01-p10-hidden256": _head(1e-2, hidden_units=256),
    "head-lr0.01-60ep-p10": _head(1e-2, 60),
    "head-lr0.01-30ep-p10": _head(1e-2, 30),
    "head-lr0.01-60ep-p10-views3": _head(1e-2, 60, augment={"rotation": 10, "zoom": 0.1}, augment_views=3),
    "stage2-2blocks-5ep": _stage2(2, 5, 1e-4),
    "stage2-2blocks-5ep-lr3e-4": _stage2(2, 5, 3e-4),
    "stage2-2blocks-3ep-lr3e-4": _stage2(2, 3, 3e-4),
    "stage2-4blocks-5ep-lr3e-4": _stage2(4, 5, 3e-4),
}


def digits_folder(root: Path, per_class: int = 60, size: int = 48) -> Path:
    """600 of scikit-learn's handwritten digits as PNG class folders (made once)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = root / f"digits-{per_class}pc-{size}px"
    if (folder / ".done").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    digits = load_digits()
    for label in range(10):
        (folder / str(label)).mkdir(parents=True)
        for k, index in enumerate(np.flatnonzero(digits.target == label)[:per_class]):
            pixels = (digits.images[index] * 255 / 16).astype(np.uint8)
            image = Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR).convert("RGB")
            image.save(folder / str(label) / f"{label}_{k:03d}.png")
    (folder / ".done").write_text("")
    return folder


def dataset(name: str) -> str:
    from core.config import data_dir
    from core.data import builtin

    if name == "digits":
        return str(digits_folder(data_dir() / "bench"))
    if name in builtin.BUILTINS:
        return str(builtin.materialise(name))
    return name


def run(data: str, model: str, setting: str, seed: int, runs_root: Path, baseline: bool) -> dict:
    from core.train.config import TrainConfig
    from core.train.engine import train

    config = TrainConfig(data=data, model=model, seed=seed, baseline=baseline, **SETTINGS[setting])
    began = time.monotonic()
    result = train(config, runs_root=runs_root)
    seconds = time.monotonic() - began
    history, metrics, timings = result.history, result.metrics, result.timings
    baseline = metrics.get("baseline") or {}
    return {
        "setting": setting, "seed": seed, "val": result.val_accuracy,
        "test": (metrics.get("test") or {}).get("accuracy"), "baseline": baseline.get("val_accuracy"),
        "seconds": seconds, "baseline_seconds": baseline.get("seconds", 0.0),
        "stage1_epochs": (history.get("stage1") or {}).get("epochs_run"),
        "stage2_epochs": (history.get("stage2") or {}).get("epochs_run"),
        "stage2_seconds": timings.get("stage2_seconds"),
        "cached": bool(timings.get("features_train_cached")),
    }


def lesson(epochs: int | None, lr: float | None, batch: int | None, patience: int | None, seeds: list[int],
           per_class: int | None = None, augment: str = "none") -> None:
    from core.data import builtin
    from core.train.engine import train
    from dashboard.views import lesson_data as ld
    from dashboard.views.lesson_train import lesson_config

    folder = str(builtin.materialise(ld.DATASET, per_class=per_class or ld.DEFAULT_PER_CLASS))
    print(f"{ld.DATASET}, {per_class or ld.DEFAULT_PER_CLASS} images per class, augmentation {augment}")
    runs_root = Path(tempfile.mkdtemp(prefix="glasswing-bench-lesson-runs-"))
    print("| epochs (run, best) | lr | batch | patience | seed | val | val per class | test (clean) | test per class "
          "| seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    try:
        for seed in seeds:
            changes = {k: v for k, v in (("learning_rate", lr), ("batch_size", batch),
                                         ("early_stopping_patience", patience)) if v is not None}
            config = lesson_config(folder, epochs or ld.DEFAULT_EPOCHS, augment).with_changes(seed=seed, **changes)
            began = time.monotonic()
            result = train(config, runs_root=runs_root)
            metrics, stage1 = result.metrics, result.history["stage1"]
            seconds = time.monotonic() - began

            def per_class(split: str, metrics: dict = metrics) -> str:
                rows = metrics[split]["per_class"]
                return " ".join(f"{name} {row['accuracy']:.0%}" for name, row in rows.items())

            print(f"| {config.epochs} ({stage1['epochs_run']}, {stage1['best_epoch']}) | {config.learning_rate:g} | "
                  f"{config.batch_size} | {config.early_stopping_patience} | {seed} | "
                  f"{metrics['val']['accuracy']:.1%} | {per_class('val')} | {metrics['test']['accuracy']:.1%} | "
                  f"{per_class('test')} | {seconds:.0f} |", flush=True)
    finally:
        shutil.rmtree(runs_root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits", help="digits, a built-in id or a dataset folder")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--setting", action="append", choices=sorted(SETTINGS),
                        help="repeatable (default: old-default and default)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (split, head, shuffling)")
    parser.add_argument("--cold", action="store_true", help="empty the feature cache first")
    parser.add_argument("--lesson", action="store_true", help="the Lesson's recipe instead (see above)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--patience", type=int)
    parser.add_argument("--per-class", type=int, help="lesson dataset size (default: the lesson's)")
    parser.add_argument("--augment", default="none", help="lesson augmentation preset (default none)")
    args = parser.parse_args()
    from core.train import feature_cache

    if args.lesson:
        return lesson(args.epochs, args.lr, args.batch, args.patience, [int(s) for s in args.seeds.split(",")],
                      args.per_class, args.augment)

    if args.cold:
        shutil.rmtree(feature_cache.cache_root(), ignore_errors=True)
    data = dataset(args.data)
    runs_root = Path(tempfile.mkdtemp(prefix="glasswing-bench-recipe-runs-"))
    print(f"data {data}, model {args.model}, GLASSWING_DATA {os.environ['GLASSWING_DATA']}")
    print("| setting | seed | val | test | HOG+SVM val | seconds (of it baseline) | stage-1 epochs | stage-2 "
          "epochs (s) | features cached |")
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for i, setting in enumerate(args.setting or ["old-default", "default"]):
            for seed in (int(s) for s in args.seeds.split(",")):
                # the baseline depends only on the split (the seed): fitted once per seed
                r = run(data, args.model, setting, seed, runs_root, baseline=i == 0)
                test = "-" if r["test"] is None else f"{r['test']:.1%}"
                stage2 = "-" if r["stage2_epochs"] is None else f"{r['stage2_epochs']} ({r['stage2_seconds']:.0f})"
                baseline = "-" if r["baseline"] is None else f"{r['baseline']:.1%}"
                print(f"| {r['setting']} | {r['seed']} | {r['val']:.1%} | {test} | {baseline} | "
                      f"{r['seconds']:.0f} ({r['baseline_seconds']:.0f}) | {r['stage1_epochs']} | {stage2} | "
                      f"{'yes' if r['cached'] else 'no'} |", flush=True)
    finally:
        shutil.rmtree(runs_root, ignore_errors=True)


if __name__ == "__main__":
    main()
