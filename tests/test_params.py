"""One parameter declaration (core/params.py): conversion, the sentence that names a bad parameter, and
every declared parameter of every registered method, attack, defence and of TrainConfig checked through
the path a user takes (``explain(...)``, ``create_attack``, ``TrainConfig.validate``)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from core import attacks  # noqa: E402
from core.errors import GlasswingError, ParameterError  # noqa: E402
from core.explain import list_methods  # noqa: E402
from core.params import Configurable, Param, declared, validate_params  # noqa: E402
from core.train.config import AdversarialConfig, TrainConfig  # noqa: E402


@pytest.mark.parametrize("param, value, message", [
    (Param("eps", float, 8.0, min=0, max=255, unit="pixels"), 300.0, "eps must be at most 255 pixels, got 300.0."),
    (Param("eps", float, 8.0, min=0, max=255, unit="pixels"), -1, "eps must be between 0 and 255 pixels, got -1."),
    (Param("lr", float, 1e-3, min=0, max=10, min_inclusive=False), 10**500,
     "lr must be above 0 and at most 10, got 10000000000000000000...(501 characters)."),
    (Param("lr", float, 1e-3, min=0, max=10, min_inclusive=False), 0, "lr must be above 0 and at most 10, got 0."),
    (Param("drop", float, 0.2, min=0, max=1, max_inclusive=False), 1.0, "drop must be below 1, got 1.0."),
    (Param("drop", float, 0.2, min=0, max=1, max_inclusive=False), -1, "drop must be at least 0 and below 1, got -1."),
    (Param("seed", int, 0, min=0, max=2**31 - 1), 2**40, "seed must be at most 2,147,483,647, got 1099511627776."),
    (Param("steps", int, 10, min=1), 2.5, "steps must be a whole number, got 2.5."),
    (Param("steps", int, 10, min=1), "many", "steps must be a whole number, got 'many'."),
    (Param("steps", int, 10, min=1), True, "steps must be a whole number, got True."),
    (Param("noise", float, 0.2, min=0, max=1), math.nan, "noise must be a finite number, got nan."),
    (Param("flag", bool, True), 1, "flag must be true or false, got 1."),
    (Param("base", str, "black", choices=("black", "blur")), "purple",
     "base must be one of black, blur, got 'purple'."),
    (Param("step", float, None), None, "step needs a value."),
])
def test_a_bad_value_gets_one_sentence_naming_the_parameter(param, value, message):
    with pytest.raises(ParameterError) as info:
        param.validate(value)
    assert str(info.value) == message


def test_values_are_converted_to_the_declared_type():
    assert Param("n", int, 1, min=0).validate(3.0) == 3 and isinstance(Param("n", int, 1).validate(3.0), int)
    assert isinstance(Param("x", float, 1.0).validate(np.float32(2)), float)
    assert Param("x", float, 1.0).validate(2) == 2.0 and isinstance(Param("x", float, 1.0).validate(2), float)
    assert Param("b", bool, False).validate(np.bool_(True)) is True
    assert Param("s", float, None, optional=True).validate(None) is None


def test_validate_params_fills_defaults_and_names_an_unknown_parameter():
    specs = (Param("a", int, 1, min=0), Param("b", bool, False))
    assert validate_params("thing", specs, {"a": 4}) == {"a": 4, "b": False}
    with pytest.raises(ParameterError, match=r"^thing has no parameter 'c'; its parameters are: a, b\.$"):
        validate_params("thing", specs, {"c": 1})


def test_configurable_checks_its_declarations_once_and_extends_them():
    class Odd(Configurable):
        name = "odd"
        params = (Param("k", int, 3, min=1, max=9),)

        def _check_params(self) -> None:
            super()._check_params()
            if self.values["k"] % 2 == 0:
                raise ParameterError("k must be odd.")

    assert Odd().values == {"k": 3} and Odd(k=5.0).values == {"k": 5}
    with pytest.raises(ParameterError, match="^k must be between 1 and 9, got 0"):
        Odd(k=0)
    with pytest.raises(ParameterError, match="k must be odd"):
        Odd(k=4)


# -- every declaration of every registered entry -----------------------------------------------------------
def _declarations():
    for method in list_methods():
        yield pytest.param("method", method.name, method.params, id=f"method-{method.name}")
    for name in attacks.list_attacks():
        yield pytest.param("attack", name, attacks.get_attack(name).params, id=f"attack-{name}")
    for name in attacks.list_defences():
        yield pytest.param("defence", name, attacks.get_defence(name).params, id=f"defence-{name}")
    yield pytest.param("train", "TrainConfig", declared(TrainConfig), id="train")
    yield pytest.param("train", "AdversarialConfig", declared(AdversarialConfig), id="adversarial")


def _wrong_values(p: Param) -> list:
    """Values the declaration must refuse: the wrong type, and each side of its range."""
    if p.type is bool:
        return ["yes", 2]
    if p.type is str:
        return [3] + (["no-such-choice"] if p.choices else [])
    wrong = ["many", True, math.inf]
    if p.min is not None:
        wrong.append(p.min - 1 if p.min_inclusive else p.min)
    if p.max is not None:
        wrong.append(p.max + 1 if p.max_inclusive else p.max)
    if p.type is int:
        wrong.append(1.5)
    return wrong


@pytest.mark.parametrize("kind, owner, params", list(_declarations()))
def test_every_declared_parameter_is_complete_and_its_default_passes(kind, owner, params):
    for p in params:
        assert p.help and p.type in (int, float, bool, str), (owner, p)
        assert p.validate(p.default) == p.default, (owner, p.name)
        if p.min is not None and p.max is not None:
            assert p.min < p.max


def _check(kind: str, owner: str, name: str, value) -> None:
    """The user's path to the parameter: explain(), create_attack/create_defence, TrainConfig.validate."""
    if kind == "method":
        from core.explain import explain

        explain(_tiny(), np.zeros((1, 8, 8, 3), np.float32), owner, **{name: value})
    elif kind == "attack":
        attacks.create_attack(owner, **{name: value})
    elif kind == "defence":
        attacks.create_defence(owner, **{name: value})
    elif owner == "TrainConfig":
        TrainConfig.from_dict({"data": "shapes", name: value}).validate()
    else:
        TrainConfig(data="shapes", adversarial=AdversarialConfig(**{name: value})).validate()


