"""The layer table textbooks draw by hand, grouped by block, with totals and the stages of a CNN.

``layer_table(model)`` gives one :class:`LayerRow` per layer in graph order (name, type, kernel,
stride, filters or units, output shape, parameters, trainable or not, block). A backbone nested as
one layer is expanded into its own layers, named ``"outer/inner"``. Parameter counts are Keras's
own (``layer.count_params()``), so :func:`totals` equals ``model.count_params()`` and the totals
``model.summary()`` prints.

Blocks come from Keras naming (``conv2_block1_1_conv`` -> ``conv2_block1``, ``block3_conv1`` ->
``block3``, ``stem_conv`` -> ``stem``); layers without such a name are grouped by spatial size.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import keras

from core.inspect import graph
from core.inspect.receptive import receptive_field, region_path  # noqa: F401  (re-exported)
from core.zoo.loaded import as_loaded

INPUT_BLOCK = "input"
HEAD_BLOCK = "head"

# Keras naming conventions, tried in order: ResNet stages, VGG / EfficientNet / MobileNetV2 blocks,
# EfficientNet stem and top, ResNet stem (conv1_*, pool1_*), MobileNetV2's first block.
_BLOCK_PATTERNS = (
    re.compile(r"^(conv\d+_block\d+)_"),
    re.compile(r"^(block_?\d+[a-z]?)_"),
    re.compile(r"^(stem|top)_"),
    re.compile(r"^((?:conv|pool)\d+)_"),
    re.compile(r"^(expanded_conv)_"),
)
_POOLING_TYPES = ("MaxPooling2D", "AveragePooling2D")
_PADDING_TYPES = ("ZeroPadding2D", "Cropping2D")


@dataclass(frozen=True)
class LayerRow:
    name: str  # "outer/inner" for a layer inside a nested model
    type: str  # the Keras class name: Conv2D, BatchNormalization, ...
    kernel: str | None  # "3x3" for convolutions and pooling windows
    stride: str | None  # "2" (or "2x1" when not square)
    units: int | None  # filters of a convolution, units of a dense layer
    padding: str | None  # "same" / "valid"
    activation: str | None  # an activation fused into the layer (Conv2D(..., activation="relu"))
    output_shape: tuple | None  # without the batch axis, e.g. (56, 56, 256)
    params: int
    trainable_params: int
    trainable: bool  # True when the layer has weights that training updates
    block: str
    connected_to: tuple[str, ...]  # names of the layers feeding this one

    @property
    def is_spatial(self) -> bool:
        return self.output_shape is not None and len(self.output_shape) == 3

    def to_dict(self) -> dict:
        out = asdict(self)
        out["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        out["connected_to"] = list(self.connected_to)
        return out


@dataclass(frozen=True)
class Totals:
    total: int
    trainable: int
    non_trainable: int


@dataclass(frozen=True)
class BlockSummary:
    name: str
    layers: int
    first: str
    last: str
    output_shape: tuple | None  # of the block's last layer
    params: int
    trainable_params: int


@dataclass(frozen=True)
class Stage:
    """Consecutive layers working at one spatial resolution."""

    index: int
    height: int
    width: int
    channels_in: int  # depth entering the stage
    channels_out: int  # depth leaving it
    downsampling: int  # input height / stage height (1 for the input itself)
    first: str
    last: str
    blocks: tuple[str, ...]
    layers: int
    params: int


def _pair(value) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value), int(value))


def _fmt(value, sep: str = "x", collapse: bool = False) -> str | None:
    pair = _pair(value)
    if pair is None:
        return None
    if collapse and len(set(pair)) == 1:
        return str(pair[0])
    return sep.join(str(v) for v in pair)


def _shape(layer: keras.layers.Layer) -> tuple | None:
    tensor = graph.output_tensor(layer)
    if tensor is None:
        return None
    return tuple(None if d is None else int(d) for d in tensor.shape[1:])


def _count(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def _activation(layer: keras.layers.Layer) -> str | None:
    if isinstance(layer, keras.layers.Activation):
        return None  # the layer's type already says it; its name is in the row's name
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None)
    return None if name in (None, "linear") else name


def _row(layer: keras.layers.Layer, prefix: str) -> dict:
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    units = getattr(layer, "filters", None) or getattr(layer, "units", None)
    trainable_params = _count(layer.trainable_weights)
    return dict(
        name=prefix + layer.name, type=type(layer).__name__, kernel=_fmt(kernel),
        stride=_fmt(getattr(layer, "strides", None), collapse=True) if kernel is not None else None,
        units=int(units) if units else None, padding=getattr(layer, "padding", None) if kernel else None,
        activation=_activation(layer), output_shape=_shape(layer), params=int(layer.count_params()),
        trainable_params=trainable_params, trainable=trainable_params > 0,
        connected_to=tuple(prefix + n for n in graph.inbound_layer_names(layer)),
    )


def _raw_rows(model: keras.Model, prefix: str = "") -> list[dict]:
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.layers:  # a nested backbone: show its layers
            inner = [r for r in _raw_rows(layer, f"{prefix}{layer.name}/") if r["type"] != "InputLayer"]
            rows += _assign_blocks(inner, prefix=f"{prefix}{layer.name}/")
        else:
            rows.append(_row(layer, prefix))
    return rows


def _named_block(name: str) -> str | None:
    for pattern in _BLOCK_PATTERNS:
        match = pattern.match(name)
        if match:
            return match.group(1)
    return None


def _assign_blocks(rows: list[dict], prefix: str = "") -> list[dict]:
    """Fill ``block`` in place: input, named blocks, resolution groups, head; rows with one are kept."""
    todo = [r for r in rows if "block" not in r]
    if not todo:
        return rows
    input_shape = todo[0]["output_shape"]
    # Input: the input layer and weightless-or-preprocessing layers keeping the input's shape.
    i = 0
    while i < len(todo) and (todo[i]["type"] == "InputLayer" or (
            todo[i]["output_shape"] == input_shape and todo[i]["kernel"] is None and not todo[i]["units"])):
        todo[i]["block"] = prefix + INPUT_BLOCK if not prefix else prefix.rstrip("/") + " input"
        i += 1
    # Head: everything after the last layer with spatial feature maps.
    spatial = [k for k, r in enumerate(todo) if r["output_shape"] is not None and len(r["output_shape"]) == 3]
    last_spatial = spatial[-1] if spatial else i - 1
    for r in todo[last_spatial + 1:]:
        r["block"] = HEAD_BLOCK if not prefix else prefix.rstrip("/") + " head"
    # The rest: by name, else a run of unnamed layers at one resolution, named after its first layer.
    current, size = None, None
    for r in todo[i:last_spatial + 1]:
        short = r["name"][len(prefix):]
        named = _named_block(short)
        shape = r["output_shape"]
        spatial_size = shape[:2] if shape is not None and len(shape) == 3 else size
        if named is not None:
            r["block"], current = prefix + named, None
        elif current is not None and spatial_size == size:
            r["block"] = current
        elif current is not None and r["type"] in _POOLING_TYPES:
            r["block"], current = current, None  # a pooling layer closes the stage it shrinks (VGG-style)
        else:
            r["block"] = current = prefix + short
        size = spatial_size
    return rows


def layer_table(model: keras.Model) -> list[LayerRow]:
    """One row per layer in graph order, nested backbones expanded, each with its block."""
    rows = _assign_blocks(_raw_rows(as_loaded(model).model))
    return [LayerRow(**r) for r in rows]


def totals(rows: list[LayerRow]) -> Totals:
    """Total, trainable and non-trainable parameters (what ``model.summary()`` prints at the end)."""
    total = sum(r.params for r in rows)
    trainable = sum(r.trainable_params for r in rows)
    return Totals(total=total, trainable=trainable, non_trainable=total - trainable)


def block_summary(rows: list[LayerRow]) -> list[BlockSummary]:
    """Per block, in order of first appearance: layer count, output shape and parameters."""
    order: dict[str, list[LayerRow]] = {}
    for r in rows:
        order.setdefault(r.block, []).append(r)
    return [BlockSummary(name=name, layers=len(members), first=members[0].name, last=members[-1].name,
                         output_shape=members[-1].output_shape, params=sum(m.params for m in members),
                         trainable_params=sum(m.trainable_params for m in members))
            for name, members in order.items()]


def stages(model: keras.Model, rows: list[LayerRow] | None = None) -> list[Stage]:
    """The resolutions a CNN works at: spatial size and depth each time the feature maps shrink.

    Stage 0 works at the input resolution. Padding and cropping layers (a pixel or two of border
    before a strided convolution) do not start a stage, nor do side branches that come back to the
    current resolution (squeeze-excite's 1x1 maps); the head (after global pooling) is not a stage.
    """
    rows = rows if rows is not None else layer_table(as_loaded(model).model)
    spatial = [r for r in rows if r.is_spatial and r.type not in _PADDING_TYPES]
    if not spatial:
        return []
    last_seen = {r.output_shape[:2]: k for k, r in enumerate(spatial)}
    groups: list[list[LayerRow]] = []
    for k, r in enumerate(spatial):
        size = r.output_shape[:2]
        current = groups[-1][0].output_shape[:2] if groups else None
        if current is not None and (size == current or last_seen[current] > k):
            groups[-1].append(r)  # same resolution, or a side branch that returns to it
        else:
            groups.append([r])
    input_h = spatial[0].output_shape[0]
    result, depth_in = [], spatial[0].output_shape[2]
    for index, members in enumerate(groups):
        h, w, _ = members[0].output_shape
        c = [m for m in members if m.output_shape[:2] == (h, w)][-1].output_shape[2]
        result.append(Stage(index=index, height=int(h), width=int(w), channels_in=int(depth_in),
                            channels_out=int(c), downsampling=max(1, round(input_h / h)) if h else 1,
                            first=members[0].name, last=members[-1].name,
                            blocks=tuple(dict.fromkeys(m.block for m in members)), layers=len(members),
                            params=sum(m.params for m in members)))
        depth_in = c
    return result
