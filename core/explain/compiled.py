"""A bounded cache of compiled (``tf.function``) hot paths, one small LRU per model.

Tracing a ``tf.function`` through ResNet50 takes a second or more; calling the traced graph costs
about one forward pass. So each (model, layer, method, target kind) is compiled once and reused.
The cache holds models weakly (an entry disappears with its model) and keeps at most
:data:`MAX_PER_MODEL` functions per model, so a long-running server does not grow.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import keras
import tensorflow as tf

T = TypeVar("T")


class _OwnTracesFilter(logging.Filter):
    """Hide TensorFlow's "excessive retracing" warning about our own functions.

    Each (model, layer, method) gets its own ``tf.function`` that traces exactly once, by design; TF
    counts traces per Python source function and would warn after a few layers or models.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("tf.function retracing" in message and "._compile" in message)


logging.getLogger("tensorflow").addFilter(_OwnTracesFilter())

MAX_PER_MODEL = 12  # e.g. 7 methods x a couple of layers

_lock = threading.RLock()
_cache: weakref.WeakKeyDictionary[keras.Model, OrderedDict] = weakref.WeakKeyDictionary()


def cached(model: keras.Model, key: Hashable, build: Callable[[], T]) -> T:
    """``build()`` once per ``(model, key)``; least recently used entries beyond the cap are dropped."""
    with _lock:
        per_model = _cache.get(model)
        if per_model is None:
            per_model = _cache[model] = OrderedDict()
        if key in per_model:
            per_model.move_to_end(key)
            return per_model[key]
        value = per_model[key] = build()
        while len(per_model) > MAX_PER_MODEL:
            per_model.popitem(last=False)
        return value


def cache_size(model: keras.Model | None = None) -> int:
    """Entries cached for ``model`` (all models when ``None``)."""
    with _lock:
        if model is not None:
            return len(_cache.get(model, ()))
        return sum(len(v) for v in _cache.values())


def clear(model: keras.Model | None = None) -> None:
    """Drop the compiled functions of ``model`` (of every model when ``None``)."""
    with _lock:
        if model is None:
            _cache.clear()
        else:
            _cache.pop(model, None)


def input_spec(model: keras.Model) -> tf.TensorSpec:
    """``(None, H, W, C)`` float32 spec of the model's pixel input (H, W may be ``None``)."""
    return tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)


INDEX_SPEC = tf.TensorSpec([None], tf.int32)
