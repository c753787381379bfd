"""``train(config)``: one training run from a config to a finished run folder.

1. Open and split the dataset; build a fresh model: a zoo backbone (never the shared copy) with a new
   head, or a from-scratch architecture.
2. Stage 1 trains the head on the frozen backbone. Fast path: backbone features are computed once
   (plus a few augmented views) and the head trains on them; otherwise (adversarial training) images
   go through the whole network every step. From scratch, stage 1 trains every layer.
3. Stage 2 (``fine_tune_layers > 0``) unfreezes the top of the backbone at a lower learning rate,
   BatchNorm kept in inference mode. The stage-1 model is saved first, so a failure keeps it.
4. The model as saved is evaluated on the validation (and test) split, and the run folder is
   completed: ``run.json`` says ``complete`` last.

A stop event ends the run within a batch (status ``stopped``); errors end it with status ``failed``
and a clear message; files already written stay.
"""

from __future__ import annotations

import gc
import math
import re
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core.atomic import atomic_path
from core.errors import GlasswingError, ParameterError
from core.train import feature_cache, heads, runs
from core.train.config import TrainConfig
from core.train.data import Batches, open_training_data, relative_items
from core.train.evaluate import metrics_from_logits
from core.train.events import FORWARD, HEAD, TRAIN, Clock, Listener
from core.train.features import FeatureExtractor, epoch_batches, extract, plain_batches
from core.train.loop import StageResult, StopRequested, Trainer, TrainingError, fit
from core.zoo.loaded import cam_layer

FEATURE_BATCH = 64  # images per feature-extraction batch (inference only, so larger than training's)
EVAL_BATCH = 64
MAX_BATCH_POINTS = 2000  # per-batch curve points kept per stage in history.json


@dataclass
class TrainResult:
    """What a finished (or stopped) run produced."""

    run_dir: Path
    status: str  # "complete" or "stopped"
    metrics: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def val_accuracy(self) -> float | None:
        return (self.metrics.get("val") or {}).get("accuracy")

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "status": self.status, "val_accuracy": self.val_accuracy,
                "metrics": self.metrics, "history": self.history, "timings": self.timings}


@dataclass
class _Model:
    """The model being trained and what the engine needs to know about it."""

    kind: str  # "transfer" or "scratch"
    full: keras.Model  # raw pixels -> probabilities, the model that is saved
    head_names: set[str]  # layers that train in stage 1 (every layer, from scratch)
    input_size: tuple[int, int]
    default_cam_layer: str
    base_name: str
    head: list[keras.layers.Layer] = field(default_factory=list)
    features: Any = None  # the tensor the head reads (heads.head_input; transfer only)


class _Recorder(Listener):
    """Forwards events and keeps a compact per-batch curve for history.json."""

    def __init__(self, inner: Listener) -> None:
        self.inner = inner
        self.batches: dict[str, list[list[float]]] = {}

    def on_status(self, event: dict) -> None:
        self.inner.on_status(event)

    def on_batch(self, event: dict) -> None:
        if "loss" in event:
            rows = self.batches.setdefault(event["phase"], [])
            rows.append([event["epoch"], event["step"], round(event["batch_loss"], 6),
                         round(event["loss"], 6), round(event["accuracy"], 6)])
            if len(rows) > MAX_BATCH_POINTS:
                del rows[1::2]  # thin, keeping the shape of the curve
        self.inner.on_batch(event)

    def on_epoch(self, event: dict) -> None:
        self.inner.on_epoch(event)


def _status(listener: Listener, clock: Clock, status: str, message: str = "", **extra: Any) -> None:
    listener.on_status(clock.stamp({"kind": "status", "status": status, "message": message, **extra}))


