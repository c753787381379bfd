"""Magnitude pruning: ``prune:SPARSITY`` zeroes the smallest-magnitude ``SPARSITY`` of every kernel (layer by
layer, Dense and convolution kernels; biases and BatchNorm untouched), then fine-tunes briefly on the run's
training images with the masks re-applied after every optimizer update (``Trainer(after_update=...)``), so
the saved kernels are exactly that sparse. Keras 3 has no pruning API; masks in the loop are all it needs.
The file is a dense ``.keras``: zeros shrink only when deflated, which the lab reports beside the size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from core.compress.variants import KINDS, VariantSpec

FINETUNE_EPOCHS = 2
FINETUNE_RATE = 5e-4  # small: the fine-tune repairs the pruned weights, it does not retrain
BATCH = 32


def kernels(model: Any) -> list[Any]:
    """The kernels pruned: every layer's ``kernel`` (Dense, Conv2D) or ``depthwise_kernel`` variable."""
    found, seen = [], set()
    stack = list(reversed(model.layers))
    while stack:
        layer = stack.pop()
        stack.extend(reversed(getattr(layer, "layers", [])))  # nested models (a backbone)
        for attribute in ("kernel", "depthwise_kernel"):
            variable = getattr(layer, attribute, None)
            if variable is not None and hasattr(variable, "assign") and id(variable) not in seen:
                seen.add(id(variable))
                found.append(variable)
    return found


def magnitude_mask(values: np.ndarray, sparsity: float) -> np.ndarray:
    """1 where kept, 0 for the ``round(sparsity * size)`` smallest magnitudes (exact count, ties by order)."""
    flat = np.abs(values).ravel()
    mask = np.ones(flat.size, np.float32)
    mask[np.argsort(flat, kind="stable")[:int(round(sparsity * flat.size))]] = 0.0
    return mask.reshape(values.shape)


def measured_sparsity(model: Any) -> float:
    """The fraction of exact zeros over every kernel of ``model``."""
    values = [np.asarray(v.numpy()) for v in kernels(model)]
    return float(sum(int((v == 0).sum()) for v in values) / max(sum(v.size for v in values), 1))


def _build(context: Any, spec: VariantSpec, folder: Path) -> dict[str, Any]:
    from core.train.events import Clock, Listener
    from core.train.heads import logits_of
    from core.train.loop import Trainer, fit
    from core.zoo.files import load_keras_file

    model = load_keras_file(context.model_file)  # a copy of its own: the original is measured against
    variables = kernels(model)
    masks = [tf.constant(magnitude_mask(v.numpy(), spec.sparsity)) for v in variables]

    def apply_masks() -> None:
        for variable, mask in zip(variables, masks, strict=True):
            variable.assign(variable * tf.cast(mask, variable.dtype))

    apply_masks()
    images, labels = context.train_images()
    steps = -(-len(images) // BATCH)
    trainer = Trainer(logits_of(model), int(model.outputs[0].shape[-1]), FINETUNE_RATE, steps * FINETUNE_EPOCHS,
                      after_update=apply_masks)
    order = np.random.default_rng(0)

    def batches(epoch: int):
        shuffled = order.permutation(len(images))
        for i in range(0, len(images), BATCH):
            pick = shuffled[i:i + BATCH]
            yield images[pick].astype(np.float32), labels[pick].astype(np.int32)

    fit(trainer, batches, steps, None, FINETUNE_EPOCHS, 0, f"prune {spec.sparsity:g}", Clock(), Listener(),
        context.stop_event)
    target = folder / "model.keras"
    model.save(target)
    loaded = load_keras_file(target)  # what is reported is what was saved
    return {"format": "keras", "file": target, "keras": loaded, "sparsity": round(measured_sparsity(loaded), 4)}


KINDS.register("prune")(_build)
