"""Training speed: feature extraction, head training and stage 2, the hand-written loop against Keras fit
(speed and memory), and the time to a target accuracy.

    .venv/bin/python -m bench.bench_train [--images 1000] [--head-epochs 10] [--stage2-images 128]
                                          [--trainings 30] [--target 0.9] [--skip-target]

Measured on the built-in shapes dataset with EfficientNet-Lite0 (real ImageNet weights), in one
run, side by side:

- the hand-written loop and Adam of ``core.train.loop`` ("old loop") against the same training on
  ``model.fit`` with ``keras.optimizers.Adam`` (``bench/fit_loop.py``, "fit"): images/s of a head on
  stored features and of a frozen-backbone stage (images through Lite0 every step), rounds
  interleaved, medians; and the resident memory (RSS) over ``--trainings`` head trainings and a third
  as many small_cnn trainings in one process, each variant in a fresh child process, after warm-up;

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
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import core  # noqa: F401 - sets TensorFlow's environment (core/__init__.py) before TensorFlow loads

_TMP = tempfile.mkdtemp(prefix="glasswing-bench-train-")
os.environ.setdefault("GLASSWING_DATA", os.path.join(_TMP, "data"))
os.environ.setdefault("GLASSWING_RUNS", os.path.join(_TMP, "runs"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from core import compiled  # noqa: E402
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
REPO = Path(__file__).resolve().parent.parent


def loops() -> dict:
    """The hand-written loop training uses (core.train.loop) and the Keras-fit one it was measured
    against (bench/fit_loop.py), under the names the figures use."""
    import bench.fit_loop as fit_loop
    import core.train.loop as hand_written

    return {"old loop": hand_written, "fit": fit_loop}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def train_head(loop, feats: np.ndarray, labels: np.ndarray, val: tuple, epochs: int, seed: int = 0):
    """One stage-1 training of a new head on stored features, as the engine's fast path runs it."""
    classes = int(labels.max()) + 1
    head = heads.build_head(classes, seed=seed)
    steps = math.ceil(len(labels) / 32)
    trainer = loop.Trainer(heads.head_model(feats.shape[-1], head), classes, 1e-3, epochs * steps)
    return loop.fit(trainer, lambda epoch: epoch_batches(feats[None], labels, 32, seed, epoch), steps,
                    lambda: plain_batches(val[0][None], val[1]), epochs, 0, "stage1", Clock(), Listener(),
                    threading.Event())