# -- building the model ------------------------------------------------------------------------------------
def _build(config: TrainConfig, num_classes: int) -> _Model:
    from core.zoo import get_spec, load_model, resolve_source
    from core.zoo.scratch import BUILDERS

    kind = resolve_source(str(config.model))
    if kind == "zoo" and not get_spec(str(config.model)).pretrained:
        name = str(config.model)
        if name not in BUILDERS:
            raise ParameterError(f"model {name} has no weights and no from-scratch builder.")
        if config.fine_tune_layers:
            raise ParameterError(f"fine_tune_layers only applies to pretrained models; {name} trains every "
                                 "layer from scratch already.")
        spec = get_spec(name)
        size = (config.image_size, config.image_size) if config.image_size else tuple(spec.input_size)
        model = BUILDERS[name](num_classes, size)
        heads.reseed(model, config.seed)
        cam = cam_layer(model, spec.default_cam_layer)
        return _Model("scratch", model, {la.name for la in model.layers}, size, cam, name)
    if config.image_size:
        raise ParameterError("image_size only applies to from-scratch models (small_cnn, lenet5); pretrained "
                             "models keep their own input size.")
    loaded = load_model(str(config.model))
    backbone = heads.fresh_copy(loaded.model)  # the shared model is never trained
    features = heads.head_input(backbone)
    taken = {layer.name for layer in keras.Model(backbone.inputs[0], features).layers}
    head = heads.build_head(num_classes, config.dropout, config.hidden_units, config.seed, taken)
    base_name = loaded.name
    if kind == "run":  # continuing from a run: keep naming the original zoo model
        base_name = (runs.read_meta(config.model) or {}).get("base_model") or loaded.name
    model_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{base_name}_finetuned")[:60]  # Keras wants a scope name
    full = heads.assemble(backbone, features, head, name=model_name)
    names = {layer.name for layer in full.layers}
    # the head may read a layer below the zoo's CAM layer (heads.head_input), which then is not in the model
    mid = heads.mid_level_layer(backbone)
    cam = cam_layer(full, loaded.default_cam_layer if loaded.default_cam_layer in names else mid)
    head_names = {layer.name for layer in head} | {full.layers[-1].name}
    return _Model("transfer", full, head_names, loaded.input_size, cam, str(base_name), head, features)


def _adversarial_transform(config: TrainConfig, model: keras.Model):
    """``(x, labels, step) -> x`` with the first ``ratio`` of each batch replaced by adversarial copies."""
    adv = config.adversarial
    try:
        from core.attacks import adversarial_batch, get_attack
    except ImportError as exc:  # the attacks package is optional for training
        raise ParameterError(f"adversarial training needs core.attacks, which cannot be imported "
                             f"({exc}).") from None
    seeded = any(p.name == "seed" for p in get_attack(adv.method).params)

    def transform(x, labels, step: int):
        n = int(x.shape[0])
        k = min(n, max(1, int(round(adv.ratio * n))))
        params = dict(adv.params)
        if seeded:
            params["seed"] = (config.seed * 100_003 + step) % (2**31 - 1)  # a new random start each step
        attacked = adversarial_batch(model, x[:k], labels[:k], method=adv.method, eps=adv.eps, **params)
        return tf.concat([tf.cast(attacked, x.dtype), x[k:]], axis=0)

    return transform


def _check_adversarial(config: TrainConfig) -> None:
    """Refuse an unknown attack or a bad attack parameter before anything is written."""
    if config.adversarial is None:
        return
    try:
        from core.attacks import create_attack
    except ImportError as exc:
        raise ParameterError(f"adversarial training needs core.attacks, which cannot be imported "
                             f"({exc}).") from None
    adv = config.adversarial
    create_attack(adv.method, eps=adv.eps, **adv.params)  # UnknownNameError / ParameterError naming it


# -- saving ------------------------------------------------------------------------------------------------
def save_model(model: keras.Model, path: Path) -> None:
    """Write ``model`` atomically and check the file is one Glasswing will load (no custom code)."""
    from core.zoo.files import check_keras_file

    with atomic_path(path) as tmp:
        model.save(tmp)
        check_keras_file(tmp)


def _history(stages: dict[str, StageResult], recorder: _Recorder) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, stage in stages.items():
        out[name] = {**stage.history, "best_epoch": stage.best_epoch, "epochs_run": stage.epochs_run,
                     "stopped_early": stage.stopped_early}
    out["batches"] = {"columns": ["epoch", "step", "batch_loss", "loss", "accuracy"], **recorder.batches}
    return out


def _class_weights(config: TrainConfig, dataset) -> np.ndarray | None:
    if not config.class_weights:
        return None
    weights = dataset.class_weights("train")
    return np.array([weights.get(c, 0.0) for c in range(dataset.num_classes)], np.float32)


# -- the run -----------------------------------------------------------------------------------------------
def train(config: TrainConfig, runs_root: str | Path | None = None, owner: str | None = None,
          listener: Listener | None = None, stop_event: threading.Event | None = None,
          run_id: str | None = None) -> TrainResult:
    """Train as ``config`` says into a new run folder under ``runs_root`` (default: GLASSWING_RUNS).

    Problems found before the run folder exists (bad config, unusable dataset, unknown model) raise
    at once and leave nothing behind. Later errors mark the run ``failed`` (with the message in
    run.json) and are raised again; a stop returns a result with status ``stopped``.
    """
    try:
        return _train(config, runs_root, owner, listener, stop_event, run_id)
    finally:
        gc.collect()  # models, traced functions and features hold reference cycles: free them now


