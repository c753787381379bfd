"""The training loop on Keras ``fit``, kept for ``bench/bench_train.py`` to measure against the hand-written
one in ``core/train/loop.py`` (same API, same maths), which training uses because it measured faster
and leaner (docs/benchmarks.md, "Training loop").

Adam on a cosine-decayed rate, weighted cross-entropy on logits, early stopping: a :class:`Trainer` wraps
a model that outputs logits in a ``keras.Model`` whose ``train_step`` adds label smoothing, class weights
and (optionally) adversarial batches, compiled with ``keras.optimizers.Adam`` on ``CosineDecay``.
:func:`fit` runs ``model.fit`` with ``EarlyStopping(restore_best_weights=True)`` and one callback that
reports every batch and epoch to the engine's :class:`~core.train.events.Listener`, stops within a batch
of the stop event and turns a NaN loss into a sentence.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core.train import loop as hand_written
from core.train.events import Clock, Listener
from core.train.loop import StageResult, StopRequested, TrainingError, _check_finite

Batches = Iterable[tuple[Any, Any]]
# Batch sources have no length: Keras learns an epoch's length by reaching its end, and says so once.
warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
# ``(x, labels, global_step) -> x``: replaces a batch's inputs before the step (adversarial training).
Transform = Callable[[Any, Any, int], Any]


class _Fitted(keras.Model):
    """``net`` (inputs -> logits) as ``fit`` trains it: a weighted, smoothed loss and per-batch figures.

    Its weights (what :class:`~keras.callbacks.EarlyStopping` snapshots and restores) are only those
    training changes, so keeping the best epoch never copies a frozen backbone.
    """

    def __init__(self, net: keras.Model, num_classes: int, label_smoothing: float,
                 class_weights: np.ndarray | None, transform: Transform | None) -> None:
        super().__init__(name=f"{net.name}_fit")
        self.net = net
        self.num_classes, self.smoothing = num_classes, float(label_smoothing)
        self.class_weights = np.ones(num_classes, np.float32) if class_weights is None else (
            np.asarray(class_weights, np.float32))
        self.transform = transform
        self.loss_mean = keras.metrics.Mean(name="loss")
        self.accuracy_mean = keras.metrics.Mean(name="accuracy")
        # Frozen-BatchNorm statistics never change; those of trainable BatchNorm layers are kept too.
        self.state = list(net.trainable_variables) + [
            w for layer in net.layers if layer.trainable and isinstance(layer, keras.layers.BatchNormalization)
            for w in layer.non_trainable_weights]

    def call(self, x, training=False):
        return self.net(x, training=training)

    @property
    def metrics(self) -> list:
        return [self.loss_mean, self.accuracy_mean]

    def _adversarial(self, x, y):
        """The transform run eagerly between graph ops, so that it sees the step number (PGD's random
        start changes every step) and the current weights; its output is a constant of the step."""
        step = self.optimizer.iterations

        def run(x, y, step):
            return tf.cast(self.transform(x, y, int(step)), tf.float32)

        out = tf.py_function(run, [x, y, step], tf.float32)
        out.set_shape(x.shape)
        return out

    def train_step(self, data):
        x, y = data[:2]
        if self.transform is not None:
            x = self._adversarial(x, y)
        targets = tf.one_hot(y, self.num_classes)
        with tf.GradientTape() as tape:
            logits = tf.cast(self.net(x, training=True), tf.float32)
            per_sample = keras.losses.categorical_crossentropy(targets, logits, from_logits=True,
                                                               label_smoothing=self.smoothing)
            loss = tf.reduce_mean(per_sample * tf.gather(self.class_weights, y))
        variables = self.net.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return self._figures(loss, logits, y, batch_loss=loss)

    def test_step(self, data):
        x, y = data[:2]  # plain cross-entropy (no smoothing, no class weights): comparable across runs
        logits = tf.cast(self.net(x, training=False), tf.float32)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        return self._figures(loss, logits, y)

    def _figures(self, loss, logits, y, **extra) -> dict:
        n = tf.shape(y)[0]
        right = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), y), tf.float32))
        self.loss_mean.update_state(loss, sample_weight=tf.cast(n, tf.float32))
        self.accuracy_mean.update_state(right / tf.cast(n, tf.float32), sample_weight=tf.cast(n, tf.float32))
        return {"loss": self.loss_mean.result(), "accuracy": self.accuracy_mean.result(), "size": n, **extra}

    def get_weights(self) -> list[np.ndarray]:
        return [v.numpy() for v in self.state]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        for variable, value in zip(self.state, weights, strict=True):
            variable.assign(value)


class Trainer:
    """``model`` (inputs -> logits) compiled for ``fit`` with Adam on a cosine decay over ``total_steps``."""

    def __init__(self, model: keras.Model, num_classes: int, learning_rate: float, total_steps: int,
                 label_smoothing: float = 0.0, class_weights: np.ndarray | None = None,
                 transform: Transform | None = None) -> None:
        if not model.trainable_variables:
            raise TrainingError("Nothing to train: every layer of the model is frozen.")
        self.model = model
        self.fitted = _Fitted(model, num_classes, label_smoothing, class_weights, transform)
        schedule = keras.optimizers.schedules.CosineDecay(float(learning_rate), max(int(total_steps), 1))
        # Not XLA (tracing a 200-layer backbone for it costs more than it saves on a CPU).
        self.fitted.compile(optimizer=keras.optimizers.Adam(schedule), jit_compile=False)
        # Fixed signatures: the last, smaller batch of an epoch must not trigger a second trace.
        self.x_spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
        self.y_spec = tf.TensorSpec([None], tf.int32)

        @tf.function(input_signature=[self.x_spec], autograph=False)
        def logits_step(x):
            return tf.cast(model(x, training=False), tf.float32)

        self.logits_step = logits_step

    @property
    def learning_rate(self) -> float:
        return float(self.fitted.optimizer.learning_rate)

    def dataset(self, batches: Callable[[], Batches], feeder: _Feeder, steps: int | None) -> tf.data.Dataset:
        """``batches()`` as a dataset that calls it afresh on every pass (every epoch), of ``steps``
        batches when known: Keras then never calls its train function past the end, a call that
        still counts an optimizer iteration (and so would shift the learning-rate schedule)."""
        feeder.sources.append(batches)
        index = len(feeder.sources) - 1

        def generate():  # reads its source through the feeder, which fit empties when it ends
            for x, y in feeder.guard(feeder.sources[index]()):
                yield tf.cast(x, tf.float32), tf.cast(y, tf.int32)

        dataset = tf.data.Dataset.from_generator(generate, output_signature=(self.x_spec, self.y_spec))
        return dataset if steps is None else dataset.apply(tf.data.experimental.assert_cardinality(steps))

    # Inference is the same as the hand-written loop's (it uses only ``logits_step``).
    predict = hand_written.Trainer.predict
    evaluate = hand_written.Trainer.evaluate


class _Feeder:
    """Keeps the exception a batch source raised inside tf.data (e.g. a DataError naming a broken
    file), which TensorFlow would otherwise turn into an opaque op error."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.sources: list[Callable[[], Batches]] = []

    def guard(self, batches: Batches):
        try:
            yield from batches
        except Exception as exc:
            self.error = exc
            raise


