"""Ablation-CAM (Desai & Ramaswamy 2020): how much the class score drops when a channel is zeroed.

``w_k = (y - y_k) / y``, where ``y`` is the class score and ``y_k`` the score with channel ``k`` of the
layer set to zero; the map is ``ReLU(sum_k w_k A_k)``. Gradient-free. The model is rebuilt on the same
layers with a gate multiplying the layer's output (one factor per channel, an input of the model), so a
batch of channels is ablated in one call of one compiled function: one copy of the image per channel.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from core.compiled import INDEX_SPEC, input_spec
from core.explain.base import Context, ExplanationMethod, Maps
from core.explain.layers import LayerRef, _graph_error, rebuild_call
from core.explain.registry import register_method
from core.explain.scorecam import _compile_forward
from core.i18n import N_
from core.modelgraph import softmax_input
from core.params import Param
from core.progress import report


class _ChannelGate(keras.layers.Layer):
    """Multiplies feature maps ``(N, h, w, K)`` by ``gates (N, K)``, set in-graph before each call."""

    def __init__(self, channels: int) -> None:
        super().__init__(name="channel_gate", trainable=False)
        self.gates = tf.Variable(tf.ones([1, channels]), shape=tf.TensorShape([None, channels]),
                                 trainable=False)

    def call(self, x):
        return x * tf.reshape(self.gates, [-1, 1, 1, self.gates.shape[-1]])


def gated_model(model: keras.Model, ref: LayerRef) -> tuple[keras.Model, _ChannelGate]:
    """``pixels -> logits`` with the layer at ``ref`` multiplied by the returned gate's ``gates``."""
    layer = model
    for part in ref.path:
        layer = layer.get_layer(part)
    gate = _ChannelGate(int(layer.output.shape[-1]))
    return _graph_error(model, lambda: _gated(model, ref.path, gate, with_logits=True)), gate


def _gated(model: keras.Model, path: tuple[str, ...], gate: _ChannelGate, with_logits: bool) -> keras.Model:
    """``model`` rebuilt on the same layers, the layer at ``path`` gated; its logits if asked.

    A nested model on the path is rebuilt the same way inside (the usual fine-tuned backbone).
    """
    target = model.get_layer(path[0])
    inner = _gated(target, path[1:], gate, with_logits=False) if len(path) > 1 else None
    last = model.layers[-1]
    captured: dict = {}

    def call(layer, *args, **kwargs):
        if layer is target:
            out = inner(*args, **kwargs) if inner is not None else gate(layer(*args, **kwargs))
        else:
            out = layer(*args, **kwargs)
        if layer is last and with_logits:
            captured["logits"] = softmax_input(layer, args[0], out)
        return out

    inputs, outputs = rebuild_call(model, call)
    return keras.Model(inputs, captured["logits"] if with_logits else outputs[0])


def _compile_ablation(ctx: Context):
    gated, gate = gated_model(ctx.model, ctx.layer)
    class_score = ctx.scorer

    @tf.function(input_signature=[input_spec(ctx.model), tf.TensorSpec([None, None], tf.float32), INDEX_SPEC])
    def ablated_scores(images: tf.Tensor, gates: tf.Tensor, class_idx: tf.Tensor) -> tf.Tensor:
        # One copy of the image per row of gates (ones, with the ablated channels at zero); the class
        # score of each ablated copy.
        gate.gates.assign(gates)
        logits = gated(images, training=False)
        return class_score(logits, class_idx)[0]

    return ablated_scores


@register_method
class AblationCAM(ExplanationMethod):
    name = "ablationcam"
    slow = True  # one forward pass per mask, channel or patch
    title = "Ablation-CAM"
    description = N_("Feature maps weighted by the score drop when each one is zeroed; gradient-free.")
    uses_layer = True
    params = (
        Param("ablation_batch", int, 64, N_("Channels ablated per compiled call; more: faster, more memory."),
              label=N_("Channels per call"), min=1, max=2048),
    )

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict) -> Maps:
        forward = ctx.compiled((self.name, "forward"), lambda: _compile_forward(ctx))
        ablate = ctx.compiled(self.name, lambda: _compile_ablation(ctx))
        activations, scores, idx, probs = (t.numpy() for t in forward(tf.constant(images),
                                                                          tf.constant(class_idx)))
        channels, batch = activations.shape[-1], params["ablation_batch"]
        calls = -(-channels // batch)
        maps = []
        for n, (image, acts, y, c) in enumerate(zip(images, activations, scores, idx, strict=True)):
            ablated = []
            for b, start in enumerate(range(0, channels, batch)):
                k = np.arange(start, min(start + batch, channels))
                # 1. Gates of ones with one channel zeroed per row.
                gates = np.ones((len(k), channels), np.float32)
                gates[np.arange(len(k)), k] = 0.0
                copies = np.repeat(image[None], len(k), axis=0)
                ablated.append(ablate(tf.constant(copies), tf.constant(gates),
                                      tf.constant(np.full(len(k), c, np.int32))).numpy())
                report(ctx.progress, (n + (b + 1) / calls) / len(images),
                       f"Ablation-CAM: ablated {k[-1] + 1} of {channels} channels"
                       + (f" of image {n + 1} of {len(images)}" if len(images) > 1 else ""))
            # 2. Relative drop of the score per channel, then the weighted sum and its positive part.
            y = float(y) if abs(float(y)) > 1e-12 else 1e-12
            weights = (y - np.concatenate(ablated).astype(np.float64)) / y
            maps.append(np.maximum((acts * weights.astype(np.float32)).sum(axis=-1), 0.0))
        return np.stack(maps), idx, probs
