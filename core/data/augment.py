"""Data augmentation: one typed spec for the preview and for training, so what you see is what trains.

:class:`AugmentSpec` is turned into Keras preprocessing layers by :func:`layer_specs`, a list of
``(layer class name, keyword arguments)``. The same list builds the layers (:func:`build_augmenter`)
and prints the Python snippet (:meth:`AugmentSpec.to_python`), so the snippet cannot drift from
what runs. Images are float32 RGB 0..255 (the model contract) before and after.

Each field declares its range, default and help text (:func:`parameters`), from which the dashboard
builds its sliders. This module imports Keras only when layers are built.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from core.errors import ParameterError, unknown_name
from core.i18n import N_

FLIP_MODES = {"none": None, "horizontal": "horizontal", "vertical": "vertical",
              "both": "horizontal_and_vertical"}
FILL_MODES = ("reflect", "constant", "nearest", "wrap")
ERASING_AREA = (0.02, 0.2)  # fraction of the image covered by one erased patch
ERASING_FILL = 127.5  # mid grey


def _shown(value: Any) -> str:
    """A value for an error sentence, cut short (JSON allows numbers of 500 digits)."""
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _param(default: Any, label: str, help: str, low: float | None = None, high: float | None = None,
           step: float | None = None, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"label": label, "help": help, "min": low, "max": high,
                                            "step": step, "choices": choices})


@dataclass(frozen=True)
class AugmentSpec:
    """Random changes applied to training images. All zero / "none" means no augmentation."""

    flip: str = _param("none", N_("Flip"), N_("Mirror images at random: left-right, top-bottom or both."),
                       choices=tuple(FLIP_MODES))
    rotation: float = _param(0.0, N_("Rotation (degrees)"), N_("Rotate by a random angle up to this many degrees "
                             "either way."), 0.0, 180.0, 1.0)
    zoom: float = _param(0.0, N_("Zoom"), N_("Zoom in or out by up to this fraction (0.2 = 80% to 120%)."),
                         0.0, 0.5, 0.01)
    translation: float = _param(0.0, N_("Shift"), N_("Shift by up to this fraction of the width and height."),
                                0.0, 0.5, 0.01)
    brightness: float = _param(0.0, N_("Brightness"), N_("Add up to this fraction of full brightness, "
                               "either way."), 0.0, 1.0, 0.01)
    contrast: float = _param(0.0, N_("Contrast"), N_("Scale contrast by a factor between 1 - c and 1 + c."),
                             0.0, 1.0, 0.01)
    hue: float = _param(0.0, N_("Hue"), N_("Rotate colours around the colour wheel by up to this fraction of a "
                        "half turn."), 0.0, 1.0, 0.01)
    saturation: float = _param(0.0, N_("Saturation"), N_("Make colours duller or stronger (0.5 ranges from grey "
                               "to fully saturated)."), 0.0, 0.5, 0.01)
    grayscale: float = _param(0.0, N_("Grey-scale"), N_("Probability of turning an image grey."), 0.0, 1.0, 0.05)
    noise: float = _param(0.0, N_("Noise"), N_("Standard deviation of added Gaussian noise, as a fraction of the "
                          "0-255 range."), 0.0, 0.2, 0.005)
    erasing: float = _param(0.0, N_("Erasing"), N_("Probability of covering a random patch (2 to 20 percent of "
                            "the image) with grey (cutout)."), 0.0, 1.0, 0.05)
    fill_mode: str = _param("reflect", N_("Fill"), N_("How pixels moved in from outside are filled by rotation, "
                            "zoom and shift."), choices=FILL_MODES)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            meta = f.metadata
            if meta["choices"]:
                if value not in meta["choices"]:
                    raise ParameterError(f"{f.name} must be one of {', '.join(meta['choices'])}, got {value!r}.")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ParameterError(f"{f.name} must be a number, got {_shown(value)}.")
            if not meta["min"] <= value <= meta["max"]:  # exact for ints too large to be floats
                raise ParameterError(f"{f.name} must be between {meta['min']:g} and {meta['max']:g}, "
                                     f"got {_shown(value)}.")
            object.__setattr__(self, f.name, float(value))

    @property
    def is_identity(self) -> bool:
        return not layer_specs(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentSpec:
        """Build from a dict; unknown keys are an error (a typo must not silently do nothing)."""
        if not isinstance(data, dict):
            raise ParameterError(f"augmentation must be a mapping of settings, got {type(data).__name__}.")
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ParameterError(f"Unknown augmentation setting {extra[0]!r}. Known settings: "
                                 f"{', '.join(sorted(known))}.")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> AugmentSpec:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ParameterError(f"augmentation is not valid JSON ({exc}).") from None
        except RecursionError:
            raise ParameterError("augmentation settings nest their JSON too deeply.") from None
        return cls.from_dict(data)

    def to_python(self, seed: int = 0) -> str:
        """A stand-alone snippet that builds exactly these layers."""
        lines = ["import keras", "", "augment = keras.Sequential(["]
        for name, kwargs in layer_specs(self, seed):
            args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            lines.append(f"    keras.layers.{name}({args}),")
        lines += ["], name=\"augmentation\")",
                  "# images: float32 RGB 0..255, shape (N, H, W, 3)",
                  "augmented = keras.ops.clip(augment(images, training=True), 0.0, 255.0)"]
        return "\n".join(lines) + "\n"


# "light" changes no image's class in any common dataset (no flip: a mirrored 2, b or 7 is no longer
# one); "strong" adds a left-right flip, so it suits only classes whose mirror image is the same class.
PRESETS: dict[str, AugmentSpec] = {
    "none": AugmentSpec(),
    "light": AugmentSpec(rotation=10.0, zoom=0.1, translation=0.05, brightness=0.1, contrast=0.1),
    "strong": AugmentSpec(flip="horizontal", rotation=25.0, zoom=0.2, translation=0.1, brightness=0.25,
                          contrast=0.3, hue=0.05, saturation=0.2, grayscale=0.1, noise=0.02, erasing=0.25),
}
PRESET_NOTES: dict[str, str] = {
    "none": N_("The images as they are."),
    "light": N_("Small turns, zooms, shifts and lighting changes, no flips: safe for any dataset, digits and "
                "letters included."),
    "strong": N_("Adds left-right flips, colour changes, noise and cut-out: for photos of objects whose mirror "
                 "image is the same class (animals, clothes, faces, shapes), not for digits, letters or text."),
}
MIRROR_WARNING = N_("Flipping mirrors the images: a mirrored digit, letter or word (2, 7, b, d, text) is no "
                    "longer what its label says. Keep Flip at none unless every class looks the same mirrored.")


def mirror_sensitive(class_names: list[str] | tuple[str, ...]) -> bool:
    """True when the class names are digits or single letters: a flip changes what such images show."""
    names = [str(n).strip() for n in class_names]
    return bool(names) and all(n.isdigit() or (len(n) == 1 and n.isalpha()) for n in names)


def preset(name: str) -> AugmentSpec:
    if name not in PRESETS:
        raise unknown_name("augmentation preset", name, list(PRESETS))
    return PRESETS[name]


def parameters() -> list[dict[str, Any]]:
    """Each setting with its kind, default, range, step, choices, label and help (for sliders)."""
    out = []
    for f in fields(AugmentSpec):
        meta = dict(f.metadata)
        out.append({"name": f.name, "kind": "choice" if meta["choices"] else "float", "default": f.default,
                    **{k: (list(v) if isinstance(v, tuple) else v) for k, v in meta.items()}})
    return out


def layer_specs(spec: AugmentSpec, seed: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """The Keras layers (class name, arguments) for ``spec``: geometry, then colour, noise, erasing.

    Each random layer gets its own seed (``seed + position``) so that two layers never share a stream.
    """
    value_range = (0.0, 255.0)
    out: list[tuple[str, dict[str, Any]]] = []
    fill = {"fill_mode": spec.fill_mode}
    if FLIP_MODES[spec.flip]:
        out.append(("RandomFlip", {"mode": FLIP_MODES[spec.flip]}))
    if spec.rotation:
        out.append(("RandomRotation", {"factor": round(spec.rotation / 360.0, 6), **fill}))
    if spec.zoom:
        out.append(("RandomZoom", {"height_factor": (-spec.zoom, spec.zoom), **fill}))
    if spec.translation:
        out.append(("RandomTranslation", {"height_factor": spec.translation, "width_factor": spec.translation,
                                          **fill}))
    if spec.brightness:
        out.append(("RandomBrightness", {"factor": spec.brightness, "value_range": value_range}))
    if spec.contrast:
        out.append(("RandomContrast", {"factor": spec.contrast, "value_range": value_range}))
    if spec.hue:
        out.append(("RandomHue", {"factor": spec.hue, "value_range": value_range}))
    if spec.saturation:
        out.append(("RandomSaturation", {"factor": (0.5 - spec.saturation, 0.5 + spec.saturation),
                                         "value_range": value_range}))
    if spec.grayscale:
        out.append(("RandomGrayscale", {"factor": spec.grayscale}))
    if spec.noise:
        # Keras' GaussianNoise takes a standard deviation below 1, so the noise is added on a 0..1 scale.
        out += [("Rescaling", {"scale": 1 / 255.0}), ("GaussianNoise", {"stddev": spec.noise}),
                ("Rescaling", {"scale": 255.0})]
    if spec.erasing:
        out.append(("RandomErasing", {"factor": (spec.erasing, spec.erasing), "scale": ERASING_AREA,
                                      "fill_value": ERASING_FILL, "value_range": value_range}))
    random_layers = {"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomBrightness",
                     "RandomContrast", "RandomHue", "RandomSaturation", "RandomGrayscale", "GaussianNoise",
                     "RandomErasing"}
    return [(name, {**kwargs, "seed": int(seed) + i} if name in random_layers else kwargs)
            for i, (name, kwargs) in enumerate(out)]


def build_augmenter(spec: AugmentSpec, seed: int = 0):
    """A ``keras.Sequential`` of the spec's layers (identity if the spec is empty).

    The layers hold random state: a fresh augmenter with the same seed replays the same sequence of
    transformations, one per call. Use :func:`apply_augmenter` to call it.
    """
    import keras

    layers = [getattr(keras.layers, name)(**kwargs) for name, kwargs in layer_specs(spec, seed)]
    return keras.Sequential(layers, name="augmentation")


def apply_augmenter(augmenter, images):
    """Augment a batch tensor ``(N, H, W, 3)`` float32 0..255; the one call preview and training share."""
    import keras

    if not augmenter.layers:
        return images
    return keras.ops.clip(augmenter(images, training=True), 0.0, 255.0)


def augment(images: np.ndarray, spec: AugmentSpec, seed: int = 0) -> np.ndarray:
    """Augment ``images`` (``(H, W, 3)`` or ``(N, H, W, 3)``, any numeric dtype 0..255) deterministically.

    The result equals the first batch the training pipeline produces with the same spec and seed.
    Returns float32 0..255 with the input's shape.
    """
    import keras

    array = np.asarray(images, dtype=np.float32)
    single = array.ndim == 3
    if single:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ParameterError(f"images must have shape (H, W, 3) or (N, H, W, 3), got {np.shape(images)}.")
    out = keras.ops.convert_to_numpy(apply_augmenter(build_augmenter(spec, seed), array))
    out = np.asarray(out, dtype=np.float32)
    return out[0] if single else out


def with_changes(spec: AugmentSpec, **changes: Any) -> AugmentSpec:
    """A copy of ``spec`` with some settings changed (validated like a new spec)."""
    return replace(spec, **changes)
