"""ResNet50, VGG16, MobileNetV2 and EfficientNetB0 from ``keras.applications``, as flat raw-pixel models.

The ImageNet weights are Keras's legacy ``.h5`` files, downloaded on first use (with progress and a
checksum) or placed by the user in the weights cache. Each model is built on a weightless
preprocessing layer with ``input_tensor`` so the graph stays flat (every conv layer reachable for
CAM methods) and the legacy layer-by-layer weight loading still lines up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from core import config
from core.errors import Message, ModelUnavailableError
from core.i18n import N_
from core.modelgraph import PROBABILITIES_LAYER
from core.progress import Progress, report
from core.zoo import download as dl
from core.zoo.registry import ModelSpec, register_model

MANIFEST = config.REPO_ROOT / "pretrained" / "manifest.json"
OFFLINE_MODELS = "efficientnet_lite0, efficientnet_lite1"

# Caffe-style models were trained on BGR images minus the ImageNet mean (in BGR order).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)


@dataclass(frozen=True)
class KerasApp:
    name: str
    title: str
    constructor: Callable[..., keras.Model]
    input_size: tuple[int, int]
    preprocessing: str  # "caffe" (RGB->BGR, minus mean), "tf" (-1..1) or "none" (inside the model)
    default_cam_layer: str
    description: str


_manifest: dict[tuple[int, int], dict] = {}  # (size, mtime_ns) -> parsed manifest


def manifest_entry(name: str) -> dict:
    """The manifest's entry for ``name`` (the file is parsed again only when it changes)."""
    info = MANIFEST.stat()
    key = (info.st_size, info.st_mtime_ns)
    if key not in _manifest:
        _manifest.clear()
        _manifest[key] = json.loads(MANIFEST.read_text())
    return dict(_manifest[key][name])


def weights_dir() -> Path:
    return config.pretrained_dir() / "weights"


def weights_file(name: str) -> Path:
    return weights_dir() / manifest_entry(name)["file"]


def _recorded_hash_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _check_placed_file(name: str, path: Path) -> None:
    entry = manifest_entry(name)
    expected = entry.get("hash")
    if expected is None and _recorded_hash_file(path).is_file():
        expected = _recorded_hash_file(path).read_text().strip()  # recorded on first download
    if expected and not dl.verify(path, expected):
        raise ModelUnavailableError(
            f"{path} does not match the published checksum for {name}'s ImageNet weights; the file is "
            f"corrupt or a different file. Delete it and download {entry['url']} again."
        )


def placing_hint(name: str) -> Message:
    """How to give ``name`` its weights without a download (the end of the offline error)."""
    entry = manifest_entry(name)
    return Message(N_("Get {file} from {url} on a machine with internet, then put it in {folder}, upload it on "
                      "the dashboard's page (under the download button), or pass it with --weights on the "
                      "command line; {name} works as soon as the file is there. Or use a model that works "
                      "offline: {offline}."), file=entry["file"], url=entry["url"], folder=weights_dir(), name=name,
                   offline=OFFLINE_MODELS)


def install_weights(name: str, data: bytes) -> Path:
    """Put an uploaded weights file for ``name`` into the cache, if it matches the published checksum.

    Written atomically, so a wrong or partial file never looks cached. Without a published checksum
    the file's sha256 is recorded (as for a first download) and loading it checks it is the right file.
    """
    entry = manifest_entry(name)
    path = weights_file(name)
    expected = entry.get("hash")
    if expected:
        digest = hashlib.new(dl.hash_algorithm(expected), data).hexdigest()
        if digest != expected.lower():
            raise ModelUnavailableError(
                f"That file is not {entry['file']}: its checksum does not match the published one for "
                f"{name}'s ImageNet weights ({len(data) / 2**20:.1f} MB received, about {entry['size_mb']} MB "
                f"expected).")
    from core.atomic import write_bytes, write_text

    write_bytes(path, data)
    if not expected:
        write_text(_recorded_hash_file(path), hashlib.sha256(data).hexdigest() + "\n")
    return path


