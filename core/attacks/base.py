"""The attack base class: input checks, labels and targets, batching, predictions before and after.

Each attack (``fgsm.py``, ``pgd.py``) declares its parameters and writes one hook, :meth:`Attack._graph`,
in TensorFlow ops; the base compiles it per model and configuration (``compiled.py``). Perturbations
live in pixel space (0..255, the model's own preprocessing comes after) and every result is clipped to
valid pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from core import compiled
from core.attacks.defences import Defence
from core.attacks.result import AttackResult
from core.errors import ParameterError
from core.i18n import N_
from core.params import Configurable, Param
from core.progress import Progress, report
from core.zoo.loaded import LoadedModel, as_loaded

PROGRESS_STEPS = 10  # steps of an iterative attack between two progress reports (when someone listens)
EPS_PARAM = Param("eps", float, 8.0, N_("largest change of any pixel (L-infinity), in 0..255 pixel levels"),
                  min=0.0, max=255.0, unit="pixels", label=N_("epsilon (pixel levels, of 255)"))


def keras_model(model: LoadedModel | keras.Model) -> keras.Model:
    """The Keras model of a ``LoadedModel`` or a ``keras.Model`` (core.zoo.loaded.as_loaded)."""
    return as_loaded(model).model


def num_classes(model: Any) -> int:
    return int(keras_model(model).outputs[0].shape[-1])


def as_pixels(images: Any, model: Any) -> np.ndarray:
    """``images`` as float32 ``(N, H, W, 3)`` raw pixels at the model's size, or a ParameterError."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ParameterError(f"images must be RGB arrays of shape (N, H, W, 3), got shape {x.shape}.")
    expected = tuple(keras_model(model).inputs[0].shape[1:3])
    if None not in expected and x.shape[1:3] != expected:
        raise ParameterError(f"images must be {expected[0]}x{expected[1]} for this model (resize them with "
                             f"core.images.resize_for_model), got {x.shape[1]}x{x.shape[2]}.")
    if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 255):
        raise ParameterError(f"images must be raw pixels in 0..255, got values from {np.nanmin(x):g} to "
                             f"{np.nanmax(x):g}.")
    return x


def check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ParameterError(f"batch_size must be a whole number of at least 1, got {batch_size!r}.")


