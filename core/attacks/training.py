"""Adversarial examples for adversarial fine-tuning (the training engine calls this per batch)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from core.attacks.defences import Defence
from core.attacks.registry import create_attack


def adversarial_batch(model: Any, images: Any, labels: Any, method: str = "pgd", eps: float = 8.0,
                      defence: Defence | None = None, bpda: bool = True, **params: Any) -> Any:
    """Adversarial versions of one training batch against the model's current weights.

    ``images``: float32 raw pixels ``(N, H, W, 3)``; a tf.Tensor in gives a tf.Tensor out (this also
    works inside a ``tf.function`` train step), numpy in gives numpy out. ``labels``: true classes,
    ``(N,)`` ints or one-hot ``(N, C)``. ``params`` are the method's other parameters, e.g.
    ``steps=7`` for PGD; pass a different ``seed`` per step (e.g. the step number) so that PGD's random
    start varies. The attack runs the model in inference mode (``training=False``); compiled functions
    are cached per model, so calling this every step does not retrace.
    """
    attack = create_attack(method, eps=eps, **params)
    batch_size = 1 if tf.is_tensor(images) else max(1, len(images))  # a tensor is always one batch
    return attack.perturb(model, images, labels=labels, defence=defence, bpda=bpda, batch_size=batch_size)
