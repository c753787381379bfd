"""Training speed: feature extraction, head training and stage 2, and the time to a target accuracy.

    .venv/bin/python -m bench.bench_train [--images 1000] [--head-epochs 10] [--stage2-images 128]
                                          [--target 0.9] [--skip-target]

Measured on the built-in shapes dataset with EfficientNet-Lite0 (real ImageNet weights), in one
process, side by side:

- feature extraction as training runs it (decode PNG files, resize, compiled backbone) against the
  backbone's own compiled forward on images already in memory, timed just before and just after
  (their mean), so both see the same load: goal within 1.2x;
- ten head epochs on the stored features of ``--images`` training images: goal well under a minute;
- stage 2 (top 2 blocks unfrozen, light augmentation) in images per second;
- ``train()`` end to end on the default shapes dataset until validation accuracy reaches ``--target``.

Machines are noisy: compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import threading
import time

import core  # noqa: F401 - sets TensorFlow's environment (core/__init__.py) before TensorFlow loads

_TMP = tempfile.mkdtemp(prefix="glasswing-bench-train-")
os.environ.setdefault("GLASSWING_DATA", os.path.join(_TMP, "data"))
os.environ.setdefault("GLASSWING_RUNS", os.path.join(_TMP, "runs"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from core.data.builtin import SPLIT_FRACTIONS, materialise  # noqa: E402
from core.data.dataset import open_dataset  # noqa: E402
from core.train import heads  # noqa: E402
from core.train.config import TrainConfig  # noqa: E402
from core.train.data import Batches  # noqa: E402
from core.train.engine import FEATURE_BATCH, train  # noqa: E402
from core.train.events import Clock, Listener  # noqa: E402
from core.train.features import FeatureExtractor, epoch_batches, extract, plain_batches  # noqa: E402
from core.train.loop import Trainer, fit  # noqa: E402
from core.zoo import load_model  # noqa: E402

MODEL = "efficientnet_lite0"


def compiled_forward(model: keras.Model):
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
    return tf.function(lambda x: model(x, training=False), input_signature=[spec], autograph=False)


def extraction_vs_ceiling(extractor: FeatureExtractor, model: keras.Model, items: list, size: tuple[int, int]
                          ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Features of ``items`` as training extracts them (one input pipeline: PNG decode, resize, compiled
    backbone) against the backbone's own compiled forward on as many images already in memory, timed
    just before and just after (their mean is the ceiling), so that both see the same machine load.
    Returns features, labels, extraction and ceiling seconds."""
    forward = compiled_forward(model)
    in_memory = tf.random.uniform([FEATURE_BATCH, *size, 3], 0, 255)
    forward(in_memory[:1]).numpy()  # trace both outside the timing
    extractor.plain(in_memory[:1]).numpy()

    def ceiling_pass() -> float:
        began = time.perf_counter()
        for i in range(0, len(items), FEATURE_BATCH):
            forward(in_memory[:min(FEATURE_BATCH, len(items) - i)]).numpy()
        return time.perf_counter() - began

    before = ceiling_pass()
    began = time.perf_counter()
    feats, labels = extract(extractor, Batches(items, size, FEATURE_BATCH, cache=False), len(items), 1, Clock(),
                            Listener(), threading.Event())
    extraction = time.perf_counter() - began
    after = ceiling_pass()
    return feats, labels, extraction, (before + after) / 2


