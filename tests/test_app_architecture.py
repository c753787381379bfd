"""The Architecture page under AppTest: the layer table against Keras's own counts (a tiny run, ResNet50 and
VGG16 built without weights), feature maps with the layer's shape, the receptive field and filters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TINY_CLASSES = ["circle", "square", "triangle", "star"]


def open_page(at: AppTest, url_path: str, **state) -> AppTest:
    """Open a callable page registered with st.navigation directly (AppTest.switch_page only finds files):
    st.Page names a page by the hash of its url_path. ``state`` presets widget values before the first run,
    so the default page and model are never rendered."""
    from streamlit.util import calc_hash

    for key, value in state.items():
        at.session_state[key] = value
    at._page_hash = calc_hash(url_path)
    at.run()
    assert not at.exception, at.exception
    return at


def tiny_model() -> keras.Model:
    from core.zoo.scratch import small_cnn

    return small_cnn(num_classes=len(TINY_CLASSES), input_size=(32, 32))


@pytest.fixture(scope="module")
def tiny_run() -> Path:
    """A finished, shared run folder (as the training engine writes it) holding the tiny model."""
    run_dir = Path(os.environ["GLASSWING_RUNS"]).resolve() / "20250101-000000-tiny-arch01"
    run_dir.mkdir(parents=True, exist_ok=True)
    tiny_model().save(run_dir / "model.keras")
    (run_dir / "run.json").write_text(json.dumps({
        "name": "tiny", "status": "complete", "owner": None, "base_model": "small_cnn",
        "created": "2025-01-01T00:00:00+00:00", "class_names": TINY_CLASSES}))
    return run_dir


def _layer_frame(at: AppTest):
    frames = [df.value for df in at.dataframe if "trainable" in df.value.columns]
    assert len(frames) == 1
    return frames[0]


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _check_table(at: AppTest, model: keras.Model) -> None:
    frame = _layer_frame(at)
    expected = [(la.name, type(la).__name__, la.count_params()) for la in model.layers]
    assert list(zip(frame["name"], frame["type"], frame["params"], strict=True)) == expected
    shapes = [" x ".join(str(d) for d in la.output.shape[1:]) for la in model.layers]
    assert list(frame["output shape"]) == shapes
    assert int(_metric(at, "Parameters").replace(",", "")) == model.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert int(_metric(at, "Trainable").replace(",", "")) == trainable
    assert int(frame["params"].sum()) == model.count_params()


@pytest.fixture
def tiny_page(tiny_run):
    return open_page(AppTest.from_file(APP, default_timeout=180), "architecture",
                     architecture_model=str(tiny_run))


def test_tiny_run_table_matches_keras(tiny_page, tiny_run):
    from core.zoo import load_model

    model = load_model(str(tiny_run)).model
    _check_table(tiny_page, model)
    frame = _layer_frame(tiny_page)
    conv1 = frame[frame["name"] == "conv1"].iloc[0]
    assert (conv1["kernel"], conv1["stride"], conv1["filters / units"]) == ("3x3", "1", 32)
    assert bool(conv1["trainable"]) and not bool(frame[frame["name"] == "pool1"].iloc[0]["trainable"])
    # Grouped by block: choosing one block shows only its layers.
    tiny_page.selectbox(key="architecture_block").set_value("conv1").run()
    assert set(_layer_frame(tiny_page)["block"]) == {"conv1"}


def test_stages_of_the_tiny_run(tiny_page):
    stage_table = next(df.value for df in tiny_page.dataframe if "channels out" in df.value.columns)
    assert list(stage_table["size"]) == ["32x32", "16x16", "8x8", "4x4"]
    assert list(stage_table["channels out"]) == [32, 64, 64, 64]
    assert any(chart for chart in tiny_page.get("plotly_chart"))
    # The chart on the page: the right (channels) axis draws no grid lines across the bars, both axes
    # start at 0 and leave room above the tallest bar and point for their labels.
    chart = next(c for c in tiny_page.get("plotly_chart") if "channels (depth)" in c.proto.spec)
    layout = json.loads(chart.proto.spec)["layout"]
    assert layout["yaxis2"]["showgrid"] is False and layout["yaxis2"]["tickformat"] == "d"
    assert layout["yaxis"]["range"][0] == 0 and layout["yaxis"]["range"][1] > 32
    assert layout["yaxis2"]["range"][0] == 0 and layout["yaxis2"]["range"][1] > 64


@pytest.mark.parametrize("name", ["resnet50", "vgg16"])
def test_keras_applications_table_without_download(name):
    from core.zoo.keras_apps import APPS, build_flat

    at = open_page(AppTest.from_file(APP, default_timeout=300), "architecture", architecture_model=name)
    assert not at.error, [e.value for e in at.error]
    model = build_flat(next(a for a in APPS if a.name == name), None)
    _check_table(at, model)


def test_feature_maps_have_the_layer_shape(tiny_page, tiny_run):
    from core.inspect.activations import feature_maps
    from core.samples import load_sample
    from core.zoo import load_model

    tiny_page.selectbox(key="architecture_fm_layer").set_value("conv2").run()
    assert not tiny_page.exception, tiny_page.exception
    text = " ".join(m.value for m in tiny_page.markdown)
    assert "**conv2**: 64 channels of 16 x 16" in text
    channels = next(df.value for df in tiny_page.dataframe if "mean activation" in df.value.columns)
    assert len(channels) == 16 and channels["mean activation"].is_monotonic_decreasing
    # Core level: the maps behind the grid are the layer's own output.
    loaded = load_model(str(tiny_run))
    maps = feature_maps(loaded, load_sample("cat"), "conv2", top=16)
    assert maps.shape == tuple(loaded.model.get_layer("conv2").output.shape[1:])
    assert maps.maps.shape == (16, 16, 16)
    assert [c.index for c in maps.channels] == list(channels["channel"])


def test_receptive_field_path(tiny_page):
    tiny_page.selectbox(key="architecture_rf_layer").set_value("conv3").run()
    tiny_page.slider(key="architecture_rf_row").set_value(0).run()
    tiny_page.slider(key="architecture_rf_col").set_value(0).run()
    assert not tiny_page.exception, tiny_page.exception
    # conv3 (after two 2x2 pools, three 3x3 convs): field 3 + 2*2 + 2*4 = 18... at (0, 0) clipped to the image.
    metrics = {m.label: m.value for m in tiny_page.metric}
    assert metrics["Receptive field"] == "18 x 18 px" and metrics["Step between neighbouring positions"] == "4 px"
    path = next(df.value for df in tiny_page.dataframe if "region" in df.value.columns)
    assert list(path["layer"])[-1] == "conv3"
    assert list(path["rows"])[-1] == "0-0"


def test_filter_visualisation_runs_on_a_button(tiny_page):
    assert not any("channel 3" in c for img in tiny_page.get("image") for c in getattr(img, "captions", []))
    tiny_page.selectbox(key="architecture_filter_layer").set_value("conv2")
    tiny_page.number_input(key="architecture_filter_channel").set_value(3)
    tiny_page.slider(key="architecture_filter_steps").set_value(8)
    tiny_page.button(key="FormSubmitter:architecture_filter_form-Visualise the channel").click().run()
    assert not tiny_page.exception, tiny_page.exception
    captions = [c for img in tiny_page.get("image") for c in img.captions]
    assert "conv2 · channel 3" in captions
    assert any("8 steps" in c.value for c in tiny_page.caption)


def test_filter_visualisation_shows_its_steps_while_it_runs(tiny_page, monkeypatch):
    """Longer than the page's wait: a bar with the step and the activation; the result on a later run."""
    import threading

    from dashboard.components import task_status
    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    gate = threading.Event()
    module = "dashboard.views.architecture_inside"
    real = __import__(module, fromlist=["maximize_activation"]).maximize_activation

    def gated(*args, progress=None, **kwargs):
        def hold(fraction, text):  # the first step's report waits for the test
            progress(fraction, text)
            if text.startswith("Step 1 "):
                gate.wait(30)
        return real(*args, progress=hold, **kwargs)

    monkeypatch.setattr(f"{module}.maximize_activation", gated)
    tasks.clear("filter-image")
    tiny_page.selectbox(key="architecture_filter_layer").set_value("conv2")
    tiny_page.number_input(key="architecture_filter_channel").set_value(5)
    tiny_page.slider(key="architecture_filter_steps").set_value(16)
    tiny_page.button(key="FormSubmitter:architecture_filter_form-Visualise the channel").click().run()
    for _ in range(120):
        bars = [b.proto.text for b in tiny_page.get("progress")]
        if any("Step 1 of 16" in b for b in bars):
            break
        threading.Event().wait(0.25)
        tiny_page.run()
    assert any(b.startswith("Gradient ascent on channel 5 of conv2: Step 1 of 16: mean activation") for b in bars), bars
    assert task_status.LEAVE_NOTE in [c.value for c in tiny_page.caption]
    assert "conv2 · channel 5" not in [c for img in tiny_page.get("image") for c in img.captions]
    gate.set()
    for _ in range(120):
        tiny_page.run()
        if not tiny_page.get("progress"):
            break
        threading.Event().wait(0.25)
    assert not tiny_page.exception and not tiny_page.error, tiny_page.exception
    assert "conv2 · channel 5" in [c for img in tiny_page.get("image") for c in img.captions]
    assert any("16 steps" in c.value for c in tiny_page.caption)


