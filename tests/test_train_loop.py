"""Oracle tests of the training loop: Adam with cosine decay against Keras's, the weighted smoothed loss,
early stopping with the best weights kept, the stop event within a batch, the Listener's events, a
per-step transform (adversarial training), models freed after training, and the progress clock."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from core.train.events import Clock, Listener
from core.train.loop import Adam, StopRequested, Trainer, fit


def test_adam_matches_keras_adam_with_cosine_decay():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 3)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(7)]
    ours_var, keras_var = tf.Variable(start), tf.Variable(start)
    ours = Adam([ours_var], learning_rate=0.05, decay_steps=5)
    reference = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.05, decay_steps=5))
    for grad in grads:  # seven steps: past the end of the decay, where the rate stays at 0
        ours.apply([tf.constant(grad)])
        reference.apply([tf.constant(grad)], [keras_var])
        np.testing.assert_allclose(ours_var.numpy(), keras_var.numpy(), rtol=1e-5, atol=1e-6)
    assert float(ours.rate(5)) == pytest.approx(0.0, abs=1e-9)
    assert float(ours.rate(0)) == pytest.approx(0.05)


def _linear_model(inputs: int, classes: int) -> keras.Model:
    x = keras.Input((inputs,))
    return keras.Model(x, keras.layers.Dense(classes, kernel_initializer="zeros", name="logits")(x))


def test_loss_is_the_class_weighted_mean_of_smoothed_cross_entropy():
    model = _linear_model(2, 3)
    model.get_layer("logits").set_weights([np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -0.5]], np.float32),
                                           np.array([0.1, 0.0, -0.1], np.float32)])
    x = np.array([[1.0, 2.0], [0.5, -1.0], [-1.0, 0.0]], np.float32)
    y = np.array([0, 1, 2], np.int32)
    class_weights = np.array([2.0, 0.5, 1.0], np.float32)
    trainer = Trainer(model, 3, learning_rate=1e-3, total_steps=10, label_smoothing=0.1,
                      class_weights=class_weights)
    logits = x @ model.get_layer("logits").get_weights()[0] + model.get_layer("logits").get_weights()[1]
    loss, correct = trainer.train_step(tf.constant(x), tf.constant(y))
    # Independent computation: targets (1 - s) * onehot + s / C, cross-entropy of softmax(logits).
    targets = np.eye(3)[y] * 0.9 + 0.1 / 3
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = np.mean(-(targets * log_probs).sum(axis=1) * class_weights[y])
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(correct) == pytest.approx((logits.argmax(axis=1) == y).sum())


def _batches(x, y, size=4):
    return [(tf.constant(x[i:i + size]), tf.constant(y[i:i + size])) for i in range(0, len(x), size)]


def test_fit_keeps_the_weights_of_the_best_epoch_and_stops_early():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    val_x, val_y = rng.normal(size=(8, 2)).astype(np.float32), rng.integers(0, 2, 8).astype(np.int32)
    trainer = Trainer(_linear_model(2, 2), 2, learning_rate=0.5, total_steps=100)
    clock = Clock()
    clock.plan("stage1", 100)
    epochs: list[dict] = []

    class Keep(Listener):
        def on_epoch(self, event):
            epochs.append(event)

    result = fit(trainer, lambda epoch: _batches(x, y), 4, lambda: _batches(val_x, val_y), 25, 2, "stage1",
                 clock, Keep(), threading.Event())
    val_losses = result.history["val_loss"]
    best = int(np.argmin(val_losses)) + 1
    assert result.best_epoch == best
    assert result.stopped_early == (result.epochs_run < 25)
    if result.stopped_early:
        assert result.epochs_run == best + 2  # patience 2
    assert trainer.evaluate(_batches(val_x, val_y))[0] == pytest.approx(val_losses[best - 1], rel=1e-5)
    assert [e["best"] for e in epochs].count(True) >= 1


def test_fit_stops_within_a_batch():
    x = np.zeros((40, 2), np.float32)
    y = np.zeros(40, np.int32)
    stop = threading.Event()
    seen = []

    class StopAtThird(Listener):
        def on_batch(self, event):
            seen.append(event["step"])
            if event["step"] == 3:
                stop.set()

    trainer = Trainer(_linear_model(2, 2), 2, learning_rate=0.1, total_steps=10)
    with pytest.raises(StopRequested):
        fit(trainer, lambda epoch: _batches(x, y), 10, None, 5, 0, "stage1", Clock(), StopAtThird(), stop)
    assert seen == [1, 2, 3]


def test_the_rate_follows_the_cosine_decay_to_zero():
    x, y = np.ones((8, 2), np.float32), np.zeros(8, np.int32)
    trainer = Trainer(_linear_model(2, 2), 2, learning_rate=0.1, total_steps=6)
    result = fit(trainer, lambda epoch: _batches(x, y), 2, None, 4, 0, "stage1", Clock(), Listener(),
                 threading.Event())
    # After epoch e, 2e steps are done: lr * (1 + cos(pi * min(2e, 6) / 6)) / 2, then 0 past the end.
    expected = [0.1 * 0.5 * (1 + np.cos(np.pi * min(2 * e, 6) / 6)) for e in range(1, 5)]
    np.testing.assert_allclose(result.history["learning_rate"], expected, atol=1e-7)
    assert result.best_epoch == 4 and result.epochs_run == 4  # no validation: the last epoch is kept


def test_without_patience_the_best_weights_are_still_kept():
    """Patience 0 never stops early, but the epoch with the lowest validation loss is the one kept."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    val_x = rng.normal(size=(8, 2)).astype(np.float32)
    val_y = 1 - (val_x[:, 0] > 0).astype(np.int32)  # the opposite rule: validation loss rises as it learns
    trainer = Trainer(_linear_model(2, 2), 2, learning_rate=0.3, total_steps=100)
    result = fit(trainer, lambda epoch: _batches(x, y), 4, lambda: _batches(val_x, val_y), 6, 0, "stage1",
                 Clock(), Listener(), threading.Event())
    val_losses = result.history["val_loss"]
    assert result.epochs_run == 6 and not result.stopped_early
    assert result.best_epoch == int(np.argmin(val_losses)) + 1 < 6
    assert trainer.evaluate(_batches(val_x, val_y))[0] == pytest.approx(min(val_losses), rel=1e-5)