def _train(config: TrainConfig, runs_root: str | Path | None, owner: str | None, listener: Listener | None,
           stop_event: threading.Event | None, run_id: str | None) -> TrainResult:
    config.validate()
    recorder = _Recorder(listener or Listener())
    stop_event = stop_event or threading.Event()
    clock = Clock()
    _status(recorder, clock, "loading", f"Opening dataset {config.data} and model {config.model}")
    _check_adversarial(config)
    dataset = open_training_data(config)
    built = _build(config, dataset.num_classes)
    if stop_event.is_set():  # stopped while loading: nothing was written
        _status(recorder, clock, runs.STOPPED, "Stopped before training started.")
        return TrainResult(runs.runs_root(runs_root) / (run_id or "not-created"), runs.STOPPED)
    name = config.name or f"{built.base_name} on {dataset.id}"
    run_dir = runs.create_run({
        "name": name, "base_model": built.base_name, "owner": owner, "kind": built.kind,
        "class_names": list(dataset.class_names), "default_cam_layer": built.default_cam_layer,
        "input_size": list(built.input_size), "config": config.to_dict(),
        "dataset": {"id": dataset.id, "root": str(dataset.root),
                    "counts": {split: len(items) for split, items in dataset.splits.items()}},
    }, runs_root, run_id)
    stages: dict[str, StageResult] = {}
    timings: dict[str, float] = {}
    with runs.active_run(run_dir):
        try:  # from here on any failure (a full disk at the first write too) marks the run failed
            runs.write_json(run_dir, runs.CONFIG_FILE, config.to_dict())
            runs.write_json(run_dir, runs.SPLIT_FILE, {
                "root": str(dataset.root), "dataset_id": dataset.id, "class_names": list(dataset.class_names),
                "seed": config.seed,
                "splits": {split: relative_items(items, Path(dataset.root))
                           for split, items in dataset.splits.items()},
            })
            job = _Run(config, dataset, built, run_dir, recorder, stop_event, clock, stages, timings)
            metrics = job.run()
        except StopRequested:
            runs.write_json(run_dir, runs.HISTORY_FILE, _history(stages, recorder))
            runs.update_meta(run_dir, status=runs.STOPPED, finished=runs.now_iso(), timings=timings)
            _status(recorder, clock, runs.STOPPED, "Stopped by request.", run_dir=str(run_dir))
            return TrainResult(run_dir, runs.STOPPED, {}, _history(stages, recorder), timings)
        except BaseException as exc:
            error = _failure_message(exc, config)
            try:
                runs.write_json(run_dir, runs.HISTORY_FILE, _history(stages, recorder))
                runs.update_meta(run_dir, status=runs.FAILED, finished=runs.now_iso(), error=error,
                                 timings=timings)
                _status(recorder, clock, runs.FAILED, error, run_dir=str(run_dir))
            except Exception as record_exc:  # noqa: BLE001 - never hide the original error behind this one
                # The run stays 'running' on disk and is listed as interrupted once this process is gone.
                print(f"Could not record the failure in {run_dir / runs.RUN_META}: {record_exc}", file=sys.stderr)
            if isinstance(exc, (tf.errors.ResourceExhaustedError, MemoryError)):
                raise TrainingError(error) from exc
            raise
    history = _history(stages, recorder)
    return TrainResult(run_dir, runs.COMPLETE, metrics, history, timings)


