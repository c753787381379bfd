"""Small helpers to look inside a Keras classifier: its logits, its conv layers.

Every model Glasswing writes takes raw RGB pixels (0..255, float32, ``(N, H, W, 3)``) and ends in
``Activation("softmax", name="probabilities")`` whose input is the logits. Models from elsewhere may
instead end in a ``Dense`` with a softmax activation; :func:`logits_model` handles both, so gradient
methods and attacks always differentiate pre-softmax scores (softmax saturation would otherwise hide
the gradient of a confident prediction).
"""

from __future__ import annotations

import keras

from core.errors import GlasswingError, unknown_name

PROBABILITIES_LAYER = "probabilities"


def _is_softmax_activation(layer: keras.layers.Layer) -> bool:
    act = getattr(layer, "activation", None)
    return act is not None and getattr(act, "__name__", "") == "softmax"


def softmax_input(layer: keras.layers.Layer, x, out):
    """The logits of ``layer`` called on ``x`` giving ``out``, when it is a final softmax; else ``out``.

    The one place that peels the softmax off: an ``Activation("softmax")`` layer's logits are its input,
    a ``Dense`` layer with a softmax activation is recomputed as ``x @ W + b`` on the same weights.
    """
    if isinstance(layer, keras.layers.Activation) and _is_softmax_activation(layer):
        return x
    if isinstance(layer, keras.layers.Dense) and _is_softmax_activation(layer):
        logits = keras.ops.matmul(x, layer.kernel)
        return keras.ops.add(logits, layer.bias) if layer.use_bias else logits
    return out  # already linear (or unknown): use as is


def logits_model(model: keras.Model, extra_outputs: list | None = None) -> keras.Model:
    """A model with the same input whose (last) output is the logits of ``model``.

    ``extra_outputs`` are tensors of ``model``'s graph (e.g. a conv layer's output) placed before the
    logits in the output list.
    """
    last = model.layers[-1]
    logits = softmax_input(last, last.input, model.outputs[0])
    outputs = list(extra_outputs or []) + [logits]
    return keras.Model(model.inputs, outputs if len(outputs) > 1 else outputs[0])


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of layers with a 4-D output (spatial feature maps), in graph order, input excluded.

    These are the layers a CAM method can explain: convolutions, their activations, pooling, blocks'
    outputs. The last one is the usual default for Grad-CAM.
    """
    names = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and shape[1] is not None and shape[1] > 1:
            names.append(layer.name)
    return names


def last_conv_layer_name(model: keras.Model) -> str:
    """The last layer with a spatial (4-D) output; the default layer for CAM methods."""
    names = conv_layer_names(model)
    if not names:
        raise GlasswingError(f"Model {model.name!r} has no convolutional layer to explain.")
    return names[-1]


def get_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """Look up a layer by name with an error that lists the spatial layers that exist."""
    try:
        return model.get_layer(name)
    except ValueError:
        raise unknown_name("layer", name, conv_layer_names(model)[-30:]) from None
