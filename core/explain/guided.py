"""Guided Backprop (Springenberg et al. 2015) and Guided Grad-CAM (Selvaraju et al. 2017).

Guided Backprop is the input gradient with every ReLU's backward pass gated twice: the gradient
passes only where the ReLU's forward input was positive (the ordinary ReLU gradient) *and* the
gradient arriving from above is positive. The model's call is rebuilt on the same layers (weights
shared, nothing copied) with a gate after each ReLU / ReLU6 output (an ``activation="relu"`` layer,
``Activation("relu")``, ``ReLU(max_value=6)``), into nested models too (a backbone inside a head).
Networks built on swish or GELU (EfficientNet, ConvNeXt) have no ReLU to gate: there Guided Backprop
is exactly the plain gradient (Saliency).

Guided Grad-CAM multiplies the guided gradients by the Grad-CAM map upsampled to the input. Both
are known to fail the model-randomisation sanity check (Adebayo et al. 2018): their maps look much
the same with the weights randomised, so they show edges of the image more than the model's reasons.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from core.errors import GlasswingError
from core.explain.base import Context, ExplanationMethod, Maps, resize_map
from core.explain.layers import rebuild_call
from core.explain.registry import get_method, register_method
from core.explain.saliency import GradientFn, Saliency, input_gradients
from core.i18n import N_
from core.modelgraph import softmax_input

_RELUS = (keras.activations.relu, keras.activations.relu6)


@tf.custom_gradient
def _guided_gate(x: tf.Tensor):
    """Identity forward; backward passes only positive gradients where the (ReLU) output is positive."""
    def grad(upstream: tf.Tensor) -> tf.Tensor:
        return upstream * tf.cast(upstream > 0, upstream.dtype) * tf.cast(x > 0, upstream.dtype)

    return tf.identity(x), grad


class GuidedGate(keras.layers.Layer):
    """Placed after a ReLU output: the guided backward rule, no change forward."""

    def call(self, x):
        return _guided_gate(x)


def ends_in_relu(layer: keras.layers.Layer) -> bool:
    """True when ``layer``'s output is a ReLU or ReLU6 of its pre-activation."""
    if isinstance(layer, keras.layers.ReLU):
        return float(layer.negative_slope) == 0.0 and float(layer.threshold) == 0.0
    return getattr(layer, "activation", None) in _RELUS


def guided_model(model: keras.Model, with_logits: bool = False) -> keras.Model:
    """``model`` rebuilt on its own layers with a :class:`GuidedGate` after every ReLU, nested too.

    ``with_logits``: outputs ``[probabilities, logits]`` (the pre-softmax input of the last layer).
    """
    captured: dict = {}
    last = model.layers[-1]

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model):
            out = guided_model(layer)(*args, **kwargs)
        else:
            out = layer(*args, **kwargs)
            out = GuidedGate()(out) if ends_in_relu(layer) else out
        if layer is last and with_logits:
            captured["logits"] = softmax_input(layer, args[0], out)
        return out

    try:
        inputs, outputs = rebuild_call(model, call)
        extra = [captured["logits"]] if with_logits else []
        return keras.Model(inputs, [*outputs, *extra] if extra else outputs[0], name=f"{model.name}_guided")
    except (ValueError, AttributeError, TypeError, KeyError) as exc:
        raise GlasswingError(f"Cannot rebuild model {model.name!r} for Guided Backprop ({exc}); it needs a "
                             "functional or Sequential Keras graph.") from None


def guided_output_model(model: keras.Model) -> keras.Model:
    """``pixels -> [probabilities, logits]`` through the guided copy of ``model``'s graph."""
    return guided_model(model, with_logits=True)


@register_method
class GuidedBackprop(Saliency):
    """The input gradient with ReLUs gated backward; identical to Saliency on swish / GELU networks."""

    name = "guided_backprop"
    title = "Guided Backprop"
    description = N_("Gradient with negative signals stopped at every ReLU: sharp edges, but fails the sanity check.")
    uses_layer = False

    def gradients(self, ctx: Context) -> GradientFn:
        return input_gradients(ctx, "guided_gradients", guided_output_model)


@register_method
class GuidedGradCAM(ExplanationMethod):
    name = "guided_gradcam"
    title = "Guided Grad-CAM"
    description = N_("Guided Backprop times the upsampled Grad-CAM map: class-specific edges; fails the sanity check.")
    uses_layer = True
    kind = "gradient"

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict) -> Maps:
        cams, idx, probs = get_method("gradcam").compute(ctx, images, class_idx, {})
        guided, _, _ = get_method("guided_backprop").compute(ctx, images, idx.astype(np.int32), {})
        size = images.shape[1:3]
        return np.stack([g * resize_map(c, size) for g, c in zip(guided, cams, strict=True)]), idx, probs
