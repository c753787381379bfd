"""Assembling trainable models: a fresh copy of a zoo backbone, its pooled features, and a new head.

The full model is one flat graph on raw pixels, as the model contract requires::

    pixels -> (backbone layers, preprocessing included) -> pooled features
           -> [head_hidden] -> [head_dropout] -> logits (Dense) -> probabilities (softmax)

Shared zoo models are never trained: :func:`fresh_copy` clones the graph and copies the weights, and
the head's layers are new. The same head layers are applied to precomputed features (fast path) and
to the backbone's feature tensor (the saved model), so both share one set of weights.
"""

from __future__ import annotations

import re

import keras

from core.errors import GlasswingError, ParameterError
from core.modelgraph import PROBABILITIES_LAYER

HEAD_PREFIX = "head_"
LOGITS_LAYER = "logits"
# block6d_... (EfficientNet), conv5_block3_... (ResNet), block_16_... (MobileNetV2), block5_... (VGG)
_BLOCK = re.compile(r"^(.*?block_?\d+[a-z]?)(?:_|$)")


def fresh_copy(model: keras.Model) -> keras.Model:
    """An independent copy of ``model`` (same graph and layer names, its own weights)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _producer(tensor) -> keras.layers.Layer:
    return tensor._keras_history.operation


def pooled_features(model: keras.Model):
    """The tensor the classifier's last Dense layer reads, with Dropout layers in between skipped.

    For EfficientNet-Lite, ResNet50 and MobileNetV2 that is the global average pool; for VGG16 it is
    ``fc2``. Raises GlasswingError for a model without a Dense classifier at its end.
    """
    tensor = model.outputs[0]
    layer = _producer(tensor)
    if isinstance(layer, keras.layers.Activation):
        tensor = layer.input
        layer = _producer(tensor)
    if not isinstance(layer, keras.layers.Dense):
        raise GlasswingError(f"Model {model.name!r} does not end in a Dense classifier, so Glasswing cannot "
                             "put a new head on it.")
    tensor = layer.input
    while isinstance(_producer(tensor), keras.layers.Dropout):
        tensor = _producer(tensor).input
    if len(tensor.shape) != 2:
        raise GlasswingError(f"Model {model.name!r}: the input of its classifier is not a flat feature "
                             f"vector (shape {tensor.shape}).")
    return tensor


# The last add of EfficientNet's block 5 (block5c_add in Lite0): 14x14 at 224 px, mid-level shapes that the
# top's global average washes out (docs/recipe.md, "Which features the head reads").
_MID_LEVEL = re.compile(r"^block5[a-z]_add$")
MID_GRID = 2  # the mid-level map is average-pooled to MID_GRID x MID_GRID cells


def mid_level_layer(model: keras.Model) -> str | None:
    """The layer :func:`head_input` pools for a zoo EfficientNet-Lite (block 5's last add), else None.

    Only a model whose classifier reads a global average qualifies: a run's model already reads its own
    layout, and ResNet50, MobileNetV2 and VGG16 keep their pooled features (not measured for them).
    """
    mids = [layer for layer in model.layers if _MID_LEVEL.match(layer.name)]
    if not mids or not isinstance(_producer(pooled_features(model)), keras.layers.GlobalAveragePooling2D):
        return None
    height, width = (int(d) for d in mids[-1].output.shape[1:3])
    return mids[-1].name if height >= MID_GRID and width >= MID_GRID else None


def head_input(model: keras.Model):
    """The features a new head reads: block 5's last add average-pooled to a 2x2 grid and flattened
    (EfficientNet-Lite; weightless layers, and the blocks above it are left out of the trained model);
    :func:`pooled_features` otherwise.

    Measured (bench/bench_recipe_features.py, docs/recipe.md): on the 600 digits the 2x2 grid scores
    99.3% against 90.5% for the top's global average and 98.5% for the two concatenated.
    """
    name = mid_level_layer(model)
    if name is None:
        return pooled_features(model)
    mid = model.get_layer(name).output
    size = (int(mid.shape[1]) // MID_GRID, int(mid.shape[2]) // MID_GRID)
    taken = {layer.name for layer in model.layers}
    grid = keras.layers.AveragePooling2D(size, strides=size, name=_unique("features_pool", taken))(mid)
    return keras.layers.Flatten(name=_unique("features", taken))(grid)


def layout(features) -> str:
    """Which features a head reads, for the feature cache's key: the producing layer and the width."""
    return f"{_producer(features).name}:{int(features.shape[-1])}"


def _unique(name: str, taken: set[str]) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}_{i}", i + 1
    taken.add(candidate)
    return candidate


def build_head(num_classes: int, dropout: float = 0.2, hidden_units: int = 0, seed: int = 0,
               taken: set[str] | None = None) -> list[keras.layers.Layer]:
    """The new head's layers (seeded initialisers, so a seed reproduces the run); apply with :func:`apply`.

    ``taken`` holds layer names already used by the backbone (e.g. when continuing from a run whose
    head had a hidden layer), so the new names never clash.
    """
    if num_classes < 2:
        raise ParameterError(f"A classifier needs at least 2 classes, got {num_classes}.")
    taken = set(taken or ())
    layers: list[keras.layers.Layer] = []
    if hidden_units:
        layers.append(keras.layers.Dense(
            hidden_units, activation="relu", kernel_initializer=keras.initializers.HeUniform(seed=seed),
            name=_unique(f"{HEAD_PREFIX}hidden", taken)))
    if dropout:
        layers.append(keras.layers.Dropout(dropout, seed=seed + 1,
                                           name=_unique(f"{HEAD_PREFIX}dropout", taken)))
    layers.append(keras.layers.Dense(num_classes, name=_unique(LOGITS_LAYER, taken),
                                     kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2)))
    return layers