class _Events(keras.callbacks.Callback):
    """Listener events for every batch and epoch, the stop event within a batch, a NaN loss as a sentence."""

    def __init__(self, trainer: Trainer, result: StageResult, phase: str, epochs: int, steps: int,
                 clock: Clock, listener: Listener, stop_event: threading.Event,
                 stopper: keras.callbacks.EarlyStopping | None) -> None:
        super().__init__()
        self.trainer, self.result, self.phase, self.epochs, self.steps = trainer, result, phase, epochs, steps
        self.clock, self.listener, self.stop_event, self.stopper = clock, listener, stop_event, stopper
        self.epoch, self.step, self.seen, self.started = 0, 0, 0, time.monotonic()

    def _check_stop(self, *_: Any, **__: Any) -> None:
        if self.stop_event.is_set():
            self.model.stop_training = True
            raise StopRequested  # at once: stop_training alone would let fit validate first

    on_train_batch_begin = on_test_batch_begin = _check_stop

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch, self.step, self.seen, self.started = epoch + 1, 0, 0, time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.step += 1
        batch_loss = float(logs["batch_loss"])
        _check_finite(batch_loss, self.phase, self.epoch, self.step, self.trainer.learning_rate)
        self.seen += int(logs["size"])
        self.clock.step()
        elapsed = time.monotonic() - self.started
        self.listener.on_batch(self.clock.stamp({
            "kind": "batch", "phase": self.phase, "epoch": self.epoch, "epochs": self.epochs, "step": self.step,
            "steps": self.steps, "batch_loss": batch_loss, "loss": float(logs["loss"]),
            "accuracy": float(logs["accuracy"]),
            "images_per_second": self.seen / elapsed if elapsed > 0 else None,
        }))
        self._check_stop()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._check_stop()
        logs = logs or {}
        self.clock.resume()  # validation time is not a training step
        val_loss, val_accuracy = logs.get("val_loss"), logs.get("val_accuracy")
        val_loss = None if val_loss is None else float(val_loss)
        val_accuracy = None if val_accuracy is None else float(val_accuracy)
        history = self.result.history
        for key, value in (("loss", float(logs.get("loss", math.nan))),
                           ("accuracy", float(logs.get("accuracy", math.nan))), ("val_loss", val_loss),
                           ("val_accuracy", val_accuracy), ("learning_rate", self.trainer.learning_rate),
                           ("seconds", time.monotonic() - self.started)):
            history[key].append(value)
        self.result.epochs_run = self.epoch
        # EarlyStopping ran first (it is earlier in the callback list) and decided both.
        improved = self.stopper is None or (self.stopper.best_epoch == epoch and val_loss is not None
                                            and math.isfinite(val_loss))
        if improved:
            self.result.best_epoch = self.epoch
        early = self.model.stop_training and self.epoch < self.epochs
        self.result.stopped_early = early
        self.listener.on_epoch(self.clock.stamp({
            "kind": "epoch", "phase": self.phase, "epoch": self.epoch, "epochs": self.epochs,
            "loss": history["loss"][-1], "accuracy": history["accuracy"][-1], "val_loss": val_loss,
            "val_accuracy": val_accuracy, "learning_rate": history["learning_rate"][-1],
            "seconds": history["seconds"][-1], "best": improved, "early_stopping": early,
        }))