def memory_child(variant: str, trainings: int) -> None:
    """In a fresh process: RSS after warm-up, after ``trainings`` head trainings and after a third as
    many small_cnn trainings from scratch (images through the whole network); JSON on stdout."""
    from core.zoo.scratch import small_cnn

    loop = loops()[variant]
    rng = np.random.default_rng(0)
    labels = np.arange(1000, dtype=np.int32) % 4
    feats = (rng.normal(size=(1000, 1280)) + labels[:, None] * 0.1).astype(np.float32)
    val = (feats[:200], labels[:200])
    pixels = rng.uniform(0, 255, size=(64, 32, 32, 3)).astype(np.float32)
    batches = [(tf.constant(pixels[i:i + 16]), tf.constant(labels[i:i + 16])) for i in range(0, 64, 16)]

    def scratch(seed: int) -> None:
        trainer = loop.Trainer(heads.logits_of(small_cnn(4, (32, 32))), 4, 1e-3, 8)
        loop.fit(trainer, lambda epoch: batches, 4, lambda: batches, 2, 0, "stage1", Clock(), Listener(),
                 threading.Event())

    figures = {}
    for name, run, count in (("head", lambda i: train_head(loop, feats, labels, val, 3, i), trainings),
                             ("scratch", scratch, max(trainings // 3, 2))):
        for i in range(3):  # warm-up: first traces, allocator pools
            run(i)
        gc.collect()
        before, began = rss_mb(), time.perf_counter()
        for i in range(count):
            run(i)
            gc.collect()  # as train() does after every run
        figures[name] = {"count": count, "before_mb": before, "after_mb": rss_mb(),
                         "seconds_each": (time.perf_counter() - began) / count}
    print(json.dumps(figures))


def memory_side_by_side(trainings: int) -> dict:
    """``memory_child`` for each variant, alternately, in fresh processes."""
    out = {}
    for variant in ("old loop", "fit"):
        done = subprocess.run([sys.executable, "-m", "bench.bench_train", "--memory-child", variant,
                               "--trainings", str(trainings)], cwd=REPO, check=True, capture_output=True,
                              text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        out[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def frozen_stage_rate(loop, full: keras.Model, head_names: set, pixels, classes: int) -> float:
    """Images/s of the second of two epochs with the backbone frozen, images through it every step."""
    heads.freeze_backbone(full, head_names)
    steps = len(pixels)
    trainer = loop.Trainer(heads.logits_of(full), classes, 1e-3, 2 * steps)
    result = loop.fit(trainer, lambda epoch: pixels, steps, None, 2, 0, "stage1", Clock(), Listener(),
                      threading.Event())
    return len(pixels.items) / result.history["seconds"][-1]


def extraction_vs_ceiling(extractor: FeatureExtractor, model: keras.Model, items: list, size: tuple[int, int]
                          ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Features of ``items`` as training extracts them (one input pipeline: PNG decode, resize, compiled
    backbone) against the backbone's own compiled forward on as many images already in memory, timed
    just before and just after (their mean is the ceiling), so that both see the same machine load.
    Returns features, labels, extraction and ceiling seconds."""
    forward = compiled.forward(model)
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
    parser.add_argument("--trainings", type=int, default=30, help="head trainings per variant for memory")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved speed rounds, old loop vs fit")
    parser.add_argument("--skip-target", action="store_true", help="skip the end-to-end time-to-accuracy run")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.trainings)
        return
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

    variants = loops()
    feats, val_feats = feats[0], val_feats[0]  # the clean view
    head_rates: dict[str, list[float]] = {name: [] for name in variants}
    head_seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):  # interleaved, so both see the same machine load
        for name, loop in variants.items():
            start = time.perf_counter()
            result = train_head(loop, feats, labels, (val_feats, val_labels), args.head_epochs)
            head_seconds[name].append(time.perf_counter() - start)
            head_rates[name].append(len(items) * args.head_epochs / sum(result.history["seconds"]))
    rate = {name: statistics.median(values) for name, values in head_rates.items()}
    rows.append((f"{args.head_epochs} head epochs on {len(items)} images' features, fit",
                 f"{statistics.median(head_seconds['fit']):8.2f} s incl. the first trace  "
                 f"(val accuracy {result.history['val_accuracy'][-1]:.3f}; goal well under 60 s)"))
    for name in variants:
        rows.append((f"  head on features, {name} (median of {args.rounds})",
                     f"{rate[name]:8,.0f} samples/s incl. validation; "
                     f"{statistics.median(head_seconds[name]):.2f} s per training incl. tracing"))
    rows.append(("  head on features, fit / old loop", f"{rate['fit'] / rate['old loop']:8.2f}x the speed"))

    head = heads.build_head(dataset.num_classes, seed=0)
    full = heads.assemble(backbone, features, head, name="bench")
    head_names = {layer.name for layer in head} | {"probabilities"}
    frozen_items = items[: args.stage2_images]
    frozen_pixels = Batches(frozen_items, size, 32, shuffle=True, cache=True)
    frozen: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(args.rounds - 1, 1)):
        for name, loop in variants.items():
            frozen[name].append(frozen_stage_rate(loop, full, head_names, frozen_pixels, dataset.num_classes))
    frozen_rate = {name: statistics.median(values) for name, values in frozen.items()}
    for name in variants:
        rows.append((f"frozen backbone + head, images through it, {name}",
                     f"{frozen_rate[name]:8.1f} images/s ({len(frozen_items)} images, 2nd epoch)"))
    rows.append(("  frozen backbone, fit / old loop",
                 f"{frozen_rate['fit'] / frozen_rate['old loop']:8.2f}x the speed"))
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

    memory = memory_side_by_side(args.trainings)
    for kind, what in (("head", "head trainings on features"), ("scratch", "small_cnn trainings")):
        growth = {}
        for name in variants:
            m = memory[name][kind]
            growth[name] = (m["after_mb"] - m["before_mb"]) / m["count"]
            rows.append((f"RSS over {m['count']} {what}, {name}",
                         f"{m['before_mb']:8.0f} -> {m['after_mb']:.0f} MB: {growth[name]:+.2f} MB per "
                         f"training ({m['seconds_each']:.2f} s each)"))
        rows.append((f"  {what}: growth per training, fit - old loop",
                     f"{growth['fit'] - growth['old loop']:+8.2f} MB"))

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
