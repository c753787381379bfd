"""One registry mechanism (core/registry.py) behind models, explanation methods, attacks and defences:
register, get with an error that lists the known names, names by pattern, create. The suite runs over
every registered entry, and the Train form's attack picker is shown to read the registry."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from core import attacks  # noqa: E402
from core.attacks.registry import ATTACKS, DEFENCES  # noqa: E402
from core.errors import UnknownNameError  # noqa: E402
from core.explain.registry import METHODS  # noqa: E402
from core.registry import Registry  # noqa: E402
from core.zoo.registry import MODELS, ModelSpec  # noqa: E402


# -- the mechanism ------------------------------------------------------------------------------------------
def test_register_get_names_and_create():
    things: Registry = Registry("widget")

    @things.register("round")
    class Round:
        def __init__(self, size: int = 1) -> None:
            self.size = size

    things.register("square")(Round)
    assert things.get("round") is Round and "round" in things and len(things) == 2
    assert things.names() == ["round", "square"] and things.names("s*") == ["square"]
    things.unregister("square")
    assert list(things) == ["round"]
    assert things.create("round", size=3).size == 3
    scaled: Registry = Registry("widget", factory=lambda cls, factor=2: cls(size=factor))
    scaled.register("round")(Round)
    assert scaled.create("round").size == 2


def test_an_unknown_name_lists_the_known_ones():
    things: Registry = Registry("widget")
    things.register("round")(int)
    things.register("square")(float)
    for bad in ("oval", None, ["round"]):
        with pytest.raises(UnknownNameError) as info:
            things.get(bad)
        assert str(info.value) == f"Unknown widget {str(bad)!r}. Known widgets: round, square."


def test_a_name_registered_twice_is_a_bug_unless_it_is_the_same_class_again():
    things: Registry = Registry("widget")
    things.register("n")(int)
    things.register("n")(int)  # a reloaded module registers its class again
    with pytest.raises(ValueError, match="'n' is already registered"):
        things.register("n")(float)
    specs: Registry = Registry("model")
    spec = MODELS.get("small_cnn")
    specs.register("m")(spec)
    with pytest.raises(ValueError, match="already registered"):
        specs.register("m")(ModelSpec(**{**spec.__dict__, "title": "another"}))


# -- every registry, every entry ----------------------------------------------------------------------------
REGISTRIES = {"model": MODELS, "explanation method": METHODS, "attack": ATTACKS, "defence": DEFENCES}


@pytest.mark.parametrize("kind", list(REGISTRIES))
def test_every_registry_is_one_registry_naming_its_entries(kind):
    registry = REGISTRIES[kind]
    assert isinstance(registry, Registry) and registry.kind == kind and len(registry) >= 2
    for name in registry.names():
        assert registry.get(name).name == name
    with pytest.raises(UnknownNameError) as info:
        registry.get("no-such-entry")
    assert all(name in str(info.value) for name in registry.names())


def _entries():
    for kind, registry in REGISTRIES.items():
        for name in registry.names():
            yield pytest.param(kind, name, id=f"{kind}-{name}")


@pytest.mark.parametrize("kind, name", list(_entries()))
def test_every_entry_has_a_title_and_declarations(kind, name):
    entry = REGISTRIES[kind].get(name)
    assert entry.title and "\n" not in entry.title
    if kind in ("attack", "defence"):
        assert all(p.help for p in entry.params)
        assert REGISTRIES[kind].create(name).values == {p.name: p.default for p in entry.params}


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_spec_is_complete(name):
    spec = MODELS.get(name)
    height, width = spec.input_size
    assert isinstance(height, int) and isinstance(width, int) and 16 <= height <= 1024 and 16 <= width <= 1024
    assert spec.default_cam_layer and spec.weights_source and spec.description and callable(spec.build)
    assert spec.status() in ("ready", "cached", "needs download", "unavailable", "untrained")
    assert spec.pretrained == (spec.status() != "untrained")
    names = spec.class_names()
    assert len(names) >= 2 and all(isinstance(n, str) and n for n in names)
    if not spec.pretrained:  # built here in a blink: its CAM layer is a real feature-map layer
        from core.zoo.scratch import BUILDERS

        model = BUILDERS[name](num_classes=3, input_size=spec.input_size)
        assert len(model.get_layer(spec.default_cam_layer).output.shape) == 4


@pytest.mark.parametrize("name", DEFENCES.names())
def test_every_defence_keeps_the_shape_and_valid_pixels(name):
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    out = attacks.create_defence(name).apply(images)
    assert out.shape == images.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 255
    assert np.array_equal(out, attacks.create_defence(name).apply(images))  # deterministic


# -- the Train form reads the registry ----------------------------------------------------------------------
def test_the_train_forms_attack_picker_and_defaults_come_from_the_core():
    class Nudge(attacks.Attack):  # registered for this test only
        name, title, params = "nudge", "Nudge", ()

    ATTACKS.register("nudge")(Nudge)
    try:
        _check_train_form()
    finally:
        ATTACKS.unregister("nudge")


def _check_train_form() -> None:
    from streamlit.testing.v1 import AppTest
    from streamlit.util import calc_hash

    from core.train.config import AdversarialConfig, TrainConfig

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=120)
    at._page_hash = calc_hash("train")
    at.run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="train_adv_method")
    # Every registered attack, shown by its title (the form never lists names of its own).
    assert picker.options == [attacks.get_attack(n).title for n in attacks.list_attacks()]
    assert "Nudge" in picker.options
    assert picker.value == AdversarialConfig.method
    defaults = TrainConfig(data="shapes")
    assert at.number_input(key="train_adv_eps").value == AdversarialConfig.eps
    for key, field in (("train_lr", "learning_rate"), ("train_views", "augment_views"), ("train_seed", "seed"),
                       ("train_dropout", "dropout"), ("train_val_fraction", "val_fraction")):
        assert at.number_input(key=key).value == getattr(defaults, field), key
