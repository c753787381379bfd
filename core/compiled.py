"""The one cache of compiled (``tf.function``) functions, and the one compiled forward pass.

Tracing a ``tf.function`` through ResNet50 takes a second or more; calling the traced graph costs about
one forward pass. So each function is compiled once per (model, what, layer, ...) and reused:
explanation methods, attacks, feature maps, filter visualisation and the trust curves all go through
:func:`get`. The cache is one LRU with two bounds - :data:`MAX_PER_MODEL` functions per model and
:data:`MAX_ENTRIES` in all - so a long-running server holding many models does not grow. Entries hold
their model weakly: a model's entries go when the model does, and what they trace refers to its layers
and weights, not to the model object.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import keras
import tensorflow as tf

from core.modelgraph import logits_model

T = TypeVar("T")

MAX_PER_MODEL = 16  # e.g. 7 explanation methods x a couple of layers, a forward and an attack
MAX_ENTRIES = 48  # over every model: the oldest entry is dropped first

# Functions built here trace once each, by design; TensorFlow counts traces per Python source function
# and would warn of "retracing" after a few models or layers. Names of our builders' inner functions:
_OWN_TRACES = ("._compile", "_compile_", "_build_step", "core.compiled", "attack_fn.<locals>",
               "forward.<locals>", "_compiled_activations.<locals>")


class _OwnTracesFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("retracing" in message and any(mark in message for mark in _OWN_TRACES))


logging.getLogger("tensorflow").addFilter(_OwnTracesFilter())

_lock = threading.RLock()  # re-entrant: a builder may look up another entry (an attack its logits)
_cache: OrderedDict[tuple[int, Hashable], Any] = OrderedDict()  # (id(model), key) -> compiled function
_models: dict[int, weakref.ref] = {}  # id(model) -> a weak reference that reports the model's end
_dead: list[int] = []  # ids of models gone since the last look (appended by the weak references)


def _purge() -> None:
    """Drop the entries of models that no longer exist (called with the lock held)."""
    while _dead:
        gone = _dead.pop()
        if gone in _models and _models[gone]() is None:
            del _models[gone]
            for slot in [s for s in _cache if s[0] == gone]:
                del _cache[slot]


def get(model: keras.Model, key: Hashable, build: Callable[[], T]) -> T:
    """``build()`` once per ``(model, key)``; least recently used entries beyond the bounds are dropped."""
    with _lock:
        _purge()
        slot = (id(model), key)
        if slot in _cache:
            _cache.move_to_end(slot)
            return _cache[slot]
        value = build()
        if id(model) not in _models:
            _models[id(model)] = weakref.ref(model, lambda _, mid=id(model): _dead.append(mid))
        _cache[slot] = value
        _cache.move_to_end(slot)
        own = [s for s in _cache if s[0] == id(model)]
        for old in own[:max(0, len(own) - MAX_PER_MODEL)]:
            del _cache[old]
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
        return value


def cache_size(model: keras.Model | None = None) -> int:
    """Entries cached for ``model`` (for every model when ``None``)."""
    with _lock:
        _purge()
        return sum(1 for s in _cache if model is None or s[0] == id(model))


def clear(model: keras.Model | None = None) -> None:
    """Drop the compiled functions of ``model`` (of every model when ``None``)."""
    with _lock:
        for slot in [s for s in _cache if model is None or s[0] == id(model)]:
            del _cache[slot]


def input_spec(model: keras.Model) -> tf.TensorSpec:
    """``(None, H, W, C)`` float32 spec of the model's pixel input (H, W may be ``None``)."""
    return tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)


INDEX_SPEC = tf.TensorSpec([None], tf.int32)


def logits(model: keras.Model) -> keras.Model:
    """``pixels -> logits`` of ``model`` (:func:`core.modelgraph.logits_model`), built once."""
    return get(model, ("logits",), lambda: logits_model(model))


def _defence_key(defence: Any) -> tuple | None:
    return defence.key() if defence is not None else None


def _pixels(defence: Any, bpda: bool) -> Callable[[tf.Tensor], tf.Tensor]:
    """What runs in front of the model: nothing, the defence, or the defence with BPDA's gradient."""
    if defence is None:
        return tf.identity
    if bpda:
        from core.attacks.defences import straight_through

        return lambda x: straight_through(defence.transform, x)
    return defence.transform


def forward(model: keras.Model, defence: Any = None) -> Callable[[tf.Tensor], tf.Tensor]:
    """The compiled ``pixels -> probabilities`` of the classifier (behind a ``core.attacks`` defence)."""
    def build() -> Callable:
        pixels, net = _pixels(defence, bpda=False), weakref.ref(model)  # the entry must not keep it alive
        return tf.function(lambda x: net()(pixels(x), training=False), input_signature=[input_spec(model)])
    return get(model, ("forward", _defence_key(defence)), build)


def attack_fn(model: keras.Model, attack: Any, defence: Any = None, bpda: bool = True) -> Callable:
    """Compiled ``(x, start, label, direction, dyn, rng) -> adversarial x`` for a ``core.attacks`` attack.

    ``x`` is the clean batch (what the eps-ball is around), ``start`` where the steps begin (``x``, or
    where the previous run of an iterative attack stopped, so long attacks run in chunks with progress
    between them).

    ``direction`` is +1 to increase the loss of ``label`` (untargeted) or -1 to decrease it (targeted);
    ``dyn`` holds the attack's numeric parameters as scalar tensors, so a robustness curve over many
    epsilons reuses one graph; ``rng`` is a stateless seed. Only what changes the graph (the attack, its
    static switches, the defence, BPDA on or off) is part of the key.
    """
    dyn_values = attack._dynamic_values()
    key = ("attack", attack.name, attack._static_key(), _defence_key(defence),
           bool(bpda) if defence is not None else None)

    def build() -> Callable:
        net = logits(model)
        pixels = _pixels(defence, bpda)

        def loss_gradient(x: tf.Tensor, label: tf.Tensor) -> tf.Tensor:
            # Cross-entropy on the logits (not the probabilities: softmax saturation hides gradients),
            # summed so that each image's gradient does not depend on the batch size.
            with tf.GradientTape() as tape:
                tape.watch(x)
                z = tf.cast(net(pixels(x), training=False), tf.float32)
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label, logits=z))
            return tape.gradient(loss, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        dyn_spec = {k: tf.TensorSpec([], tf.int32 if isinstance(v, int) else tf.float32)
                    for k, v in dyn_values.items()}
        signature = [input_spec(model), input_spec(model), INDEX_SPEC, tf.TensorSpec([], tf.float32), dyn_spec,
                     tf.TensorSpec([2], tf.int32)]

        @tf.function(input_signature=signature)
        def run(x, start, label, direction, dyn, rng):
            return attack._graph(loss_gradient, x, start, label, direction, dyn, rng)

        return run

    return get(model, key, build)