def test_a_stop_during_validation_ends_the_stage_before_its_epoch_is_reported():
    x, y = np.zeros((8, 2), np.float32), np.zeros(8, np.int32)
    stop = threading.Event()
    read: list[int] = []
    epochs: list[dict] = []

    def val_batches():
        for i, batch in enumerate(_batches(x, y, size=2)):
            read.append(i)
            if i == 1:
                stop.set()  # set while validation runs
            yield batch

    class Keep(Listener):
        def on_epoch(self, event):
            epochs.append(event)

    trainer = Trainer(_linear_model(2, 2), 2, learning_rate=0.1, total_steps=10)
    with pytest.raises(StopRequested):
        fit(trainer, lambda epoch: _batches(x, y), 2, val_batches, 3, 0, "stage1", Clock(), Keep(), stop)
    assert epochs == [] and len(read) <= 3  # within a validation batch of the request


def test_every_batch_and_epoch_reaches_the_listener():
    x = np.zeros((10, 2), np.float32)
    y = np.array([0, 1] * 5, np.int32)
    events: list[dict] = []

    class Keep(Listener):
        def on_batch(self, event):
            events.append(event)

        def on_epoch(self, event):
            events.append(event)

    clock = Clock()
    clock.plan("stage1", 6, cost=0.01)
    trainer = Trainer(_linear_model(2, 2), 2, learning_rate=0.1, total_steps=6)
    fit(trainer, lambda epoch: _batches(x, y), 3, lambda: _batches(x, y), 2, 0, "stage1", clock, Keep(),
        threading.Event())
    kinds = [(e["kind"], e["epoch"], e.get("step")) for e in events]
    assert kinds == [("batch", 1, 1), ("batch", 1, 2), ("batch", 1, 3), ("epoch", 1, None),
                     ("batch", 2, 1), ("batch", 2, 2), ("batch", 2, 3), ("epoch", 2, None)]
    last = events[2]  # batches of 4, 4 and 2: running means over the 10 images of the epoch
    assert last["steps"] == 3 and last["epochs"] == 2 and last["phase"] == "stage1"
    assert last["accuracy"] == pytest.approx(0.5) and np.isfinite(last["batch_loss"])
    assert 0.0 < last["progress"] <= 1.0 and "eta_seconds" in last
    epoch = events[3]
    assert epoch["val_loss"] == pytest.approx(np.log(2), rel=1e-3) and epoch["val_accuracy"] == 0.5
    assert epoch["best"] is True and epoch["early_stopping"] is False
    assert clock.phases["stage1"].done == 6


