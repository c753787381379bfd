"""Which layer to explain, and the sub-models that expose it next to the logits.

CAM methods need one model call returning ``[activations of the layer, probabilities, logits]``.
In a flat graph that is :func:`core.modelgraph.logits_model` with the layer's output as an extra
output. A backbone nested as a single layer (``keras.Model`` used inside another model, the usual
``base = MobileNetV2(...); outputs = head(base(x))`` fine-tuning pattern) hides its inner layers from
the outer graph - tf-keras-vis documents this case as unsupported. Here the outer graph is rebuilt
around the same layer objects (weights shared, nothing copied) with the nested model swapped for a
version that also returns the inner layer, so gradients flow through the real computation.

Layer names: a top-level layer by name, ``"outer/inner"`` for a layer inside a nested model, or an
inner name alone when it is unique.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

from core.errors import GlasswingError, ParameterError, unknown_name
from core.modelgraph import conv_layer_names, last_conv_layer_name, logits_model, softmax_input


@dataclass(frozen=True)
class LayerRef:
    path: tuple[str, ...]  # ("block5_conv3",) or ("mobilenetv2_1.00_96", "block_16_project")

    @property
    def name(self) -> str:
        return "/".join(self.path)


def _nested_models(model: keras.Model) -> list[keras.Model]:
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def layer_choices(model: keras.Model) -> list[str]:
    """Every layer a CAM method can explain, in graph order, nested ones as ``"outer/inner"``."""
    spatial = set(conv_layer_names(model))
    names = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            names += [f"{layer.name}/{inner}" for inner in layer_choices(layer)]
        if layer.name in spatial:
            names.append(layer.name)
    return names


def default_layer(model: keras.Model) -> LayerRef:
    """The last spatial layer; inside the last nested backbone when that comes at or after it."""
    names = conv_layer_names(model)
    order = [layer.name for layer in model.layers]
    nested = _nested_models(model)
    if nested and (not names or order.index(nested[-1].name) >= order.index(names[-1])):
        return _inside(nested[-1])
    return LayerRef((last_conv_layer_name(model),))


def _inside(sub: keras.Model) -> LayerRef:
    # A nested model's own ``.output`` belongs to its inner graph, not to the outer one: explain the
    # same feature maps as the inner layer that produces them.
    return LayerRef((sub.name, *default_layer(sub).path))


def _find(model: keras.Model, name: str) -> list[tuple[str, ...]]:
    found = [(layer.name,) for layer in model.layers if layer.name == name]
    for sub in _nested_models(model):
        found += [(sub.name, *path) for path in _find(sub, name)]
    return found


def _walk(model: keras.Model, path: tuple[str, ...]) -> keras.layers.Layer | None:
    layer: keras.layers.Layer = model
    for part in path:
        if not isinstance(layer, keras.Model):
            return None
        try:
            layer = layer.get_layer(part)
        except ValueError:
            return None
    return layer


def resolve_layer(model: keras.Model, name: str | None) -> LayerRef:
    """The layer called ``name`` (default: :func:`default_layer`), checked to have a spatial output."""
    if name is None:
        return default_layer(model)
    if not isinstance(name, str) or not name:
        raise ParameterError(f"Parameter 'layer' must be a layer name, got {name!r}.")
    path = tuple(name.split("/"))
    if _walk(model, path) is None:
        matches = _find(model, name) if len(path) == 1 else []
        if not matches:
            raise unknown_name("layer", name, layer_choices(model)[-30:])
        if len(matches) > 1:
            raise ParameterError(
                f"Layer name {name!r} is ambiguous; use one of {', '.join('/'.join(m) for m in matches)}.")
        path = matches[0]
    layer = _walk(model, path)
    if isinstance(layer, keras.layers.InputLayer):  # its "feature maps" are the pixels: nothing to weigh
        spatial = layer_choices(model)
        hint = f", such as {spatial[-1]!r}" if spatial else ""
        raise ParameterError(f"Layer {name!r} is the model's input; CAM methods need a layer inside the "
                             f"network with spatial feature maps{hint}.")
    if isinstance(layer, keras.Model):
        return LayerRef((*path[:-1], *_inside(layer).path))
    shape = tuple(layer.output.shape)
    if len(shape) != 4:
        raise ParameterError(
            f"Layer {name!r} has output shape {shape}; CAM methods need a layer with spatial (4-D) "
            "feature maps, such as a convolution.")
    return LayerRef(path)


def output_model(model: keras.Model) -> keras.Model:
    """``pixels -> [probabilities, logits]``."""
    return _graph_error(model, lambda: logits_model(model, extra_outputs=[model.outputs[0]]))


def feature_model(model: keras.Model, ref: LayerRef) -> keras.Model:
    """``pixels -> [activations of ref, probabilities, logits]``, sharing the model's layers."""
    if len(ref.path) == 1:
        layer = model.get_layer(ref.path[0])
        extra = [layer.output, model.outputs[0]]
        return _graph_error(model, lambda: logits_model(model, extra_outputs=extra))
    return _graph_error(model, lambda: _exposing(model, ref.path, with_logits=True))


def _graph_error(model: keras.Model, build):
    try:
        return build()
    except (ValueError, AttributeError, TypeError) as exc:
        raise GlasswingError(
            f"Cannot reach the layers of model {model.name!r} ({exc}); explanations need a functional or "
            "Sequential Keras graph.") from None


def rebuild_call(model: keras.Model, call) -> tuple[Any, list]:
    """``(input, outputs)`` of ``model``'s graph run again on the same layers (no weight copied), each
    layer call going through ``call(layer, *args, **kwargs)``: the one way the explanation methods hook
    into a model's forward pass (expose an activation, gate a layer, rebuild ReLUs)."""
    if isinstance(model, keras.Sequential):
        x = inputs = keras.Input(model.inputs[0].shape[1:], dtype=model.inputs[0].dtype)
        for layer in model.layers:
            x = call(layer, x)
        return inputs, [x]
    clone = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    return (clone.inputs[0] if len(clone.inputs) == 1 else clone.inputs), clone.outputs


def _exposing(model: keras.Model, path: tuple[str, ...], with_logits: bool) -> keras.Model:
    """``model`` rebuilt on the same layers with outputs ``[layer at path, output(s)..., (logits)]``."""
    sub = model.get_layer(path[0])
    if len(path) == 1:
        return keras.Model(model.inputs, [sub.output, *model.outputs])
    inner = _exposing(sub, path[1:], with_logits=False)  # -> [activations, sub's output]
    captured: dict = {}
    last = model.layers[-1]

    def call(layer, *args, **kwargs):
        if layer is sub:
            captured["activations"], out = inner(*args, **kwargs)
            return out
        out = layer(*args, **kwargs)
        if layer is last and with_logits:
            captured["logits"] = softmax_input(layer, args[0], out)
        return out

    inputs, outputs = rebuild_call(model, call)
    extra = [captured["logits"]] if with_logits else []
    return keras.Model(inputs, [captured["activations"], *outputs, *extra])