def apply(layers: list[keras.layers.Layer], x):
    for layer in layers:
        x = layer(x)
    return x


def head_model(feature_dim: int, head: list[keras.layers.Layer]) -> keras.Model:
    """Features in, logits out: what the fast path trains."""
    features = keras.Input((feature_dim,), name="features")
    return keras.Model(features, apply(head, features), name="head")


def assemble(backbone: keras.Model, features, head: list[keras.layers.Layer], name: str) -> keras.Model:
    """The full flat classifier: ``backbone``'s input through ``features`` and ``head`` to probabilities."""
    probabilities = keras.layers.Activation("softmax", name=PROBABILITIES_LAYER)(apply(head, features))
    return keras.Model(backbone.inputs[0], probabilities, name=name)  # one tensor in, not a list of one


def logits_of(model: keras.Model) -> keras.Model:
    """Same input, the logits (input of the ``probabilities`` layer) out; shares every layer."""
    logits = model.get_layer(PROBABILITIES_LAYER).input
    return keras.Model(model.inputs[0], logits, name=f"{model.name}_logits")


def block_key(layer_name: str) -> str:
    """The block a layer belongs to (``block6d``, ``conv5_block3``, ``block_16``); its own name otherwise."""
    match = _BLOCK.match(layer_name)
    return match.group(1) if match else layer_name


def _tunable(layer: keras.layers.Layer) -> bool:
    """A layer with weights that training may change: not BatchNorm (kept frozen), not weightless, not a
    layer whose weights are all statistics (e.g. ``Normalization``)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return False
    # The variables created trainable: freezing a layer clears the variables' own flags too.
    created = getattr(layer, "_trainable_variables", None)
    return bool(created if created is not None else [w for w in layer.weights if w.trainable])


def freeze_backbone(model: keras.Model, head_names: set[str]) -> None:
    """Stage 1: only the head's layers train."""
    for layer in model.layers:
        layer.trainable = layer.name in head_names


def unfreeze_top(model: keras.Model, head_names: set[str], count: int, unit: str = "layers") -> list[str]:
    """Stage 2: unfreeze the top ``count`` weighted layers (or blocks) of the backbone, and the head.

    BatchNormalization layers stay frozen, which in Keras 3 also keeps them in inference mode (their
    moving statistics do not change): with small batches, updating them would wreck the pretrained
    features. Returns the names of the backbone layers now trainable, in graph order.
    """
    if unit not in ("layers", "blocks"):
        raise ParameterError(f"fine_tune_unit must be 'layers' or 'blocks', got {unit!r}.")
    weighted = [layer for layer in model.layers
                if layer.name not in head_names and _tunable(layer)]
    groups: list[list[keras.layers.Layer]] = []
    for layer in weighted:
        key = block_key(layer.name) if unit == "blocks" else layer.name
        if groups and unit == "blocks" and block_key(groups[-1][0].name) == key:
            groups[-1].append(layer)
        else:
            groups.append([layer])
    if count > len(groups):
        raise ParameterError(f"fine_tune_layers is {count}, but {model.name} has only {len(groups)} {unit} "
                             "with weights below its head.")
    chosen = {layer.name for group in groups[len(groups) - count:] for layer in group}
    for layer in model.layers:
        layer.trainable = layer.name in head_names or layer.name in chosen
    return [layer.name for layer in weighted if layer.name in chosen]


def count_units(model: keras.Model, head_names: set[str], unit: str) -> int:
    """How many layers (or blocks) with weights the backbone has below the head (for sliders)."""
    keys = []
    for layer in model.layers:
        if layer.name in head_names or not _tunable(layer):
            continue
        key = block_key(layer.name) if unit == "blocks" else layer.name
        if not keys or keys[-1] != key:
            keys.append(key)
    return len(keys)


def reseed(model: keras.Model, seed: int) -> None:
    """Re-initialise every kernel with a seeded copy of its initialiser (from-scratch reproducibility).

    Keras draws unseeded initialisers from process-wide random state, which other threads share; a
    seed per layer makes a from-scratch run depend on its own seed only.
    """
    for index, layer in enumerate(model.layers):
        for attr in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            variable = getattr(layer, attr, None)
            initializer = getattr(layer, f"{attr}_initializer", None)
            if variable is None or initializer is None:
                continue
            config = initializer.get_config()
            if "seed" not in config:
                continue
            seeded = type(initializer).from_config({**config, "seed": seed * 1000 + index})
            variable.assign(seeded(variable.shape, variable.dtype))


def tunable_units(model: keras.Model) -> dict[str, int]:
    """How many layers and blocks with weights lie below a classifier's head, for a stage-2 slider.

    Read-only: safe on a shared zoo model (nothing is cloned, frozen or trained).
    """
    features = head_input(model)
    backbone = {layer.name for layer in keras.Model(model.inputs[0], features).layers}
    head = {layer.name for layer in model.layers} - backbone
    return {unit: count_units(model, head, unit) for unit in ("layers", "blocks")}
