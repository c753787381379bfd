"""Augmentation: one typed spec, deterministic under a seed, identical in preview, snippet and training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.augment import (
    PRESETS,
    AugmentSpec,
    augment,
    layer_specs,
    parameters,
    preset,
)
from core.errors import ParameterError, UnknownNameError

STRONG = preset("strong")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (4, 8, 8, 3)).astype(np.uint8)
    return np.kron(base, np.ones((1, 4, 4, 1), np.uint8))  # 32x32 blocky images, so geometry shows


def test_spec_validation_names_the_setting():
    with pytest.raises(ParameterError, match="rotation must be between 0 and 180"):
        AugmentSpec(rotation=500)
    with pytest.raises(ParameterError, match="flip must be one of none, horizontal, vertical, both"):
        AugmentSpec(flip="sideways")
    with pytest.raises(ParameterError, match="zoom must be a number"):
        AugmentSpec(zoom="lots")
    with pytest.raises(ParameterError, match="Unknown augmentation setting 'rotaton'"):
        AugmentSpec.from_dict({"rotaton": 10})
    with pytest.raises(ParameterError, match="not valid JSON"):
        AugmentSpec.from_json("{")
    with pytest.raises(UnknownNameError, match="light, none, strong"):
        preset("wild")


def test_round_trips_and_presets():
    for spec in PRESETS.values():
        assert AugmentSpec.from_dict(spec.to_dict()) == spec
        assert AugmentSpec.from_json(spec.to_json()) == spec
        json.loads(spec.to_json())
    assert PRESETS["none"].is_identity and not PRESETS["light"].is_identity
    assert AugmentSpec.from_dict({"rotation": 10}).rotation == 10.0


def test_every_setting_declares_what_a_slider_needs():
    params = {p["name"]: p for p in parameters()}
    assert set(params) == set(AugmentSpec().to_dict())
    for p in params.values():
        assert p["label"] and p["help"] and p["default"] == getattr(AugmentSpec(), p["name"])
        if p["kind"] == "float":
            assert p["min"] <= p["default"] <= p["max"] and p["step"] > 0
        else:
            assert p["default"] in p["choices"]
    # Every preset lies inside the declared ranges (else the sliders could not show it).
    for spec in PRESETS.values():
        for name, value in spec.to_dict().items():
            p = params[name]
            assert value in p["choices"] if p["kind"] == "choice" else p["min"] <= value <= p["max"]


def test_layers_are_keras_preprocessing_layers_with_distinct_seeds():
    specs = layer_specs(STRONG, seed=10)
    names = [n for n, _ in specs]
    assert names[:4] == ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation"]
    assert "GaussianNoise" in names and "RandomErasing" in names and "RandomHue" in names
    seeds = [kw["seed"] for _, kw in specs if "seed" in kw]
    assert len(seeds) == len(set(seeds)) and min(seeds) == 10
    assert dict(layer_specs(AugmentSpec(rotation=90.0)))["RandomRotation"]["factor"] == 0.25  # of a full turn


def test_augment_is_deterministic_under_a_seed(images):
    a = augment(images, STRONG, seed=1)
    assert a.shape == images.shape and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 255.0
    assert np.array_equal(a, augment(images, STRONG, seed=1))
    assert not np.allclose(a, augment(images, STRONG, seed=2))
    assert not np.allclose(a, images)
    assert np.array_equal(augment(images[0], STRONG, seed=1), augment(images[:1], STRONG, seed=1)[0])
    assert np.array_equal(augment(images, PRESETS["none"], seed=1), images.astype(np.float32))


def test_single_transforms_do_what_they_say(images):
    flipped = augment(images, AugmentSpec(flip="horizontal"), seed=0)
    for original, out in zip(images.astype(np.float32), flipped, strict=True):
        assert np.array_equal(out, original) or np.array_equal(out, original[:, ::-1])
    grey = augment(images, AugmentSpec(grayscale=1.0), seed=0)
    assert np.allclose(grey[..., 0], grey[..., 1], atol=1e-3) and np.allclose(grey[..., 1], grey[..., 2], atol=1e-3)
    erased = augment(images, AugmentSpec(erasing=1.0), seed=0)
    assert all((np.isclose(e, 127.5).all(axis=-1) & ~np.isclose(o, 127.5).all(axis=-1)).any()
               for e, o in zip(erased, images.astype(np.float32), strict=True))


def test_python_snippet_builds_exactly_the_same_augmentation(images):
    namespace: dict = {"images": images.astype(np.float32)}
    exec(STRONG.to_python(seed=4), namespace)  # noqa: S102 (our own generated code)
    snippet_out = np.asarray(namespace["keras"].ops.convert_to_numpy(namespace["augmented"]))
    assert np.allclose(snippet_out, augment(images, STRONG, seed=4), atol=1e-4)


def test_light_changes_no_class_and_each_preset_says_what_it_suits():
    from core.data.augment import PRESET_NOTES, mirror_sensitive

    assert PRESETS["light"].flip == "none"  # the default: a mirrored 2 or b is no longer one
    assert not PRESETS["light"].is_identity
    assert set(PRESET_NOTES) == set(PRESETS)
    assert "not for digits" in PRESET_NOTES["strong"] and PRESETS["strong"].flip == "horizontal"
    assert mirror_sensitive([str(d) for d in range(10)]) and mirror_sensitive(["b", "d", "p", "q"])
    assert not mirror_sensitive(["circle", "square"]) and not mirror_sensitive([])
