"""Score-CAM (Wang et al. 2020), in its faster form that keeps only the most varied channels.

Each kept channel of the layer, upsampled and scaled to [0, 1], masks the image; the class score of
the masked image says how much that channel's region alone supports the class. No gradients are
used. Keeping the ``max_channels`` channels with the highest spatial variance (Faster Score-CAM)
cuts the cost from one forward pass per channel (2048 on ResNet50) to a few batched passes.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import tensorflow as tf

from core.compiled import INDEX_SPEC, input_spec
from core.explain.base import Context, ExplanationMethod, Maps
from core.explain.registry import register_method
from core.i18n import N_
from core.params import Param
from core.progress import report

MASK_BATCH = 16  # masked images per compiled forward pass


def _compile_forward(ctx: Context):
    model = ctx.feature_model()
    class_score = ctx.scorer

    @tf.function(input_signature=[input_spec(ctx.model), INDEX_SPEC])
    def forward(images: tf.Tensor, class_idx: tf.Tensor):
        activations, probs, logits = model(images, training=False)
        score, idx = class_score(logits, class_idx)
        return activations, score, idx, tf.gather(probs, idx, batch_dims=1)

    return forward


def _unit_masks(channels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(h, w, k)`` activations -> ``(k, H, W)`` masks, each upsampled and min-max scaled to [0, 1]."""
    up = cv2.resize(np.ascontiguousarray(channels, np.float32), (size[1], size[0]),
                    interpolation=cv2.INTER_LINEAR)
    up = up.reshape(size[0], size[1], -1)
    lo, hi = up.min(axis=(0, 1)), up.max(axis=(0, 1))
    scaled = (up - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.moveaxis(np.where(hi > lo, scaled, 0.0), -1, 0).astype(np.float32)


@register_method
class ScoreCAM(ExplanationMethod):
    name = "scorecam"
    slow = True  # one forward pass per mask, channel or patch
    title = "Score-CAM"
    description = N_("Feature maps weighted by the score of the image masked by each map; gradient-free.")
    uses_layer = True
    params = (
        Param("max_channels", int, 32, N_("Channels kept (highest activation variance); more: slower."),
              label=N_("Channels kept (at most)"), min=1, max=2048),
    )

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict) -> Maps:
        fn = ctx.compiled(self.name, lambda: _compile_forward(ctx))

        def forward(x: np.ndarray, idx: np.ndarray) -> list[tf.Tensor]:
            return fn(tf.constant(x), tf.constant(idx, tf.int32))

        activations, _, idx, probs = (t.numpy() for t in forward(images, class_idx))
        maps = []
        for n, (image, acts, c) in enumerate(zip(images, activations, idx, strict=True)):
            def heard(done: int, total: int, n: int = n) -> None:
                report(ctx.progress, (n + done / total) / len(images),
                       f"Score-CAM: scored {done} of {total} masked copies"
                       + (f" of image {n + 1} of {len(images)}" if len(images) > 1 else ""))

            maps.append(self._score_cam(forward, image, acts, int(c), params["max_channels"], heard))
        return np.stack(maps), idx, probs

    @staticmethod
    def _score_cam(forward, image: np.ndarray, activations: np.ndarray, class_index: int,
                   cap: int, heard: Callable[[int, int], None] | None = None) -> np.ndarray:
        # 1. Keep the channels whose activations vary most over the map (Faster Score-CAM).
        variance = activations.reshape(-1, activations.shape[-1]).var(axis=0)
        kept = activations[..., np.argsort(-variance, kind="stable")[:cap]]
        # 2. Score the image masked by each kept channel, a batch of masks per forward pass.
        scores = []
        for i in range(0, kept.shape[-1], MASK_BATCH):
            masks = _unit_masks(kept[..., i:i + MASK_BATCH], image.shape[:2])
            targets = np.full(len(masks), class_index, np.int32)
            scores.append(forward(image[None] * masks[..., None], targets)[1].numpy())  # scores only
            if heard is not None:
                heard(min(i + MASK_BATCH, kept.shape[-1]), kept.shape[-1])
        scores = np.concatenate(scores).astype(np.float64)
        # 3. Softmax over the channels' scores gives their weights; weighted sum, positive part.
        weights = np.exp(scores - scores.max())
        weights /= weights.sum()
        return np.maximum((kept * weights.astype(np.float32)).sum(axis=-1), 0.0)