def _failure_message(exc: BaseException, config: TrainConfig) -> str:
    if isinstance(exc, (tf.errors.ResourceExhaustedError, MemoryError)):
        return (f"Training ran out of memory; lower batch_size (now {config.batch_size}), use fewer "
                "augment_views or a smaller model.")
    if isinstance(exc, GlasswingError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted."
    return f"Unexpected error ({type(exc).__name__}): {exc}"


class _Run:
    """One run's stages. ``self.final`` is the trainer whose model is the one saved, and
    :meth:`_logits` the cheapest exact way to get that model's logits on a split."""

    def __init__(self, config: TrainConfig, dataset, built: _Model, run_dir: Path, recorder: _Recorder,
                 stop_event: threading.Event, clock: Clock, stages: dict[str, StageResult],
                 timings: dict[str, float]) -> None:
        self.config, self.dataset, self.built, self.run_dir = config, dataset, built, run_dir
        self.recorder, self.stop_event, self.clock = recorder, stop_event, clock
        self.stages, self.timings = stages, timings
        self.augment = config.augment_spec()
        self.items = {split: dataset.splits.get(split, []) for split in ("train", "val", "test")}
        self.steps = math.ceil(len(self.items["train"]) / config.batch_size)
        self.weights = _class_weights(config, dataset)
        self.fast = built.kind == "transfer" and config.fast_features and config.adversarial is None
        self.views = 1 + (config.augment_views if self.fast and self.augment is not None else 0)
        self.final: Trainer | None = None
        self.extractor: FeatureExtractor | None = None
        self.stored: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # clean features per split (fast path)
        self._pixels: dict[str, Batches] = {}
        _plan(clock, config, self.items, self.steps, self.fast, self.views)

    def status(self, status: str, message: str, **extra: Any) -> None:
        _status(self.recorder, self.clock, status, message, **extra)

    def pixels(self, split: str) -> Batches:
        """Images of a split, built on first use: training images shuffled, augmented and cached;
        validation cached too (it is read every epoch when images go through the network)."""
        if split not in self._pixels:
            size = self.built.input_size
            if split == "train":
                self._pixels[split] = Batches(self.items["train"], size, self.config.batch_size, shuffle=True,
                                              seed=self.config.seed, augment=self.augment, cache=True)
            else:
                self._pixels[split] = Batches(self.items[split], size, EVAL_BATCH, cache=split == "val")
        return self._pixels[split]

    def features(self, split: str, views: int = 1, phase: str = "features") -> tuple[np.ndarray, np.ndarray]:
        """Backbone features of a split: from the on-disk cache when this data, model and augmentation
        were seen before, else computed (and cached)."""
        items = self.items[split]
        augment = self.augment.to_json() if self.augment is not None and views > 1 else None
        key = feature_cache.cache_key(items, str(self.config.model), self.built.input_size, augment, views,
                                      self.config.seed, heads.layout(self.built.features))
        cached = feature_cache.load(key)
        if cached is not None and cached[0].shape[:2] == (views, len(items)):
            self.clock.begin(phase)
            self.clock.finish(phase)  # nothing of the phase is left to do
            self.timings[f"{phase}_{split}_cached"] = True
            return cached
        batches = Batches(items, self.built.input_size, FEATURE_BATCH, cache=False)
        found = extract(self.extractor_model(), batches, len(items), views, self.clock, self.recorder,
                        self.stop_event, phase=phase)
        feature_cache.store(key, *found)
        return found

    def extractor_model(self) -> FeatureExtractor:
        """The compiled backbone (built on first need: a cache hit never traces it)."""
        if self.extractor is None:
            from core.data.augment import build_augmenter

            augmenter = build_augmenter(self.augment, self.config.seed) if self.views > 1 else None
            self.extractor = FeatureExtractor(keras.Model(self.built.full.inputs[0], self.built.features),
                                              augmenter)
        return self.extractor

    def _fit(self, trainer: Trainer, phase: str, epochs: int, train_batches, val_batches,
             transform=None) -> None:
        started = time.monotonic()
        self.stages[phase] = fit(trainer, train_batches, self.steps, val_batches, epochs,
                                 self.config.early_stopping_patience, phase, self.clock, self.recorder,
                                 self.stop_event, transform)
        seconds = self.stages[phase].history["seconds"]
        self.timings[f"{phase}_seconds"] = round(time.monotonic() - started, 3)
        self.timings[f"{phase}_images_per_second"] = round(
            len(seconds) * len(self.items["train"]) / max(sum(seconds), 1e-9), 1)

    # -- stages ------------------------------------------------------------------------------------------
    def stage1_fast(self) -> None:
        """Backbone features once (plus augmented views), then the head on them."""
        config, n_train = self.config, len(self.items["train"])
        extra = f" ({self.views - 1} augmented views each)" if self.views > 1 else ""
        self.status("features", f"Computing backbone features of {n_train} training images{extra} and "
                    f"{len(self.items['val'])} validation images")
        started = time.monotonic()
        feats, labels = self.features("train", self.views)
        self.stored["val"] = self.features("val")
        seconds = time.monotonic() - started
        self.timings["features_seconds"] = round(seconds, 3)
        self.timings["features_images_per_second"] = round(
            (n_train * self.views + len(self.items["val"])) / max(seconds, 1e-9), 1)

        self.status("stage1", f"Training the new head on stored features for up to {config.epochs} epochs")
        self.final = Trainer(heads.head_model(int(feats.shape[-1]), self.built.head), self.dataset.num_classes,
                             config.learning_rate, config.epochs * self.steps, config.label_smoothing,
                             self.weights)
        self._fit(self.final, "stage1", config.epochs,
                  lambda epoch: epoch_batches(feats, labels, config.batch_size, config.seed, epoch),
                  lambda: plain_batches(*self.stored["val"]))

    def stage1_pixels(self) -> None:
        """The head on the frozen backbone (or a whole from-scratch network), images through it every step."""
        config, built = self.config, self.built
        if built.kind == "transfer":
            heads.freeze_backbone(built.full, built.head_names)
            what = "the new head on the frozen backbone"
        else:
            what = f"{built.base_name} from scratch"
        transform = _adversarial_transform(config, built.full) if config.adversarial is not None else None
        self.status("stage1", f"Training {what} for up to {config.epochs} epochs"
                    f"{' with adversarial examples' if transform else ''}")
        self.final = Trainer(heads.logits_of(built.full), self.dataset.num_classes, config.learning_rate,
                             config.epochs * self.steps, config.label_smoothing, self.weights)
        self._fit(self.final, "stage1", config.epochs, lambda epoch: self.pixels("train"),
                  lambda: self.pixels("val"), transform)

    def stage2(self) -> None:
        """Save the stage-1 model, unfreeze the top of the backbone and fine-tune at a lower rate."""
        config, built = self.config, self.built
        self.status("saving", "Saving the stage-1 model before fine-tuning")
        save_model(built.full, self.run_dir / runs.MODEL_FILE)
        unfrozen = heads.unfreeze_top(built.full, built.head_names, config.fine_tune_layers,
                                      config.fine_tune_unit)
        runs.update_meta(self.run_dir, checkpoint="stage1", unfrozen_layers=unfrozen)
        transform = _adversarial_transform(config, built.full) if config.adversarial is not None else None
        self.status("stage2", f"Fine-tuning the top {config.fine_tune_layers} {config.fine_tune_unit} "
                    f"({len(unfrozen)} layers) at learning rate {config.fine_tune_learning_rate:g}")
        self.final = Trainer(heads.logits_of(built.full), self.dataset.num_classes,
                             config.fine_tune_learning_rate, config.fine_tune_epochs * self.steps,
                             config.label_smoothing, self.weights)
        self._fit(self.final, "stage2", config.fine_tune_epochs, lambda epoch: self.pixels("train"),
                  lambda: self.pixels("val"), transform)

    def _logits(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Logits and labels of the final model on a split (stored features while the backbone is
        unchanged, else the images)."""
        assert self.final is not None
        if self.fast and "stage2" not in self.stages:
            if split not in self.stored:
                self.stored[split] = self.features(split, phase="evaluating")
            return self.final.predict(plain_batches(*self.stored[split]), self.stop_event)
        return self.final.predict(self.pixels(split), self.stop_event, self.clock.step)

    def evaluate_and_save(self) -> dict[str, Any]:
        """Final metrics of the trained model, then the run folder; run.json says complete last."""
        config, run_dir = self.config, self.run_dir
        for layer in self.built.full.layers:  # the saved model is plain: nothing marked frozen
            layer.trainable = True
        self.status("evaluating", "Evaluating on the validation images")
        self.clock.begin("evaluating")
        started = time.monotonic()
        metrics: dict[str, Any] = {}
        for split in ("val", "test"):
            if self.items[split]:
                metrics[split] = metrics_from_logits(*self._logits(split), list(self.dataset.class_names))
        if config.adversarial is not None:
            metrics["val_adversarial"] = _adversarial_accuracy(config, self.built.full, self.pixels("val"),
                                                               self.stop_event)
        metrics["train_accuracy"] = _best(self.stages, "accuracy")
        self.timings["evaluating_seconds"] = round(time.monotonic() - started, 3)
        if config.baseline:
            metrics["baseline"] = _baseline(self.items, list(self.dataset.class_names))

        self.status("saving", f"Saving the run to {run_dir}")
        started = time.monotonic()
        save_model(self.built.full, run_dir / runs.MODEL_FILE)
        runs.write_json(run_dir, runs.HISTORY_FILE, _history(self.stages, self.recorder))
        runs.write_json(run_dir, runs.METRICS_FILE, metrics)
        self.timings["saving_seconds"] = round(time.monotonic() - started, 3)
        summary = {"val_accuracy": metrics["val"]["accuracy"], "val_loss": metrics["val"]["loss"],
                   "train_accuracy": metrics["train_accuracy"]}
        if "test" in metrics:
            summary["test_accuracy"] = metrics["test"]["accuracy"]
        if "val_adversarial" in metrics:
            summary["val_adversarial_accuracy"] = metrics["val_adversarial"]["accuracy"]
        if metrics.get("baseline"):
            summary["baseline_val_accuracy"] = metrics["baseline"]["val_accuracy"]
        runs.update_meta(run_dir, status=runs.COMPLETE, finished=runs.now_iso(), metrics=summary,
                         timings=self.timings, checkpoint=None)  # written last: complete only now
        self.status(runs.COMPLETE, f"Validation accuracy {summary['val_accuracy']:.3f}", run_dir=str(run_dir),
                    val_accuracy=summary["val_accuracy"])
        return metrics

    def run(self) -> dict[str, Any]:
        if self.fast:
            self.stage1_fast()
        else:
            self.stage1_pixels()
        if self.config.stage2:
            self.stored.clear()  # the backbone changes: stored features no longer describe it
            self.stage2()
        return self.evaluate_and_save()


BASELINE_MAX_TRAIN = 2000  # training images the run's baseline learns from at most (seconds, not minutes)


def _baseline(items: dict[str, list], class_names: list[str]) -> dict[str, Any] | None:
    """HOG + linear SVM fitted on the run's train split and scored on its validation split, so a user
    sees when the CNN does no better than a classical method; None when it cannot be fitted."""
    from core.evaluate.baseline import run_baseline

    try:
        result = run_baseline(items["train"], items["val"], class_names, max_train=BASELINE_MAX_TRAIN)
    except GlasswingError:
        return None
    return {"val_accuracy": result.accuracy, "method": result.method, "seconds": round(result.seconds, 3),
            "train_size": result.train_size, "val_size": result.test_size}


def _plan(clock: Clock, config: TrainConfig, items: dict[str, list], steps: int, fast: bool,
          views: int) -> None:
    """Planned steps per phase, for progress and ETA (costs relative to one feature batch)."""
    per_batch = config.batch_size / FEATURE_BATCH
    n_eval = len(items["test"]) if fast and not config.stage2 else len(items["val"]) + len(items["test"])
    if fast:
        clock.plan("features", math.ceil(len(items["train"]) / FEATURE_BATCH) * views
                   + math.ceil(len(items["val"]) / FEATURE_BATCH), FORWARD)
        clock.plan("stage1", config.epochs * steps, HEAD * per_batch)
    else:
        clock.plan("stage1", config.epochs * steps, TRAIN * per_batch)
    if config.stage2:
        clock.plan("stage2", config.fine_tune_epochs * steps, TRAIN * per_batch)
    clock.plan("evaluating", math.ceil(n_eval / EVAL_BATCH), FORWARD * EVAL_BATCH / FEATURE_BATCH)


def _best(stages: dict[str, StageResult], key: str) -> float | None:
    """``key`` at the kept (best) epoch of the last stage that ran."""
    for name in ("stage2", "stage1"):
        stage = stages.get(name)
        if stage is not None and stage.history.get(key):
            return stage.history[key][max(stage.best_epoch, 1) - 1]
    return None


def _adversarial_accuracy(config: TrainConfig, model: keras.Model, batches: Batches,
                          stop_event: threading.Event) -> dict[str, Any]:
    """Accuracy on validation images attacked with the training attack (robustness at that eps)."""
    from core import compiled

    everything = config.with_changes(adversarial=replace(config.adversarial, ratio=1.0))
    transform = _adversarial_transform(everything, model)
    forward = compiled.forward(model)
    correct = seen = 0
    for step, (x, y) in enumerate(batches):
        if stop_event.is_set():
            raise StopRequested
        y = tf.cast(y, tf.int32)
        predicted = np.asarray(forward(transform(x, y, step))).argmax(axis=1)
        correct += int((predicted == np.asarray(y)).sum())
        seen += len(predicted)
    return {"count": seen, "accuracy": correct / seen if seen else None, "method": config.adversarial.method,
            "eps": config.adversarial.eps}
