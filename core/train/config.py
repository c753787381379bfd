"""The typed description of a training run. A run is fully described by its config, saved beside it.

Like nanoGPT's ``GPTConfig``: one dataclass with commented defaults, ``to_dict``/``from_dict`` for
JSON, and :meth:`TrainConfig.validate` raising a :class:`~core.errors.ParameterError` that names the
parameter. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core.errors import ParameterError
from core.smallfiles import read_small_text

FINE_TUNE_UNITS = ("layers", "blocks")
ADVERSARIAL_METHODS = ("fgsm", "pgd")  # checked again against core.attacks when training starts


@dataclass
class AdversarialConfig:
    """Adversarial fine-tuning: part of every batch is replaced by attacked copies of itself."""

    method: str = "fgsm"  # an attack registered in core.attacks ("fgsm", "pgd")
    eps: float = 4.0  # L-infinity budget in 0..255 pixel levels
    ratio: float = 0.5  # fraction of each batch replaced by adversarial versions (0 < ratio <= 1)
    params: dict[str, Any] = field(default_factory=dict)  # other attack parameters, e.g. {"steps": 3}

    def validate(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise ParameterError(f"adversarial.method must be an attack name, got {self.method!r}.")
        _number("adversarial.eps", self.eps, low=0.0, high=255.0, low_open=True)
        _number("adversarial.ratio", self.ratio, low=0.0, high=1.0, low_open=True)
        if not isinstance(self.params, dict):
            raise ParameterError(f"adversarial.params must be a mapping, got {type(self.params).__name__}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdversarialConfig:
        return cls(**_known_keys(cls, data, "adversarial"))


@dataclass
class TrainConfig:
    """Everything that defines a training run. Defaults suit transfer learning on a laptop CPU."""

    data: str  # dataset folder, zip file or built-in id ("shapes")
    model: str = "efficientnet_lite0"  # zoo model, from-scratch architecture (small_cnn, lenet5), run folder
    name: str | None = None  # display name of the run (default: "<model> on <dataset>")
    # Stage 1: a new head on the frozen backbone (or, from scratch, the whole network).
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3  # Adam, cosine-decayed to 0 over the stage
    # Stage 2 (optional): unfreeze the top of the backbone at a lower rate; BatchNorm stays in inference mode.
    fine_tune_layers: int = 0  # how many layers (or blocks) to unfreeze from the top; 0 = no stage 2
    fine_tune_unit: str = "layers"  # what fine_tune_layers counts: "layers" (with weights) or "blocks"
    fine_tune_epochs: int = 5
    fine_tune_learning_rate: float = 1e-4
    # Regularisation and data.
    augment: str | dict[str, Any] | None = None  # preset name ("light"), settings, or a JSON file
    augment_views: int = 3  # fast path: augmented views precomputed per training image (plus the clean one)
    fast_features: bool = True  # frozen backbone: compute its features once and train the head on them
    label_smoothing: float = 0.0  # 0.1 spreads 10% of each target over the other classes
    class_weights: bool = True  # weigh classes inversely to their frequency in the training split
    early_stopping_patience: int = 3  # stop after this many epochs without a lower val loss; 0 = never
    dropout: float = 0.2  # before the new head's output layer
    hidden_units: int = 0  # an extra Dense+ReLU layer in the head; 0 = a linear head
    val_fraction: float = 0.2  # validation share, for datasets without a val/ folder
    test_fraction: float = 0.0  # test share, for datasets without a test/ folder
    image_size: int | None = None  # from-scratch models only: square input side (default: the zoo's)
    seed: int = 0  # weights of the new layers, shuffling, augmentation and the split
    adversarial: AdversarialConfig | None = None  # e.g. {"method": "fgsm", "eps": 4.0, "ratio": 0.5}
    baseline: bool = True  # also fit HOG + a linear SVM on the same split, reported beside the run

    # -- conversions ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a saved ``config.json``); unknown keys are an error, not ignored."""
        values = _known_keys(cls, data, "training")
        if "data" not in values:
            raise ParameterError("data is required: a dataset folder, zip file or built-in id such as "
                                 "'shapes'.")
        adversarial = values.get("adversarial")
        if isinstance(adversarial, dict):
            values["adversarial"] = AdversarialConfig.from_dict(adversarial)
        return cls(**values)

    def with_changes(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)

    # -- checks --------------------------------------------------------------------------------------
    @property
    def stage2(self) -> bool:
        return self.fine_tune_layers > 0

    def augment_spec(self):
        """The :class:`core.data.augment.AugmentSpec` for ``augment``, or None for no augmentation."""
        return resolve_augment(self.augment)

    def validate(self) -> TrainConfig:
        """Raise :class:`ParameterError` naming the first nonsense parameter; return self when all is well."""
        if not isinstance(self.data, (str, Path)) or not str(self.data).strip():
            raise ParameterError("data must name a dataset folder, zip file or built-in dataset.")
        if not isinstance(self.model, (str, Path)) or not str(self.model).strip():
            raise ParameterError("model must name a zoo model, a from-scratch architecture or a run folder.")
        if self.name is not None and (not isinstance(self.name, str) or len(self.name) > 200):
            raise ParameterError("name must be text of at most 200 characters.")
        _integer("epochs", self.epochs, 1, 10_000)
        _integer("batch_size", self.batch_size, 1, 4096)
        _number("learning_rate", self.learning_rate, low=0.0, high=10.0, low_open=True)
        _integer("fine_tune_layers", self.fine_tune_layers, 0, 100_000)
        if self.fine_tune_unit not in FINE_TUNE_UNITS:
            raise ParameterError(f"fine_tune_unit must be one of {', '.join(FINE_TUNE_UNITS)}, "
                                 f"got {self.fine_tune_unit!r}.")
        _integer("fine_tune_epochs", self.fine_tune_epochs, 1, 10_000)
        _number("fine_tune_learning_rate", self.fine_tune_learning_rate, low=0.0, high=10.0, low_open=True)
        if self.augment is not None and not isinstance(self.augment, (str, dict)):
            raise ParameterError("augment must be a preset name, a JSON file or a mapping of settings.")
        self.augment_spec()
        _integer("augment_views", self.augment_views, 1, 32)
        _boolean("fast_features", self.fast_features)
        _number("label_smoothing", self.label_smoothing, low=0.0, high=1.0, high_open=True)
        _boolean("class_weights", self.class_weights)
        _boolean("baseline", self.baseline)
        _integer("early_stopping_patience", self.early_stopping_patience, 0, 10_000)
        _number("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        _integer("hidden_units", self.hidden_units, 0, 65_536)
        _number("val_fraction", self.val_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
        _number("test_fraction", self.test_fraction, low=0.0, high=1.0, high_open=True)
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ParameterError("val_fraction + test_fraction must be below 1, got "
                                 f"{self.val_fraction + self.test_fraction:g}.")
        if self.image_size is not None:
            _integer("image_size", self.image_size, 16, 1024)
        _integer("seed", self.seed, 0, 2**31 - 1)
        if self.adversarial is not None:
            if not isinstance(self.adversarial, AdversarialConfig):
                raise ParameterError("adversarial must be a mapping with method, eps and ratio.")
            self.adversarial.validate()
        return self


def resolve_augment(value: str | dict[str, Any] | None):
    """A preset name, a JSON file of settings, a JSON object as text or a dict -> AugmentSpec (or None)."""
    from core.data.augment import PRESETS, AugmentSpec, preset

    if value is None:
        return None
    if isinstance(value, dict):
        spec = AugmentSpec.from_dict(value)
    elif not isinstance(value, str):
        raise ParameterError("augment must be a preset name, a JSON file or a mapping of settings.")
    elif value in PRESETS:
        spec = preset(value)
    elif value.lstrip().startswith("{"):
        spec = AugmentSpec.from_json(value)
    elif _exists(value):
        spec = AugmentSpec.from_json(read_small_text(value, 65_536, "augment"))
    else:
        raise ParameterError(f"augment: {shown(value)} is neither a preset ({', '.join(PRESETS)}) nor a JSON "
                             "file.")
    return None if spec.is_identity else spec


# -- helpers -------------------------------------------------------------------------------------------
def _exists(path: str) -> bool:
    try:
        return Path(path).expanduser().exists()
    except (OSError, RuntimeError):  # a name too long to look up; "~nobody" with no such user
        return False


def _known_keys(cls: type, data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ParameterError(f"The {what} settings must be a mapping, got {type(data).__name__}.")
    known = [f.name for f in fields(cls)]
    extra = sorted(set(data) - set(known))
    if extra:
        raise ParameterError(f"Unknown {what} setting {extra[0]!r}. Known settings: {', '.join(known)}.")
    return dict(data)


def shown(value: Any) -> str:
    """A value for an error sentence: numbers of 500 digits (JSON allows them) are cut short."""
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _integer(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name} must be a whole number, got {shown(value)}.")
    if not low <= value <= high:
        raise ParameterError(f"{name} must be between {low} and {high}, got {shown(value)}.")


def _number(name: str, value: Any, low: float, high: float, low_open: bool = False,
            high_open: bool = False) -> None:
    # int/float comparisons are exact in Python, even for an int too large to become a float
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == math.inf:
        raise ParameterError(f"{name} must be a finite number, got {shown(value)}.")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        lo, hi = ("above" if low_open else "at least"), ("below" if high_open else "at most")
        raise ParameterError(f"{name} must be {lo} {low:g} and {hi} {high:g}, got {shown(value)}.")


def _boolean(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be true or false, got {value!r}.")
