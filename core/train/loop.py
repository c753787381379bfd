"""The training loop: Adam with cosine decay, weighted cross-entropy on logits, early stopping.

One loop serves every stage (a head on precomputed features, a frozen backbone with augmentation,
fine-tuning, training from scratch): it takes a model that outputs logits and batches of
``(inputs, labels)``. Hand-written rather than ``model.fit`` because fit measured slower and leaking
side by side (``bench/bench_train.py`` against ``bench/fit_loop.py``, figures in docs/benchmarks.md:
0.26x the speed of a head on stored features, 0.80x with a frozen backbone, +3 to +6 MB kept per
training in one process); the stop button acts within a batch, adversarial batches are made between
steps with the current weights, and every batch is reported.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core.errors import GlasswingError
from core.train.events import Clock, Listener

Batches = Iterable[tuple[Any, Any]]


class TrainingError(GlasswingError):
    """Training cannot go on (the loss became NaN, memory ran out, ...); the message says what to change."""


class StopRequested(Exception):
    """The stop event was set; raised between batches and caught by the engine."""


@dataclass
class StageResult:
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0  # 1-based epoch whose weights were kept
    epochs_run: int = 0
    stopped_early: bool = False


class Adam:
    """Adam (Kingma & Ba, 2015) with a learning rate cosine-decayed to 0 over ``decay_steps``.

    The same update as ``keras.optimizers.Adam`` with ``keras.optimizers.schedules.CosineDecay``
    (checked against it in the tests). Written out because a Keras optimizer applied inside a
    ``tf.function`` leaves memory behind per optimizer in TF 2.21 / Keras 3.15 (about 3 MB per head
    training, measured by ``bench/bench_train.py``), and a server trains many models in one process;
    this one holds nothing but its own variables.
    """

    def __init__(self, variables: list, learning_rate: float, decay_steps: int, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
        self.variables = variables
        self.initial_rate, self.decay_steps = float(learning_rate), max(int(decay_steps), 1)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.m = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in variables]
        self.v = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in variables]

    def rate(self, step: Any) -> Any:
        """lr * (1 + cos(pi * step / decay_steps)) / 2, constant 0 after ``decay_steps``."""
        done = tf.minimum(tf.cast(step, tf.float32), float(self.decay_steps)) / self.decay_steps
        return self.initial_rate * 0.5 * (1.0 + tf.cos(math.pi * done))

    def apply(self, grads: list) -> None:
        rate = self.rate(self.iterations)
        t = tf.cast(self.iterations + 1, tf.float32)
        # Bias correction folded into the step size, epsilon outside the square root (as Keras does).
        alpha = rate * tf.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        for variable, grad, m, v in zip(self.variables, grads, self.m, self.v, strict=True):
            if grad is None:
                continue
            m.assign_add((grad - m) * (1.0 - self.beta_1))
            v.assign_add((tf.square(grad) - v) * (1.0 - self.beta_2))
            variable.assign_sub(alpha * m / (tf.sqrt(v) + self.epsilon))
        self.iterations.assign_add(1)


class Trainer:
    """Compiled train and evaluation steps for ``model`` (inputs -> logits) and its trainable variables.

    ``after_update()``, if given, runs inside the compiled step right after every optimizer update, so it
    must be TensorFlow ops (e.g. pruning masks re-applied: ``kernel.assign(kernel * mask)``).
    """

    def __init__(self, model: keras.Model, num_classes: int, learning_rate: float, total_steps: int,
                 label_smoothing: float = 0.0, class_weights: np.ndarray | None = None,
                 after_update: Callable[[], Any] | None = None) -> None:
        self.model = model
        self.variables = list(model.trainable_variables)
        if not self.variables:
            raise TrainingError("Nothing to train: every layer of the model is frozen.")
        self.optimizer = Adam(self.variables, learning_rate, total_steps)
        # Frozen-BatchNorm statistics never change; those of trainable BatchNorm layers are restored too.
        self._state = self.variables + [w for layer in model.layers if layer.trainable and
                                        isinstance(layer, keras.layers.BatchNormalization)
                                        for w in layer.non_trainable_weights]
        weights = tf.constant(np.ones(num_classes) if class_weights is None else class_weights, tf.float32)
        smoothing = float(label_smoothing)

        # Fixed signatures: the last, smaller batch of an epoch must not trigger a second trace.
        x_spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
        y_spec = tf.TensorSpec([None], tf.int32)

        # No autograph: no Python control flow depends on tensors here, and tracing is faster without it.
        @tf.function(input_signature=[x_spec, y_spec], autograph=False)
        def train_step(x, y):
            targets = tf.one_hot(y, num_classes)
            with tf.GradientTape() as tape:
                logits = tf.cast(model(x, training=True), tf.float32)
                per_sample = keras.losses.categorical_crossentropy(
                    targets, logits, from_logits=True, label_smoothing=smoothing)
                loss = tf.reduce_mean(per_sample * tf.gather(weights, y))
            grads = tape.gradient(loss, self.variables)
            self.optimizer.apply(grads)
            if after_update is not None:
                after_update()
            correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), y),
                                            tf.float32))
            return loss, correct

        @tf.function(input_signature=[x_spec], autograph=False)
        def logits_step(x):
            return tf.cast(model(x, training=False), tf.float32)

        self.train_step = train_step
        self.logits_step = logits_step

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.rate(self.optimizer.iterations))

    def predict(self, batches: Batches, stop_event: threading.Event | None = None,
                on_batch: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Logits ``(N, C)`` and labels ``(N,)`` for every batch, in inference mode."""
        logits, labels = [], []
        for x, y in batches:
            if stop_event is not None and stop_event.is_set():
                raise StopRequested
            logits.append(self.logits_step(tf.cast(x, tf.float32)).numpy())
            labels.append(np.asarray(y, np.int32))
            if on_batch is not None:
                on_batch()
        if not logits:
            return np.zeros((0, 0), np.float32), np.zeros((0,), np.int32)
        return np.concatenate(logits), np.concatenate(labels)

    def evaluate(self, batches: Batches, stop_event: threading.Event | None = None) -> tuple[float, float]:
        """Mean plain cross-entropy (no smoothing, no class weights) and accuracy over ``batches``."""
        logits, labels = self.predict(batches, stop_event)
        if not len(labels):
            return float("nan"), float("nan")
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(len(labels)), labels].mean()
        return float(loss), float((logits.argmax(axis=1) == labels).mean())

    def snapshot(self) -> list[np.ndarray]:
        return [v.numpy() for v in self._state]

    def restore(self, state: list[np.ndarray]) -> None:
        for variable, value in zip(self._state, state, strict=True):
            variable.assign(value)