def fetch_weights(name: str, progress: Progress | None = None) -> Path:
    """The verified local weights file for ``name``, downloading it if needed."""
    entry = manifest_entry(name)
    path = weights_file(name)
    if path.is_file():
        _check_placed_file(name, path)
        return path
    try:
        dl.download(entry["url"], path, entry.get("hash"), progress)
    except ModelUnavailableError as exc:
        raise ModelUnavailableError.say(
            N_("{name} needs its ImageNet weights file {file} (about {mb} MB), which could not be downloaded: "
               "{reason} {hint}"), name=name, file=entry["file"], mb=entry["size_mb"], reason=exc,
            hint=placing_hint(name)) from None
    if entry.get("hash") is None:  # no published checksum: remember this one (trust on first use)
        from core.atomic import write_text
        write_text(_recorded_hash_file(path), dl.file_digest(path, "sha256") + "\n")
    return path


def _preprocessing_layers(kind: str) -> list[keras.layers.Layer]:
    # Weightless layers only: the legacy .h5 loader matches weights layer by layer over the graph.
    if kind == "caffe":
        return [keras.layers.Rescaling(1.0, offset=[-m for m in CAFFE_MEAN_RGB], name="preprocess")]
    if kind == "tf":
        return [keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")]
    return []


def _fold_rgb_to_bgr(model: keras.Model) -> None:
    """Make the first convolution accept RGB by reversing its kernel's input-channel axis."""
    first_conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    kernel, *rest = first_conv.get_weights()
    first_conv.set_weights([np.ascontiguousarray(kernel[:, :, ::-1, :]), *rest])


def build_flat(app: KerasApp, weights_path: Path | None, progress: Progress | None = None) -> keras.Model:
    """Raw RGB 0..255 in, probabilities out; one flat graph; ImageNet weights from ``weights_path``."""
    h, w = app.input_size
    pixels = keras.Input((h, w, 3), name="pixels")
    x = pixels
    for layer in _preprocessing_layers(app.preprocessing):
        x = layer(x)
    backbone = app.constructor(weights=None, input_tensor=x, include_top=True, classifier_activation=None)
    report(progress, 0.9, f"Loading the {app.title} ImageNet weights")
    if weights_path is not None:
        try:
            backbone.load_weights(str(weights_path))
        except (ValueError, OSError) as exc:
            raise ModelUnavailableError(
                f"{weights_path.name} is not a {app.name} ImageNet weights file Keras can load ({exc})."
            ) from None
        if app.preprocessing == "caffe":
            _fold_rgb_to_bgr(backbone)
    probs = keras.layers.Activation("softmax", name=PROBABILITIES_LAYER)(backbone.output)
    return keras.Model(pixels, probs, name=app.name)


APPS = (
    KerasApp("resnet50", "ResNet50", keras.applications.ResNet50, (224, 224), "caffe", "conv5_block3_out",
             N_("He et al. 2015; 25.6 M parameters, 50 layers with residual connections.")),
    KerasApp("vgg16", "VGG16", keras.applications.VGG16, (224, 224), "caffe", "block5_conv3",
             N_("Simonyan & Zisserman 2014; 138 M parameters, plain 3x3 convolutions.")),
    KerasApp("mobilenet_v2", "MobileNetV2", keras.applications.MobileNetV2, (224, 224), "tf", "out_relu",
             N_("Sandler et al. 2018; 3.5 M parameters, inverted residuals for phones.")),
    KerasApp("efficientnet_b0", "EfficientNet-B0", keras.applications.EfficientNetB0, (224, 224), "none",
             "top_activation", N_("Tan & Le 2019; 5.3 M parameters, compound-scaled with squeeze-excite.")),
)


def _weights_status(name: str) -> Callable[[], str]:
    return lambda: "cached" if weights_file(name).is_file() else "needs download"


def _register() -> None:
    for app in APPS:
        entry = manifest_entry(app.name)
        register_model(ModelSpec(
            name=app.name, title=app.title, input_size=app.input_size,
            default_cam_layer=app.default_cam_layer,
            weights_source=f"ImageNet weights from keras.applications ({entry['file']}, "
                           f"~{entry['size_mb']} MB, downloaded on first use)",
            build=lambda progress, app=app: build_flat(app, fetch_weights(app.name, progress), progress),
            weights_status=_weights_status(app.name),
            description=app.description,
        ))


_register()