@pytest.mark.parametrize("kind, owner, params", list(_declarations()))
def test_every_declared_parameter_rejects_a_wrong_value_naming_it(kind, owner, params):
    for p in params:
        for value in _wrong_values(p):
            with pytest.raises(ParameterError) as info:
                _check(kind, owner, p.name, value)
            message = str(info.value)
            assert p.name in message and message.endswith(".") and "\n" not in message, (owner, p.name, value)
            assert isinstance(info.value, GlasswingError)


_TINY = []


def _tiny():
    """A 8x8 two-class CNN (built once) for the explanation methods' parameter checks."""
    if not _TINY:
        import keras

        x = keras.Input((8, 8, 3))
        y = keras.layers.Conv2D(2, 3, name="conv")(x)
        y = keras.layers.GlobalAveragePooling2D()(y)
        _TINY.append(keras.Model(x, keras.layers.Activation("softmax", name="probabilities")(y)))
    return _TINY[0]


def test_train_config_errors_stay_the_sentences_users_saw():
    with pytest.raises(ParameterError, match=r"^learning_rate must be above 0 and at most 10, got 1000"):
        TrainConfig.from_dict({"data": "shapes", "learning_rate": 10**500}).validate()
    with pytest.raises(ParameterError, match=r"^fine_tune_unit must be one of layers, blocks, got 'rows'\.$"):
        TrainConfig(data="shapes", fine_tune_unit="rows").validate()
    with pytest.raises(ParameterError, match=r"^adversarial\.ratio must be above 0 and at most 1, got 0\.$"):
        TrainConfig(data="shapes", adversarial=AdversarialConfig(ratio=0)).validate()
    config = TrainConfig(data="shapes", epochs=3.0, learning_rate=1).validate()  # JSON numbers, converted
    assert config.epochs == 3 and isinstance(config.epochs, int) and isinstance(config.learning_rate, float)


def test_train_config_fields_declare_their_defaults():
    params = {p.name: p for p in declared(TrainConfig)}
    config = TrainConfig(data="shapes")
    assert {"epochs", "batch_size", "learning_rate", "seed", "fine_tune_unit", "image_size"} <= set(params)
    assert all(getattr(config, name) == p.default for name, p in params.items())