def fit(trainer: Trainer, train_batches: Callable[[int], Batches], steps_per_epoch: int,
        val_batches: Callable[[], Batches] | None, epochs: int, patience: int, phase: str, clock: Clock,
        listener: Listener, stop_event: threading.Event) -> StageResult:
    """Train for up to ``epochs`` with ``model.fit``; keep the weights of the epoch with the lowest
    validation loss (``patience`` epochs without improvement stop early; 0: never).

    ``train_batches(epoch)`` yields ``(x, labels)`` for 1-based ``epoch``. Raises
    :class:`StopRequested` within a batch of the stop event being set, :class:`TrainingError` on a
    NaN loss, and whatever a batch source raised (a DataError naming a broken file) as itself.
    """
    result = StageResult(history={"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [],
                                  "learning_rate": [], "seconds": []})
    stopper = None
    if val_batches is not None:  # patience 0 (off) can never be reached: only the best weights are kept
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience or epochs + 1,
                                                restore_best_weights=True)
    events = _Events(trainer, result, phase, epochs, steps_per_epoch, clock, listener, stop_event, stopper)
    feeder = _Feeder()
    train = trainer.dataset(lambda: train_batches(events.epoch), feeder, steps_per_epoch)
    val = None
    if val_batches is not None:  # a sized source (image batches) gives its length; a generator does not
        val = trainer.dataset(val_batches, feeder, getattr(val_batches(), "__len__", lambda: None)())
    clock.begin(phase)
    try:
        trainer.fitted.fit(train, validation_data=val, epochs=epochs, verbose=0, shuffle=False,
                           callbacks=[c for c in (stopper, events) if c is not None])
    except tf.errors.OpError:
        if feeder.error is not None:
            raise feeder.error from None
        raise
    finally:
        # TensorFlow keeps a from_generator dataset's generator after the dataset is gone; emptied
        # here, it no longer holds the model, its data and the run (measured: bench/bench_train.py).
        feeder.sources.clear()
    clock.finish(phase)
    return result
