"""Which input pixels a position of a feature map sees: receptive fields from the graph itself.

Walking back from a layer, each layer maps the region it must produce (a rows interval and a cols
interval) to the region it reads. A convolution or pooling window with kernel ``k``, stride ``s``,
dilation ``d`` and ``p`` pixels of padding before the first row reads, for output rows ``[a, b]``,
input rows ``[a*s - p, b*s - p + (k-1)*d]``. With ``same`` padding TensorFlow pads
``max((out-1)*s + (k-1)*d + 1 - in, 0)`` pixels in total and puts the smaller half first. Where
branches meet (ResNet's additions, concatenations) a tensor must provide the union of what its
consumers read, so the result is the maximum extent over all paths.

:func:`region_path` clips each region to the tensor it lies in (padding rows depend on no pixel),
which gives exactly the support of ``d feature[r, c] / d input`` for linear layers.
:func:`receptive_field` does not clip: it is the textbook size and stride of the field.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import keras

from core.errors import ParameterError, unknown_name
from core.inspect import graph
from core.zoo.loaded import as_loaded

Interval = tuple[int, int]
Region = tuple[Interval, Interval]  # (rows, cols), inclusive bounds
ALL = "all"  # a non-spatial tensor: every position of the spatial tensor behind it matters

_WINDOWED = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
             keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


@dataclass(frozen=True)
class PathStep:
    layer: str
    output_shape: tuple  # (H, W, C)
    rows: Interval
    cols: Interval


@dataclass(frozen=True)
class RegionPath:
    """The input region one feature-map position sees, and the region of every layer on the way."""

    layer: str
    row: int
    col: int
    rows: Interval  # input rows, inclusive
    cols: Interval  # input cols, inclusive
    steps: list[PathStep]  # in graph order, ending with the layer itself
    global_context: bool = False  # True when a global branch (squeeze-excite) also reads every pixel

    @property
    def size(self) -> tuple[int, int]:
        return self.rows[1] - self.rows[0] + 1, self.cols[1] - self.cols[0] + 1


@dataclass(frozen=True)
class ReceptiveField:
    layer: str
    size: tuple[int, int]  # (height, width) in input pixels, ignoring the image border
    stride: tuple[int, int]  # input pixels between neighbouring feature-map positions
    start: tuple[int, int]  # input (row, col) where position (0, 0)'s field starts (< 0: padding)
    global_context: bool = False  # True when a global branch (squeeze-excite) also sees every pixel


def _spatial(tensor: Any) -> tuple[int, int] | None:
    shape = tensor.shape
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _hull(a, b):
    if a is None:
        return b
    if a == ALL or b == ALL:
        return ALL
    (r0, r1), (c0, c1) = a
    (s0, s1), (d0, d1) = b
    return (min(r0, s0), max(r1, s1)), (min(c0, d0), max(c1, d1))


def _window_axis(interval: Interval, k: int, s: int, d: int, size_in: int, size_out: int,
                 padding: str) -> Interval:
    pad = 0
    if padding == "same":
        pad = max((size_out - 1) * s + (k - 1) * d + 1 - size_in, 0) // 2
    a, b = interval
    return a * s - pad, b * s - pad + (k - 1) * d


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _layer_back(op: Any, region: Region, tensor_in: Any, tensor_out: Any) -> Region | str:
    """The region of ``tensor_in`` that ``op`` reads to produce ``region`` of ``tensor_out``."""
    size_in, size_out = _spatial(tensor_in), _spatial(tensor_out)
    if size_in is None:
        return ALL
    (r0, r1), (c0, c1) = region
    if isinstance(op, _WINDOWED):
        k = _pair(getattr(op, "kernel_size", None) or op.pool_size)
        s = _pair(op.strides)
        d = _pair(getattr(op, "dilation_rate", 1))
        rows = _window_axis((r0, r1), k[0], s[0], d[0], size_in[0], size_out[0], op.padding)
        cols = _window_axis((c0, c1), k[1], s[1], d[1], size_in[1], size_out[1], op.padding)
        return rows, cols
    if isinstance(op, keras.layers.ZeroPadding2D):
        (top, _), (left, _) = op.padding
        return (r0 - top, r1 - top), (c0 - left, c1 - left)
    if isinstance(op, keras.layers.Cropping2D):
        (top, _), (left, _) = op.cropping
        return (r0 + top, r1 + top), (c0 + left, c1 + left)
    if isinstance(op, keras.layers.UpSampling2D):
        sh, sw = _pair(op.size)
        grow = 0 if op.interpolation == "nearest" else 1  # bilinear also reads the next pixel
        return (r0 // sh - grow, r1 // sh + grow), (c0 // sw - grow, c1 // sw + grow)
    if size_in == size_out:  # element-wise or 1x1 over channels (BN, activations, Add, Dense on maps...)
        return region
    if size_in == (1, 1):  # broadcast (a squeeze-excite scale)
        return (0, 0), (0, 0)
    raise ParameterError(
        f"Cannot trace the receptive field through layer {op.name!r} ({type(op).__name__}), which changes "
        f"the spatial size from {size_in} to {size_out} in a way Glasswing does not know.")


def _clip(region: Region | str, size: tuple[int, int] | None) -> Region | str | None:
    if region == ALL or size is None:
        return ALL if size is None else ((0, size[0] - 1), (0, size[1] - 1))
    (r0, r1), (c0, c1) = region
    r0, r1, c0, c1 = max(r0, 0), min(r1, size[0] - 1), max(c0, 0), min(c1, size[1] - 1)
    return None if r0 > r1 or c0 > c1 else ((r0, r1), (c0, c1))


def _full(region: Region | str, tensor: Any) -> Region | str:
    """Turn ``ALL`` into the whole extent of a spatial tensor."""
    size = _spatial(tensor)
    if region == ALL and size is not None:
        return (0, size[0] - 1), (0, size[1] - 1)
    return region


def _walk(output: Any, region: Region | str, inputs: list[Any], clip: bool, local: bool,
          seen_global: list[bool]) -> dict[int, tuple[Any, Any]]:
    """Regions required of every tensor between ``inputs`` and ``output``: ``{id: (tensor, region)}``.

    A layer that reads a whole spatial tensor (global pooling feeding a squeeze-excite scale) makes
    ``seen_global[0]`` true; with ``local`` such global dependencies are left out of the regions.
    """
    stop = {id(t) for t in inputs}
    required: dict[int, tuple[Any, Any]] = {id(output): (output, region)}
    for tensor in reversed(graph.topological_tensors(output, stop)):  # consumers before producers
        if id(tensor) not in required or id(tensor) in stop:
            continue
        made = graph.producer(tensor)
        if made is None:
            continue
        op, node = made
        region_out = _full(required[id(tensor)][1], tensor)
        parents = graph.node_inputs(node)
        if isinstance(op, keras.Model):  # a nested model: walk its own graph
            index = [id(t) for t in graph.node_outputs(node)].index(id(tensor))
            inner = _walk(op.outputs[index], region_out, list(op.inputs), clip, local, seen_global)
            wanted = [inner.get(id(t), (t, None))[1] for t in op.inputs]
        elif region_out == ALL:
            wanted = [ALL for _ in parents]
        else:
            wanted = [_layer_back(op, region_out, parent, tensor) for parent in parents]
        for parent, want in zip(parents, wanted, strict=True):
            if want is None:
                continue
            if want == ALL and _spatial(parent) is not None:
                seen_global[0] = True
                if local:
                    continue
            want = _full(want, parent)
            if clip:
                want = _clip(want, _spatial(parent))
                if want is None:  # only padding is read from this input
                    continue
            required[id(parent)] = (parent, _hull(required.get(id(parent), (parent, None))[1], want))
    return required


def _resolve(model: keras.Model, layer_name: str) -> tuple[keras.layers.Layer, Any]:
    model = as_loaded(model).model
    if not isinstance(layer_name, str) or not layer_name:
        raise ParameterError(f"Parameter 'layer' must be a layer name, got {layer_name!r}.")
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        spatial = [la.name for la in model.layers
                   if (t := graph.output_tensor(la)) is not None and _spatial(t)]
        raise unknown_name("layer", layer_name, spatial[-30:]) from None
    tensor = graph.output_tensor(layer)
    if tensor is None or _spatial(tensor) is None:
        shape = None if tensor is None else tuple(tensor.shape)
        raise ParameterError(f"Layer {layer_name!r} has output shape {shape}; a receptive field needs a "
                             "layer with spatial (H, W, C) feature maps.")
    return layer, tensor


def _input_region(model: keras.Model, output: Any, region: Region, clip: bool,
                  local: bool) -> tuple[Region, dict, bool]:
    """The input region, the regions of every tensor on the way, and whether a global branch was met."""
    pixels = model.inputs[0]
    seen_global = [False]
    required = _walk(output, region, [pixels], clip, local, seen_global)
    found = required.get(id(pixels), (pixels, None))[1]
    if found is None:  # the position reads only padding: it sees no pixel at all
        raise ParameterError("This position of the feature map lies entirely in the padding; it sees no "
                             "pixel.")
    return _full(found, pixels), required, seen_global[0]


def region_path(model: keras.Model, layer_name: str, row: int, col: int, local: bool = False) -> RegionPath:
    """The input rows and cols that feature-map position ``(row, col)`` of ``layer_name`` depends on.

    ``steps`` gives the same region at every spatial layer between the input and that layer. In a
    network with squeeze-excite blocks every position also depends, through a global average, on
    the whole image; ``local=True`` leaves that dependency out (``global_context`` says it exists).
    """
    model = as_loaded(model).model
    layer, tensor = _resolve(model, layer_name)
    h, w = _spatial(tensor)
    for value, size, label in ((row, h, "row"), (col, w, "col")):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not 0 <= value < size:
            raise ParameterError(f"Parameter '{label}' must be a whole number from 0 to {size - 1} for layer "
                                 f"{layer_name!r}, got {value!r}.")
    row, col = int(row), int(col)
    (rows, cols), required, seen_global = _input_region(model, tensor, ((row, row), (col, col)), clip=True,
                                                         local=local)
    steps = []
    for other in model.layers:
        out = graph.output_tensor(other)
        if out is None or id(out) not in required or _spatial(out) is None:
            continue
        region = _full(required[id(out)][1], out)
        steps.append(PathStep(other.name, tuple(int(d) for d in out.shape[1:]), region[0], region[1]))
    return RegionPath(layer=layer.name, row=row, col=col, rows=rows, cols=cols, steps=steps,
                      global_context=seen_global)


def receptive_field(model: keras.Model, layer_name: str) -> ReceptiveField:
    """Size and stride of the (local) field of view of ``layer_name``'s positions, in input pixels.

    The textbook numbers: image borders are ignored (a field may extend into the padding) and
    global branches such as squeeze-excite are left out (``global_context`` says whether they exist).
    """
    model = as_loaded(model).model
    layer, tensor = _resolve(model, layer_name)
    first, _, seen_global = _input_region(model, tensor, ((0, 0), (0, 0)), clip=False, local=True)
    second, _, _ = _input_region(model, tensor, ((1, 1), (1, 1)), clip=False, local=True)
    (r0, r1), (c0, c1) = first
    return ReceptiveField(layer=layer.name, size=(r1 - r0 + 1, c1 - c0 + 1),
                          stride=(second[0][0] - r0, second[1][0] - c0), start=(r0, c0),
                          global_context=seen_global)
