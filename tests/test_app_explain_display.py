"""Explain page: gradient maps drawn as gradient maps, a colour-map choice, colour bars, raw downloads,
the peak in the photo's coordinates and honest timings (issue #17, "Seeing the maps")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def app(lite0):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> list[str]:
    return [c for img in at.get("image") for c in img.captions] + [c.value for c in at.caption]


def test_saliency_is_shown_as_a_gradient_map_with_its_colour_bar(app):
    from core.explain.overlay import colorbar

    app.multiselect(key="explain_methods").set_value(["gradcam", "saliency"]).run()
    assert not app.exception, app.exception
    assert app.slider(key="explain_gradient_opacity").value == 1.0  # the map alone, by default
    text = " ".join(_texts(app))
    assert "0 ← inferno → 1 · Absolute gradient" in text and "0 ← jet → 1" in text
    bars = [img for img in app.get("image") if any("→ 1" in c for c in img.captions)]
    assert len(bars) == 2
    # A colour-blind-safe map for every card, chosen once.
    app.selectbox(key="explain_colormap").set_value("viridis").run()
    text = " ".join(_texts(app))
    assert text.count("0 ← viridis → 1") == 2 and "jet" not in text.split("Prediction")[0]
    assert colorbar("viridis").shape[2] == 3


def test_peak_is_in_the_photos_coordinates_and_cached_timing_says_so(app, cat_image):
    from core.explain import explain, peak_location
    from core.images import resize_for_model
    from dashboard import state

    text = " ".join(_texts(app))
    h, w = cat_image.shape[:2]
    loaded = state.get_model("efficientnet_lite0")
    (exp,) = explain(loaded, resize_for_model(cat_image, loaded.input_size)[None], "gradcam")
    row, col = peak_location(exp.heatmap, cat_image.shape)
    assert f"Peak at row {row}, column {col} of the photo ({w}×{h} px)." in text
    assert "model input" not in text
    app.slider(key="explain_opacity").set_value(0.6).run()  # a rerun: the heatmap comes from the cache
    assert "cached (computed in " in " ".join(_texts(app))


def test_raw_heatmap_download_is_the_npy_the_cli_writes(app):
    buttons = [b for b in app.get("download_button") if b.proto.label == "Download heatmap (.npy)"]
    assert len(buttons) == 1
    assert np.asarray(buttons[0].proto.url).size == 1  # served as a file, like the overlay


def test_score_cam_runs_with_its_progress_bar_and_leaves_none_behind(app):
    app.multiselect(key="explain_methods").set_value(["scorecam"]).run()
    assert not app.exception, app.exception
    assert any(c.startswith("Score-CAM · Egyptian cat") for img in app.get("image") for c in img.captions)
    assert len(app.get("progress")) == 0
    # The next rerun takes the cached map: a cache that replayed the bar it drew failed here
    # (CacheReplayClosureError), so long results are kept in state.shared_results instead.
    app.slider(key="explain_opacity").set_value(0.6).run()
    assert not app.exception, app.exception
    assert "cached (computed in " in " ".join(_texts(app))