def _check_finite(loss: float, phase: str, epoch: int, step: int, learning_rate: float) -> None:
    if not math.isfinite(loss):
        raise TrainingError(f"The training loss became {loss} in {phase}, epoch {epoch}, batch {step}; the "
                            f"learning rate ({learning_rate:g}) is probably too high for this data. Lower it "
                            "and train again.")


def fit(trainer: Trainer, train_batches: Callable[[int], Batches], steps_per_epoch: int,
        val_batches: Callable[[], Batches] | None, epochs: int, patience: int, phase: str, clock: Clock,
        listener: Listener, stop_event: threading.Event,
        transform: Callable[[Any, Any, int], Any] | None = None) -> StageResult:
    """Train for up to ``epochs``; keep the weights of the epoch with the lowest validation loss.

    ``train_batches(epoch)`` yields ``(x, labels)``; ``transform(x, labels, global_step)`` may replace
    a batch's inputs before the step (adversarial training). Raises :class:`StopRequested` within a
    batch of the stop event being set, and :class:`TrainingError` on a NaN loss.
    """
    result = StageResult(history={"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [],
                                  "learning_rate": [], "seconds": []})
    best_loss, best_state, waited = math.inf, None, 0
    global_step = 0
    clock.begin(phase)
    for epoch in range(1, epochs + 1):
        started = time.monotonic()
        loss_sum = correct = 0.0
        seen = 0
        for step, (x, y) in enumerate(train_batches(epoch), start=1):
            if stop_event.is_set():
                raise StopRequested
            y = tf.cast(y, tf.int32)
            if transform is not None:
                x = transform(x, y, global_step)
            loss, right = trainer.train_step(x, y)
            global_step += 1
            n = int(tf.shape(y)[0])
            batch_loss = float(loss)
            _check_finite(batch_loss, phase, epoch, step, trainer.learning_rate)
            loss_sum += batch_loss * n
            correct += float(right)
            seen += n
            clock.step()
            elapsed = time.monotonic() - started
            listener.on_batch(clock.stamp({
                "kind": "batch", "phase": phase, "epoch": epoch, "epochs": epochs, "step": step,
                "steps": steps_per_epoch, "batch_loss": batch_loss, "loss": loss_sum / seen,
                "accuracy": correct / seen, "images_per_second": seen / elapsed if elapsed > 0 else None,
            }))
        if stop_event.is_set():
            raise StopRequested
        val_loss, val_accuracy = trainer.evaluate(val_batches(), stop_event) if val_batches else (None, None)
        clock.resume()  # validation time is not a training step
        history = result.history
        history["loss"].append(loss_sum / max(seen, 1))
        history["accuracy"].append(correct / max(seen, 1))
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(val_accuracy)
        history["learning_rate"].append(trainer.learning_rate)
        history["seconds"].append(time.monotonic() - started)
        result.epochs_run = epoch
        improved = val_loss is None or (math.isfinite(val_loss) and val_loss < best_loss)
        if improved:
            waited, result.best_epoch = 0, epoch
            if val_loss is not None:
                best_loss, best_state = val_loss, trainer.snapshot()
        else:
            waited += 1
        early = bool(patience) and waited >= patience and epoch < epochs
        listener.on_epoch(clock.stamp({
            "kind": "epoch", "phase": phase, "epoch": epoch, "epochs": epochs, "loss": history["loss"][-1],
            "accuracy": history["accuracy"][-1], "val_loss": val_loss, "val_accuracy": val_accuracy,
            "learning_rate": history["learning_rate"][-1], "seconds": history["seconds"][-1],
            "best": improved, "early_stopping": early,
        }))
        if early:
            result.stopped_early = True
            break
    clock.finish(phase)
    if best_state is not None and val_batches is not None:
        trainer.restore(best_state)
    return result
