"""The compiled scorer that RISE and occlusion share: one image under a batch of masks, scored at once.

``masked = image * mask + fill * (1 - mask)`` is formed inside the compiled function, so a batch of
``B`` masks costs one forward pass of ``B`` images and only the masks cross into the graph. What is scored
is the class's probability (as RISE and occlusion define it) or, given a custom target such as a contrast
("A rather than B"), that target's value on the logits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from core.compiled import INDEX_SPEC, input_spec
from core.explain.base import Context

# (image (H, W, 3), masks (B, H, W), fill, class index or -1 for the top class)
#   -> (the score under each mask (B,), the class index of each (B,), the class's probability (B,))
MaskScorer = Callable[[np.ndarray, np.ndarray, float, int], tuple[np.ndarray, np.ndarray, np.ndarray]]


def mask_scorer(ctx: Context) -> MaskScorer:
    """The compiled masked-image scorer for ``ctx``'s model (cached per model and target)."""
    fn = ctx.compiled("masked_scores", lambda: _compile(ctx))

    def run(image: np.ndarray, masks: np.ndarray, fill: float, class_index: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scores, idx, probs = fn(tf.constant(image[None], tf.float32), tf.constant(masks, tf.float32),
                                tf.constant(fill, tf.float32),
                                tf.constant(np.full(len(masks), class_index, np.int32)))
        return scores.numpy(), idx.numpy(), probs.numpy()

    return run


def _compile(ctx: Context):
    model, custom = ctx.output_model(), ctx.target
    spec = input_spec(ctx.model)

    @tf.function(input_signature=[spec, tf.TensorSpec(spec.shape[:3], tf.float32),
                                  tf.TensorSpec([], tf.float32), INDEX_SPEC])
    def scores(image: tf.Tensor, masks: tf.Tensor, fill: tf.Tensor, class_idx: tf.Tensor):
        # 1. The image under every mask: kept where the mask is 1, ``fill`` where it is 0.
        keep = masks[..., None]
        masked = image * keep + fill * (1.0 - keep)
        # 2. One forward pass; the target class's probability for each masked copy (-1: its top class),
        #    or the custom target's score.
        probs, logits = model(masked, training=False)
        idx = tf.where(class_idx < 0, tf.argmax(probs, axis=-1, output_type=tf.int32), class_idx)
        prob = tf.gather(probs, idx, batch_dims=1)
        return (prob if custom is None else tf.reshape(custom(logits), [-1])), idx, prob

    return scores


def clean_predictions(score: MaskScorer, images: np.ndarray, class_idx: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each image's class (its top one where ``class_idx`` is -1), that class's unmasked probability and the
    unmasked score (the probability again, or the custom target's value)."""
    ones = np.ones((1, *images.shape[1:3]), np.float32)
    found = [score(image, ones, 0.0, int(c)) for image, c in zip(images, class_idx, strict=True)]
    return (np.array([i[0] for _, i, _ in found], np.int64), np.array([p[0] for _, _, p in found], np.float32),
            np.array([s[0] for s, _, _ in found], np.float32))