def test_feature_maps_show_the_sub_model_being_built_while_they_compute(tiny_page, monkeypatch):
    """Longer than the page's wait: the bar names core's step (the sub-model for the layer), then the maps."""
    import threading

    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    gate = threading.Event()
    module = "dashboard.views.architecture_inside"
    real = __import__(module, fromlist=["feature_maps"]).feature_maps

    def gated(*args, progress=None, **kwargs):
        def hold(fraction, text):  # core's first report waits for the test
            progress(fraction, text)
            if text.startswith("Building the sub-model"):
                gate.wait(30)
        return real(*args, progress=hold, **kwargs)

    monkeypatch.setattr(f"{module}.feature_maps", gated)
    tasks.clear("feature-maps")
    tiny_page.selectbox(key="architecture_fm_layer").set_value("conv3").run()
    bars = []
    for _ in range(120):
        bars = [b.proto.text for b in tiny_page.get("progress")]
        if any("Building" in b for b in bars):  # after "Starting ..."
            break
        threading.Event().wait(0.25)
        tiny_page.run()
    assert any(b.startswith("Feature maps: Building the sub-model for conv3") for b in bars), bars
    assert not any("**conv3**" in m.value for m in tiny_page.markdown)
    gate.set()
    for _ in range(120):
        tiny_page.run()
        if not tiny_page.get("progress"):
            break
        threading.Event().wait(0.25)
    assert not tiny_page.exception and not tiny_page.error, tiny_page.exception
    assert any("**conv3**: 64 channels of 8 x 8" in m.value for m in tiny_page.markdown)