def predict_probs(model: Any, images: Any, defence: Defence | None = None,
                  batch_size: int = 32) -> np.ndarray:
    """Probabilities of the (possibly defended) classifier, batched and compiled."""
    check_batch_size(batch_size)
    x = as_pixels(images, model)
    forward = compiled.forward(keras_model(model), defence)
    with as_loaded(model).lock:
        outs = [forward(tf.constant(x[i:i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0, num_classes(model)), np.float32)


def class_labels(values: Any, n: int, classes: int, parameter: str) -> np.ndarray:
    """Class indices ``(n,)`` from one index, ``n`` indices or ``n`` one-hot rows.

    Errors name ``parameter``."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape == (n, classes):
        arr = arr.argmax(axis=1)  # one-hot (or probabilities)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,) or not (np.issubdtype(arr.dtype, np.integer) or
                                 (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)))):
        raise ParameterError(f"{parameter} must be one class index or one per image ({n}), got {values!r}.")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= classes):
        bad = int(arr[(arr < 0) | (arr >= classes)][0])
        raise ParameterError(f"{parameter} must be a class index from 0 to {classes - 1}, got {bad}.")
    return arr.astype(np.int32)


def _resolve_target(model: Any, target: Any) -> Any:
    """A class name becomes its index when the model knows its class names (a zoo LoadedModel)."""
    if isinstance(target, str):
        if hasattr(model, "class_index"):
            return model.class_index(target, "target")
        if not target.strip().isdigit():
            raise ParameterError(f"target: unknown class {target!r}; give a class index (this model has no "
                                 "class names).")
        return int(target)
    return target


class Attack(Configurable):
    """An evasion attack bounded in L-infinity by ``eps`` pixel levels.

    Untargeted attacks increase the cross-entropy of the true label (or of the clean prediction when no
    labels are given); targeted attacks decrease the cross-entropy of the target class.
    """

    # Parameters baked into the compiled graph (booleans); every other number is passed as a tensor.
    static_params: ClassVar[tuple[str, ...]] = ()

    @property
    def eps(self) -> float:
        return self.values["eps"]

    # -- hooks -------------------------------------------------------------------------------------
    def _graph(self, loss_gradient, x: tf.Tensor, start: tf.Tensor, label: tf.Tensor, direction: tf.Tensor,
               dyn: dict[str, tf.Tensor], rng: tf.Tensor) -> tf.Tensor:
        """The attack in TensorFlow ops. It may read from ``self.values`` only the ``static_params``
        (the compiled graph is shared by attacks that differ in the others); numbers come in ``dyn``.
        ``loss_gradient(x, label)`` is the gradient of the summed cross-entropy with respect to ``x``;
        ``start`` is where an iterative attack's steps begin (``x`` unless it runs in chunks)."""
        raise NotImplementedError

    def _dynamic_values(self) -> dict[str, int | float]:
        """Numeric parameters passed to the graph as scalar tensors (automatic values resolved)."""
        return {"eps": self.eps}

    def chunks(self, every: int) -> list[dict[str, int]]:
        """How the attack runs in pieces with progress between them: overrides of its dynamic values,
        one dict per piece (an iterative attack splits its steps); one piece by default."""
        return [{}]

    def _static_key(self) -> tuple:
        return tuple((name, self.values[name]) for name in self.static_params)

    # -- running -----------------------------------------------------------------------------------
    def _labels(self, model: Any, n: int, labels: Any, target: Any, probs: np.ndarray | None) -> np.ndarray:
        classes = num_classes(model)
        if target is not None:
            return class_labels(_resolve_target(model, target), n, classes, "target")
        if labels is not None:
            return class_labels(labels, n, classes, "labels")
        assert probs is not None
        return probs.argmax(axis=1).astype(np.int32)

    @staticmethod
    def _tensor_labels(net: keras.Model, x: tf.Tensor, labels: Any, target: Any,
                       defence: Defence | None) -> tf.Tensor:
        """Labels as an int32 tensor, without leaving TensorFlow (no range checks: graph mode)."""
        if target is not None:
            return tf.broadcast_to(tf.cast(target, tf.int32), tf.shape(x)[:1])
        if labels is None:
            return tf.argmax(compiled.forward(net, defence)(x), axis=1, output_type=tf.int32)
        labels = tf.convert_to_tensor(labels)
        if labels.shape.rank == 2:  # one-hot
            labels = tf.argmax(labels, axis=1)
        return tf.cast(labels, tf.int32)

    def _run(self, model: keras.Model, x: tf.Tensor, label: tf.Tensor, targeted: bool,
             defence: Defence | None, bpda: bool, batch_index: int = 0, start: tf.Tensor | None = None,
             overrides: dict[str, int] | None = None) -> tf.Tensor:
        fn = compiled.attack_fn(model, self, defence, bpda)
        values = {**self._dynamic_values(), **(overrides or {})}
        dyn = {k: tf.constant(v, tf.int32 if isinstance(v, int) else tf.float32) for k, v in values.items()}
        rng = tf.constant([self.values.get("seed", 0), batch_index], tf.int32)
        return fn(x, x if start is None else start, label, tf.constant(-1.0 if targeted else 1.0), dyn, rng)

    def perturb(self, model: Any, images: Any, labels: Any = None, target: Any = None,
                defence: Defence | None = None, bpda: bool = True, batch_size: int = 32) -> Any:
        """Adversarial images only (no predictions): a tf.Tensor for a tensor input, else numpy.

        ``labels``: true classes (index per image or one-hot); None attacks the clean prediction.
        ``target``: a class (index, or name for a zoo model) or one per image, for a targeted attack.
        ``defence``: attack the defended classifier; ``bpda`` differentiates it as the identity.
        """
        net = keras_model(model)
        if tf.is_tensor(images):  # one batch, e.g. inside a training step (works in graph mode too)
            x = tf.cast(images, tf.float32)
            label = self._tensor_labels(net, x, labels, target, defence)
            return self._run(net, x, label, target is not None, defence, bpda)
        x = as_pixels(images, model)
        probs = predict_probs(net, x, defence, batch_size) if target is None and labels is None else None
        label = self._labels(model, len(x), labels, target, probs)
        return self._perturb_array(net, x, label, target is not None, defence, bpda, batch_size)

    def iter_batches(self, model: Any, x: np.ndarray, label: np.ndarray, targeted: bool = False,
                     defence: Defence | None = None, bpda: bool = True,
                     batch_size: int = 32, progress: Progress | None = None) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(rows, adversarial rows)`` batch by batch, for checked pixels ``x`` and int ``label``
        (so that callers such as robustness curves never hold every adversarial image at once).

        With ``progress(fraction, text)`` (:mod:`core.progress`) an iterative attack runs its steps in
        chunks (the same result) and reports after each."""
        check_batch_size(batch_size)
        net, lock = keras_model(model), as_loaded(model).lock
        pieces = self.chunks(PROGRESS_STEPS) if progress is not None else [{}]
        batches = range(0, len(x), batch_size)
        for b, first in enumerate(batches):
            rows = slice(first, first + batch_size)
            clean, labels = tf.constant(x[rows]), tf.constant(label[rows])
            adversarial, done = clean, 0
            for piece in pieces:
                with lock:  # the model's lock, per piece: never held across a report or the yield
                    adversarial = self._run(net, clean, labels, targeted, defence, bpda, batch_index=b,
                                            start=adversarial, overrides=piece)
                done += piece.get("steps", 1)
                if progress is not None:
                    total = sum(p.get("steps", 1) for p in pieces)
                    report(progress, (b + done / total) / len(batches),
                           f"{self.title}: step {done} of {total}"
                           + (f", batch {b + 1} of {len(batches)}" if len(batches) > 1 else ""))
            yield rows, adversarial.numpy()

    def _perturb_array(self, net: keras.Model, x: np.ndarray, label: np.ndarray, targeted: bool,
                       defence: Defence | None, bpda: bool, batch_size: int,
                       progress: Progress | None = None) -> np.ndarray:
        outs = [adv for _, adv in self.iter_batches(net, x, label, targeted, defence, bpda, batch_size, progress)]
        return np.concatenate(outs) if outs else x.copy()

    def generate(self, model: Any, images: Any, labels: Any = None, target: Any = None,
                 defence: Defence | None = None, bpda: bool = True, batch_size: int = 32,
                 progress: Progress | None = None) -> AttackResult:
        """Attack ``images`` (float32 raw pixels at the model's size) and report before/after predictions.

        Arguments as in :meth:`perturb`; ``progress(fraction, text)`` hears of each chunk of steps.
        Predictions are those of the defended classifier when a defence is given. Results are
        deterministic for a given seed and batch size.
        """
        net = keras_model(model)
        x = as_pixels(images, model)
        probs_before = predict_probs(net, x, defence, batch_size)
        label = self._labels(model, len(x), labels, target, probs_before)
        adversarial = self._perturb_array(net, x, label, target is not None, defence, bpda, batch_size, progress)
        probs_after = predict_probs(net, adversarial, defence, batch_size)
        return AttackResult(method=self.name, params=dict(self.values), original=x, adversarial=adversarial,
                            labels=label, targeted=target is not None, probs_before=probs_before,
                            probs_after=probs_after, defence=defence.name if defence is not None else None,
                            bpda=bool(bpda) and defence is not None)