class _Target(Listener):
    def __init__(self, target: float) -> None:
        self.target, self.started, self.reached, self.epochs = target, time.monotonic(), None, 0

    def on_epoch(self, event: dict) -> None:
        self.epochs += 1
        if self.reached is None and (event.get("val_accuracy") or 0) >= self.target:
            self.reached = (time.monotonic() - self.started, event["phase"], event["epoch"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000,
                        help="training images for extraction and the head")
    parser.add_argument("--head-epochs", type=int, default=10)
    parser.add_argument("--stage2-images", type=int, default=128)
    parser.add_argument("--target", type=float, default=0.9, help="validation accuracy to reach on shapes")
    parser.add_argument("--skip-target", action="store_true", help="skip the end-to-end time-to-accuracy run")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
          f"data in {_TMP}")

    per_class = math.ceil(args.images / 4 / SPLIT_FRACTIONS[0]) + 1
    root = materialise("shapes", per_class=per_class)
    dataset = open_dataset(root)
    items = dataset.items("train")[: args.images]
    val_items = dataset.items("val")
    loaded = load_model(MODEL)
    size = loaded.input_size
    backbone = heads.fresh_copy(loaded.model)
    features = heads.pooled_features(backbone)
    feature_model = keras.Model(backbone.inputs[0], features)
    rows: list[tuple[str, str]] = []

    extractor = FeatureExtractor(feature_model)
    feats, labels, seconds, ceiling_seconds = extraction_vs_ceiling(extractor, loaded.model, items, size)
    rows.append(("backbone compiled forward (in memory)", f"{len(items) / ceiling_seconds:8.1f} images/s"))
    rows.append((f"feature extraction from PNG files ({len(items)} images)",
                 f"{len(items) / seconds:8.1f} images/s  ({seconds:.1f} s; extraction/forward time = "
                 f"{seconds / ceiling_seconds:.2f}, goal <= 1.2)"))
    stop = threading.Event()
    val_feats, val_labels = extract(extractor, Batches(val_items, size, FEATURE_BATCH, cache=False),
                                    len(val_items), 1, Clock(), Listener(), stop)

    head = heads.build_head(dataset.num_classes, seed=0)
    steps = math.ceil(len(items) / 32)
    trainer = Trainer(heads.head_model(extractor.dim, head), dataset.num_classes, 1e-3,
                      args.head_epochs * steps)
    start = time.perf_counter()
    result = fit(trainer, lambda epoch: epoch_batches(feats, labels, 32, 0, epoch), steps,
                 lambda: plain_batches(val_feats, val_labels), args.head_epochs, 0, "stage1", Clock(),
                 Listener(), stop)
    seconds = time.perf_counter() - start
    rows.append((f"{args.head_epochs} head epochs on {len(items)} images' features",
                 f"{seconds:8.2f} s  ({args.head_epochs * len(items) / seconds:,.0f} samples/s incl. "
                 f"validation and the first trace; val accuracy {result.history['val_accuracy'][-1]:.3f}; "
                 "goal well under 60 s)"))

    full = heads.assemble(backbone, features, head, name="bench")
    head_names = {layer.name for layer in head} | {"probabilities"}
    unfrozen = heads.unfreeze_top(full, head_names, 2, "blocks")
    from core.data.augment import preset

    stage2_items = items[: args.stage2_images]
    pixels = Batches(stage2_items, size, 32, shuffle=True, augment=preset("light"), cache=True)
    stage2_steps = len(pixels)
    trainer = Trainer(heads.logits_of(full), dataset.num_classes, 1e-4, 2 * stage2_steps)
    result = fit(trainer, lambda epoch: pixels, stage2_steps, None, 2, 0, "stage2", Clock(), Listener(), stop)
    epoch_seconds = result.history["seconds"][-1]  # the second epoch: traced, images decoded and cached
    rows.append((f"stage 2, top 2 blocks ({len(unfrozen)} layers), light augmentation",
                 f"{len(stage2_items) / epoch_seconds:8.1f} images/s"))

    if not args.skip_target:
        listener = _Target(args.target)
        config = TrainConfig(data="shapes", model=MODEL, epochs=15, augment=None, early_stopping_patience=0)
        run = train(config, listener=listener)
        reached = listener.reached
        text = (f"{reached[0]:8.1f} s  (stage-1 epoch {reached[2]}, from opening the dataset)" if reached
                else f"not reached in {listener.epochs} epochs (best val accuracy {run.val_accuracy:.3f})")
        rows.append((f"train() on shapes to val accuracy >= {args.target:g}", text))
        rows.append(("  that run's timings", ", ".join(f"{k} {v}" for k, v in run.timings.items())))

    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