# --- In Chinese: every tab past its first screen, nothing of the page's own left in English ---

def _shared_components(root: str) -> None:
    import sys

    if root not in sys.path:
        sys.path.insert(0, root)
    import streamlit as st

    from dashboard import state
    from dashboard.components.image_picker import current_image
    from dashboard.components.model_picker import model_picker
    from dashboard.i18n import init_language

    init_language()
    state.init_session()
    with st.sidebar:
        model_picker(key="architecture_model")
    current_image(hint=False)


def test_the_page_reads_as_chinese_in_every_tab(tiny_run, monkeypatch):
    """The layer table, the stages, feature maps, the receptive field and a filter, in Chinese; the model
    and photo pickers are shared components (another part of the translation), filtered out here."""
    from i18n_check import untranslated, visible_texts
    from test_i18n import class_names

    # AppTest formats a changed widget's options again in the test's thread, outside the session.
    monkeypatch.setenv("GLASSWING_LANG", "zh")
    shared = AppTest.from_function(_shared_components, args=(str(Path(APP).parent.parent),), default_timeout=180)
    shared.query_params["lang"] = "zh"
    shared.run()
    not_ours = set(visible_texts(shared))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["lang"] = "zh"
    open_page(at, "architecture", architecture_model=str(tiny_run))
    assert [t.label for t in at.tabs] == ["层", "阶段", "特征图", "感受野", "卷积核"]
    assert {m.label for m in at.metric} >= {"参数", "可训练", "冻结（不可训练）"}
    at.selectbox(key="architecture_block").set_value("conv1").run()
    frame = next(df.value for df in at.dataframe if "可训练" in df.value.columns)
    assert set(frame["模块"]) == {"conv1"} and "输出形状" in frame.columns
    at.selectbox(key="architecture_fm_layer").set_value("conv2").run()
    assert any(m.value.startswith("**conv2**：") and "64 个通道，每个 16 × 16" in m.value for m in at.markdown)
    at.selectbox(key="architecture_rf_layer").set_value("conv3").run()
    assert {m.label: m.value for m in at.metric}["感受野"].endswith(" px")
    at.selectbox(key="architecture_filter_layer").set_value("conv2")
    at.slider(key="architecture_filter_steps").set_value(8)
    at.button(key="FormSubmitter:architecture_filter_form-可视化这个通道").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert "conv2 · 通道 0" in [c for img in at.get("image") for c in img.captions]
    assert any("8 步，用时" in c.value for c in at.caption)
    names = [*class_names(), *TINY_CLASSES, *(la.name for la in tiny_model().layers), "sample: cat"]
    left = untranslated([t for t in visible_texts(at) if t not in not_ours], names)
    assert not left, "\n".join(left)