def test_a_transform_replaces_every_training_batch_with_a_new_step_number():
    """Adversarial training's hook: called every step with its step number, and the step trains on it."""
    rng = np.random.default_rng(4)
    x = rng.uniform(1, 2, size=(12, 2)).astype(np.float32)
    y = np.zeros(12, np.int32)  # on zero inputs only the bias can learn to say class 0
    calls: list[tuple[int, int]] = []

    def transform(images, labels, step):
        calls.append((step, int(images.shape[0])))
        return tf.zeros_like(images)  # a step on zeros leaves the kernel unchanged

    model = _linear_model(2, 2)
    trainer = Trainer(model, 2, learning_rate=0.1, total_steps=6)
    fit(trainer, lambda epoch: _batches(x, y, size=4), 3, lambda: _batches(x, y), 2, 0, "stage1", Clock(),
        Listener(), threading.Event(), transform)
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4), (5, 4)]
    kernel, bias = model.get_layer("logits").get_weights()
    assert np.all(kernel == 0) and np.any(bias != 0), "the steps did not train on the transformed batches"


def test_a_finished_training_leaves_its_model_to_the_garbage_collector():
    """A server trains many models in one process: training must not keep any of them (on Keras fit,
    TensorFlow held a from_generator dataset's generator, and with it the model: bench/fit_loop.py)."""
    import gc
    import weakref

    x, y = np.ones((8, 2), np.float32), np.zeros(8, np.int32)
    model = _linear_model(2, 2)
    trainer = Trainer(model, 2, learning_rate=0.1, total_steps=4)
    fit(trainer, lambda epoch: _batches(x, y), 2, lambda: _batches(x, y), 2, 0, "stage1", Clock(), Listener(),
        threading.Event())
    refs = [weakref.ref(model), weakref.ref(trainer)]
    del model, trainer
    gc.collect()
    assert [ref() for ref in refs] == [None, None]


def test_clock_estimates_progress_and_eta():
    clock = Clock()
    clock.plan("features", 10, cost=1.0)
    clock.plan("stage1", 100, cost=0.01)
    assert clock.eta() is None and clock.progress() == 0.0
    clock.begin("features")
    for _ in range(5):
        clock.phases["features"].done += 1
        clock.phases["features"].seconds += 0.2  # 0.2 s per feature batch
    # 5 feature batches left at 0.2 s, 100 head steps at 0.2 * 0.01 s.
    assert clock.eta() == pytest.approx(5 * 0.2 + 100 * 0.002)
    clock.finish("features")
    assert clock.phases["features"].steps == 5
    event = clock.stamp({"kind": "batch"})
    assert 0.0 <= event["progress"] <= 1.0 and event["eta_seconds"] == pytest.approx(0.2, abs=0.01)
