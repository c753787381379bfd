"""Heatmap overlays: resized to the original photo, coloured with OpenCV, blended with alpha."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import ParameterError
from core.explain.overlay import COLORMAPS, colorize, overlay


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)  # not the heatmap's size or aspect


@pytest.fixture
def heatmap() -> np.ndarray:
    h = np.zeros((32, 32), np.float32)
    h[4:12, 20:28] = 1.0  # a hot square in the top right
    return h


def test_overlay_has_the_photo_size_and_type(photo, heatmap):
    out = overlay(photo, heatmap)
    assert out.shape == photo.shape and out.dtype == np.uint8


def test_alpha_zero_is_the_photo_and_one_is_the_heatmap(photo, heatmap):
    np.testing.assert_array_equal(overlay(photo, heatmap, alpha=0.0), photo)
    only_heatmap = overlay(photo, heatmap, alpha=1.0)
    np.testing.assert_array_equal(only_heatmap, colorize(heatmap, "jet", size=photo.shape[:2]))


def test_blend_is_the_weighted_sum(photo, heatmap):
    colored = colorize(heatmap, "viridis", size=photo.shape[:2]).astype(np.float64)
    expected = 0.3 * colored + 0.7 * photo.astype(np.float64)
    out = overlay(photo, heatmap, alpha=0.3, colormap="viridis").astype(np.float64)
    assert np.abs(out - expected).max() <= 1.0  # uint8 rounding


def test_hot_region_lands_on_the_same_place_of_the_photo(photo, heatmap):
    """The heatmap covers the whole photo: its hot square maps to the same relative region."""
    colored = colorize(heatmap, "jet", size=photo.shape[:2])
    hot = cv2.applyColorMap(np.array([[255]], np.uint8), cv2.COLORMAP_JET)[0, 0, ::-1]  # RGB of 1.0
    mask = np.all(colored == hot, axis=-1)
    rows, cols = np.nonzero(mask)
    # Square rows 4..12 of 32 -> 15..45 of 120; columns 20..28 of 32 -> 125..175 of 200.
    assert 14 <= rows.min() and rows.max() <= 46 and 124 <= cols.min() and cols.max() <= 176
    assert mask.sum() > 0.5 * (30 * 50)


def test_colormaps_are_rgb_and_distinct(heatmap):
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (4, 1))
    outputs = {name: colorize(ramp, name) for name in COLORMAPS}
    assert len({o.tobytes() for o in outputs.values()}) == len(COLORMAPS)
    # Jet goes from blue (cold) to red (hot) in RGB order.
    jet = outputs["jet"]
    assert jet[0, 0, 2] > jet[0, 0, 0] and jet[0, -1, 0] > jet[0, -1, 2]


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "0.5", True])
def test_alpha_outside_0_1_is_refused(photo, heatmap, alpha):
    with pytest.raises(ParameterError, match="alpha"):
        overlay(photo, heatmap, alpha=alpha)


def test_unknown_colormap_and_bad_arrays_are_refused(photo, heatmap):
    with pytest.raises(ParameterError, match="colormap.*jet"):
        overlay(photo, heatmap, colormap="rainbow-ish")
    with pytest.raises(ParameterError, match="heatmap"):
        overlay(photo, np.zeros((2, 3, 4)))
    with pytest.raises(ParameterError, match="image"):
        overlay(np.zeros((10, 10, 4), np.uint8), heatmap)


def test_grey_and_float_photos_are_accepted(heatmap):
    assert overlay(np.full((20, 30), 128, np.uint8), heatmap).shape == (20, 30, 3)
    assert overlay(np.full((20, 30, 3), 300.0), heatmap).dtype == np.uint8


# --- How each method kind is shown (issue #17, "Seeing the maps") ---------------------------------

@pytest.fixture(scope="module")
def saliency_map() -> np.ndarray:
    """A real saliency map: a tiny CNN's input gradients, a few extreme pixels and a dark rest."""
    import keras

    from core.explain import explain

    keras.utils.set_random_seed(0)
    inputs = keras.Input((48, 48, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    pixels = np.random.default_rng(1).integers(0, 256, (1, 48, 48, 3)).astype(np.float32)
    return explain(model, pixels, "saliency")[0].heatmap


def test_gradient_methods_declare_their_kind():
    from core.explain import get_method, list_methods

    kinds = {m.name: m.kind for m in list_methods()}
    assert {kinds[n] for n in ("saliency", "smoothgrad", "integrated_gradients")} == {"gradient"}
    assert {kinds[n] for n in ("gradcam", "gradcam++", "layercam", "scorecam")} == {"cam"}
    assert get_method("saliency").spec()["kind"] == "gradient"


def test_a_gradient_map_is_clipped_at_its_99th_percentile_and_shown_alone(photo, saliency_map):
    from core.explain.overlay import display_map

    shown = display_map(saliency_map, "saliency")
    assert shown.max() == 1.0 and (shown == 1.0).mean() >= 0.01 - 1e-6
    top = np.percentile(saliency_map, 99)
    np.testing.assert_allclose(shown, np.clip(saliency_map / top, 0, 1), atol=1e-6)
    assert shown.mean() > saliency_map.mean()  # brighter: a few extreme pixels no longer set the scale
    order = np.argsort(saliency_map, axis=None)
    assert (np.diff(shown.ravel()[order]) >= -1e-6).all()  # clipping keeps the order of the levels
    out = overlay(photo, saliency_map, method="saliency")  # inferno, the map alone
    np.testing.assert_array_equal(out, colorize(shown, "inferno", size=photo.shape[:2]))


def test_a_cam_map_keeps_its_levels_and_the_jet_blend(photo, heatmap):
    from core.explain.overlay import display_map

    np.testing.assert_array_equal(display_map(heatmap, "gradcam"), heatmap)
    np.testing.assert_array_equal(overlay(photo, heatmap, method="gradcam"), overlay(photo, heatmap))


def test_gray_colormap_and_colour_bar(heatmap):
    from core.explain.overlay import colorbar

    grey = colorize(heatmap, "gray")
    assert (grey[..., 0] == grey[..., 1]).all() and grey.max() == 255 and grey.min() == 0
    bar = colorbar("viridis", 100, 8)
    assert bar.shape == (8, 100, 3)
    np.testing.assert_array_equal(bar[0, 0], colorize(np.zeros((1, 1)), "viridis")[0, 0])
    np.testing.assert_array_equal(bar[0, -1], colorize(np.ones((1, 1)), "viridis")[0, 0])


def test_heatmap_npy_bytes_load_back(heatmap):
    import io

    from core.explain.overlay import heatmap_npy

    back = np.load(io.BytesIO(heatmap_npy(heatmap)))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, heatmap)
