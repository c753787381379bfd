"""Compiled attack and forward functions, cached per (model, configuration) in a bounded LRU cache.

Compiling once per model and configuration is what makes attacks fast; bounding the cache is what
keeps a long-running server from growing. Numbers such as ``eps`` or ``steps`` are passed to the
compiled function as tensors, so a robustness curve over many epsilons reuses one graph; only what
changes the graph (the attack, its static switches, the defence, BPDA on or off) is part of the key.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from core.attacks.defences import Defence, straight_through
from core.modelgraph import logits_model

MAX_ENTRIES = 16  # compiled functions kept alive (each holds its model); the oldest is dropped first


def _not_our_tracing(record: logging.LogRecord) -> bool:
    # TensorFlow warns about "frequent retracing" when several compiled variants built from the same
    # Python closure each trace once (one per model/defence); that is intended here, not a retrace.
    message = record.getMessage()
    return "attack_fn.<locals>" not in message and "forward_fn.<locals>" not in message


logging.getLogger("tensorflow").addFilter(_not_our_tracing)


class _BoundedCache:
    """A thread-safe LRU of ``key -> (model, value)``; holding the model keeps ``id(model)`` unique."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.RLock()  # re-entrant: a factory may look up another entry

    def get(self, key: tuple, model: Any, factory: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is model:
                self._entries.move_to_end(key)
                return entry[1]
            value = factory()
            self._entries[key] = (model, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_CACHE = _BoundedCache(MAX_ENTRIES)


def clear_cache() -> None:
    """Drop every compiled function (tests, or to free memory after unloading a model)."""
    _CACHE.clear()


def cache_size() -> int:
    return len(_CACHE)


def image_spec(model: keras.Model) -> tf.TensorSpec:
    """``(None, H, W, 3)`` float32, from the model's input."""
    return tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)


def _defence_key(defence: Defence | None) -> tuple | None:
    return defence.key() if defence is not None else None


def _pixels(defence: Defence | None, bpda: bool) -> Callable[[tf.Tensor], tf.Tensor]:
    """What the attack differentiates in front of the model: nothing, the defence, or BPDA through it."""
    if defence is None:
        return tf.identity
    if bpda:
        return lambda x: straight_through(defence.transform, x)
    return defence.transform


def _logits(model: keras.Model) -> keras.Model:
    return _CACHE.get(("logits", id(model)), model, lambda: logits_model(model))


def forward_fn(model: keras.Model, defence: Defence | None = None) -> Callable[[tf.Tensor], tf.Tensor]:
    """Compiled ``x -> probabilities`` of the (possibly defended) classifier."""
    def build() -> Callable:
        pixels = _pixels(defence, bpda=False)
        return tf.function(lambda x: model(pixels(x), training=False), input_signature=[image_spec(model)])
    return _CACHE.get(("forward", id(model), _defence_key(defence)), model, build)


def attack_fn(model: keras.Model, attack: Any, defence: Defence | None = None, bpda: bool = True) -> Callable:
    """Compiled ``(x, label, direction, dyn, rng) -> adversarial x`` for ``attack`` on ``model``.

    ``direction`` is +1 to increase the loss of ``label`` (untargeted) or -1 to decrease it (targeted);
    ``dyn`` holds the attack's numeric parameters as scalar tensors; ``rng`` is a stateless seed.
    """
    dyn_values = attack._dynamic_values()
    key = ("attack", id(model), attack.name, attack._static_key(), _defence_key(defence),
           bool(bpda) if defence is not None else None)

    def build() -> Callable:
        logits = _logits(model)
        pixels = _pixels(defence, bpda)

        def loss_gradient(x: tf.Tensor, label: tf.Tensor) -> tf.Tensor:
            # Cross-entropy on the logits (not the probabilities: softmax saturation hides gradients),
            # summed so that each image's gradient does not depend on the batch size.
            with tf.GradientTape() as tape:
                tape.watch(x)
                z = tf.cast(logits(pixels(x), training=False), tf.float32)
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label, logits=z))
            return tape.gradient(loss, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        dyn_spec = {k: tf.TensorSpec([], tf.int32 if isinstance(v, int) else tf.float32)
                    for k, v in dyn_values.items()}
        signature = [image_spec(model), tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.float32),
                     dyn_spec, tf.TensorSpec([2], tf.int32)]

        @tf.function(input_signature=signature)
        def run(x, label, direction, dyn, rng):
            return attack._graph(loss_gradient, x, label, direction, dyn, rng)

        return run

    return _CACHE.get(key, model, build)
