"""The typed description of a training run. A run is fully described by its config, saved beside it.

Like nanoGPT's ``GPTConfig``: one dataclass with commented defaults, ``to_dict``/``from_dict`` for
JSON, and :meth:`TrainConfig.validate` raising a :class:`~core.errors.ParameterError` that names the
parameter. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core.errors import ParameterError
from core.params import declared, setting, shown
from core.smallfiles import read_small_text

FINE_TUNE_UNITS = ("layers", "blocks")


@dataclass
class AdversarialConfig:
    """Adversarial fine-tuning: part of every batch is replaced by attacked copies of itself."""

    method: str = "fgsm"  # an attack registered in core.attacks (checked when training starts)
    eps: float = setting(4.0, float, "L-infinity budget in 0..255 pixel levels", min=0.0, max=255.0,
                         min_inclusive=False)
    ratio: float = setting(0.5, float, "fraction of each batch replaced by adversarial versions", min=0.0,
                           max=1.0, min_inclusive=False)
    params: dict[str, Any] = field(default_factory=dict)  # other attack parameters, e.g. {"steps": 3}

    def validate(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise ParameterError(f"adversarial.method must be an attack name, got {self.method!r}.")
        _check_declared(self, prefix="adversarial.")
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
    # Defaults measured in docs/recipe.md (bench/bench_recipe.py): the head is cheap, so it trains until
    # validation loss stops improving (patience) rather than for a fixed few epochs; 3e-3 suits both a
    # head on stored features and a small network from scratch (1e-3 left the head under-fitted).
    epochs: int = setting(100, int, "passes over the training images", min=1, max=10_000)
    batch_size: int = setting(32, int, "images per training step", min=1, max=4096)
    learning_rate: float = setting(3e-3, float, "Adam, cosine-decayed to 0 over the stage", min=0.0, max=10.0,
                                   min_inclusive=False)
    # Stage 2 (optional): unfreeze the top of the backbone at a lower rate; BatchNorm stays in inference mode.
    fine_tune_layers: int = setting(0, int, "layers (or blocks) to unfreeze from the top; 0 = no stage 2",
                                    min=0, max=100_000)
    fine_tune_unit: str = setting("layers", str, "what fine_tune_layers counts: layers (with weights) or "
                                  "blocks", choices=FINE_TUNE_UNITS)
    fine_tune_epochs: int = setting(5, int, "epochs of stage 2", min=1, max=10_000)
    fine_tune_learning_rate: float = setting(1e-4, float, "learning rate of stage 2", min=0.0, max=10.0,
                                             min_inclusive=False)
    # Regularisation and data.
    augment: str | dict[str, Any] | None = None  # preset name ("light"), settings, or a JSON file
    augment_views: int = setting(3, int, "fast path: augmented views precomputed per training image (plus "
                                 "the clean one)", min=1, max=32)
    fast_features: bool = setting(True, bool, "frozen backbone: compute its features once and train the head "
                                  "on them")
    label_smoothing: float = setting(0.0, float, "0.1 spreads 10% of each target over the other classes",
                                     min=0.0, max=1.0, max_inclusive=False)
    class_weights: bool = setting(True, bool, "weigh classes inversely to their frequency in the training "
                                  "split")
    early_stopping_patience: int = setting(10, int, "stop after this many epochs without a lower val loss; "
                                           "0 = never", min=0, max=10_000)
    dropout: float = setting(0.2, float, "before the new head's output layer", min=0.0, max=1.0,
                             max_inclusive=False)
    hidden_units: int = setting(0, int, "an extra Dense+ReLU layer in the head; 0 = a linear head", min=0,
                                max=65_536)
    val_fraction: float = setting(0.2, float, "validation share, for datasets without a val/ folder", min=0.0,
                                  max=1.0, min_inclusive=False, max_inclusive=False)
    test_fraction: float = setting(0.0, float, "test share, for datasets without a test/ folder", min=0.0,
                                   max=1.0, max_inclusive=False)
    image_size: int | None = setting(None, int, "from-scratch models only: square input side (default: the "
                                     "zoo's)", min=16, max=1024, optional=True)
    seed: int = setting(0, int, "weights of the new layers, shuffling, augmentation and the split", min=0,
                        max=2**31 - 1)
    adversarial: AdversarialConfig | None = None  # e.g. {"method": "fgsm", "eps": 4.0, "ratio": 0.5}
    baseline: bool = setting(True, bool, "also fit HOG + a linear SVM on the same split, reported beside the "
                             "run")

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
        _check_declared(self)
        if self.augment is not None and not isinstance(self.augment, (str, dict)):
            raise ParameterError("augment must be a preset name, a JSON file or a mapping of settings.")
        self.augment_spec()
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ParameterError("val_fraction + test_fraction must be below 1, got "
                                 f"{self.val_fraction + self.test_fraction:g}.")
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


def _check_declared(settings: Any, prefix: str = "") -> None:
    """Check (and convert) every field declared with :func:`core.params.setting`; errors name the field."""
    for param in declared(type(settings)):
        value = getattr(settings, param.name)
        named = replace(param, name=prefix + param.name) if prefix else param
        setattr(settings, param.name, named.validate(value))
