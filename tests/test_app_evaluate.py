"""The Evaluate page under AppTest, on a tiny run that is right (or wrong) by construction.

The run's model averages the image's colour and scores class ``c`` with ``SCALE * mean(channel c)``
(see tests/test_evaluate_model.py). Its test split holds three pure images per colour plus three
images labelled red that are greener than red, so the confusion matrix is known exactly:
``[[3, 0, 0], [0, 3, 0], [0, 3, 3]]`` (rows and columns: blue, green, red).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
SESSION = "evaluate-page-test"
SIZE = 8
SCALE = 0.02
CLASSES = ["blue", "green", "red"]
PURE = {
    "red": [(255, 0, 0), (200, 20, 10), (150, 0, 30)],
    "green": [(0, 255, 0), (20, 180, 10), (40, 220, 60)],
    "blue": [(0, 0, 255), (10, 30, 170), (60, 40, 230)],
}
MISLABELLED_RED = [(100, 150, 0), (50, 250, 0), (100, 200, 0)]
EXPECTED_ORDER = [(50, 250, 0), (100, 200, 0), (100, 150, 0)]  # most confident "green" first
EXPECTED_MATRIX = [[3, 0, 0], [0, 3, 0], [0, 3, 3]]


def _name(rgb) -> str:
    return "c{:03d}-{:03d}-{:03d}.png".format(*rgb)


def _write(path: Path, rgb, side: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((side, side, 3), rgb, np.uint8)).save(path)


def _colour_model():
    """Identity 1x1 conv -> average pooling -> Dense (red, green, blue feed columns 2, 1, 0) -> softmax."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(3, 1, use_bias=False, name="conv")
    x = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    logits = keras.layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits))
    kernel = np.zeros((3, 3), np.float32)
    for channel, column in enumerate([2, 1, 0]):
        kernel[channel, column] = SCALE
    conv.set_weights([np.eye(3, dtype=np.float32)[None, None]])
    model.get_layer("logits").set_weights([kernel, np.zeros(3, np.float32)])
    return model


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory) -> Path:
    """A finished, shared run under GLASSWING_RUNS whose config names its own dataset."""
    from core import config

    data = tmp_path_factory.mktemp("evaluate-colours")
    for split in ("train", "val", "test"):
        for name, colours in PURE.items():
            for rgb in colours:
                _write(data / split / name / _name(rgb), rgb)
    for rgb in MISLABELLED_RED:
        _write(data / "test" / "red" / _name(rgb), rgb)
    run_dir = config.runs_dir() / "evaluate-colour-run"
    run_dir.mkdir(parents=True)
    _colour_model().save(run_dir / "model.keras")
    (run_dir / "run.json").write_text(json.dumps({
        "id": run_dir.name, "name": "colour-run", "status": "complete", "class_names": CLASSES,
        "base_model": "tiny colour model", "created": "2026-01-01T00:00:00+00:00"}))
    (run_dir / "config.json").write_text(json.dumps({"data": str(data), "val_fraction": 0.2,
                                                     "test_fraction": 0.0, "seed": 0}))
    # A dataset of this session whose classes the run does not know.
    from core.data.sessions import session_dir

    other = session_dir(SESSION) / "upload-animals"
    for name in ("cat", "dog"):
        for i in range(3):
            _write(other / name / f"{name}{i}.png", (40 * i, 90, 200))
    (other / "dataset.json").write_text(json.dumps({"id": "upload-animals", "source": "animals.zip"}))
    # A pool of the run's classes that it never saw (no splits): held out as a whole.
    pool = session_dir(SESSION) / "upload-more-colours"
    for name, colours in PURE.items():
        for i, rgb in enumerate(colours + colours[:2]):
            _write(pool / name / f"{name}{i}.png", tuple(max(v - 7 * i, 0) for v in rgb))
    (pool / "dataset.json").write_text(json.dumps({"id": "upload-more-colours", "source": "more.zip"}))
    # A second run of the same classes, trained on the same dataset.
    import shutil

    second = config.runs_dir() / "evaluate-colour-run-2"
    shutil.copytree(run_dir, second)
    meta = json.loads((second / "run.json").read_text())
    (second / "run.json").write_text(json.dumps({**meta, "id": second.name, "name": "colour-run-2"}))
    return run_dir


def _option(name: str) -> str:
    from core.train.runs import list_runs

    return next(str(r.path) for r in list_runs(owner=SESSION) if r.path.name == name)


def open_page(run_dir: Path, lang: str | None = None, session: str | None = SESSION) -> AppTest:
    """The app opened straight on the Evaluate page with the run chosen (in ``lang``), then evaluated; in the
    test's own session, or (``session`` None) a session the server issues, which a reload keeps."""
    option = _option(run_dir.name)
    at = AppTest.from_file(APP, default_timeout=120)
    if lang:
        at.query_params["lang"] = lang
    if session is not None:
        at.session_state["session_id"] = session
    at.session_state["evaluate_model"] = option
    at._page_hash = calc_hash("evaluate")  # st.navigation pages are hashed by their url_path
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="evaluate_split").value == "test"  # the run's own held-out split by default
    at.button(key="evaluate_run").click().run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def page(colour_run) -> AppTest:
    return open_page(colour_run)


def _decode(value):
    """Plotly writes numpy arrays as ``{"dtype", "bdata" (base64), "shape"}``; other values pass through."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = [int(n) for n in str(value.get("shape", flat.size)).split(",")]
        return flat.reshape(shape).tolist()
    return value


def _charts(at: AppTest) -> list[dict]:
    """Each plotly figure's JSON with its first trace's arrays decoded."""
    figures = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    for fig in figures:
        fig["data"][0] = {key: _decode(value) for key, value in fig["data"][0].items()}
    return figures


def _captions(at: AppTest) -> list[str]:
    return [c for img in at.get("image") for c in img.captions]


def _rgb(caption: str) -> tuple[int, ...]:
    name = next(part for part in caption.replace("·", " ").split() if part.endswith(".png"))
    return tuple(int(v) for v in Path(name).stem[1:].split("-"))


def test_confusion_matrix_has_the_right_counts_and_totals(page):
    assert not page.error, [e.value for e in page.error]
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Images"] == "12" and metrics["Accuracy"] == "75.0%"
    matrix = _charts(page)[0]["data"][0]
    assert matrix["type"] == "heatmap"
    assert matrix["x"] == CLASSES and matrix["y"] == CLASSES
    assert matrix["customdata"] == EXPECTED_MATRIX  # the counts behind the colours
    np.testing.assert_allclose(np.sum(matrix["z"], axis=1), 1.0)  # row-normalised colours by default
    assert np.sum(matrix["customdata"]) == 12
    page.radio(key="evaluate_norm").set_value("Counts").run()
    assert _charts(page)[0]["data"][0]["z"] == EXPECTED_MATRIX


def test_per_class_table_matches_the_matrix(page):
    table = page.dataframe[0].value
    assert table["class"].tolist() == CLASSES
    assert table["support"].tolist() == [3, 3, 6]
    assert table["recall"].tolist() == pytest.approx([1.0, 1.0, 0.5])
    assert table["precision"].tolist() == pytest.approx([1.0, 0.5, 1.0])


def test_choosing_a_cell_shows_its_images_most_confident_first(page):
    # The default cell is the most frequent mistake: red images predicted as green.
    assert page.selectbox(key="evaluate_cell").value == "2,1"
    thumbs = [c for c in _captions(page) if c.endswith(".png") and "%" in c]
    assert [_rgb(c) for c in thumbs] == EXPECTED_ORDER
    page.selectbox(key="evaluate_cell").set_value("0,0").run()
    assert not page.exception, page.exception
    thumbs = [c for c in _captions(page) if c.endswith(".png") and "%" in c]
    assert sorted(_rgb(c) for c in thumbs) == sorted(PURE["blue"])
    assert page.selectbox(key="evaluate_item").value.endswith(".png")
    page.selectbox(key="evaluate_cell").set_value("2,1").run()


def test_drilldown_shows_gradcam_for_the_predicted_and_the_true_class(page):
    page.selectbox(key="evaluate_cell").set_value("2,1").run()
    assert Path(page.selectbox(key="evaluate_item").value).name == _name(EXPECTED_ORDER[0])
    overlays = [c for c in _captions(page) if c.startswith("Grad-CAM")]
    assert len(overlays) == 3
    assert overlays[0].startswith("Grad-CAM · predicted: green")
    assert overlays[1].startswith("Grad-CAM · true class: red")
    assert overlays[2] == "Grad-CAM · why green, not red"
    # The contrast map is core's explanation of the logit difference; on this uniformly coloured image
    # the difference is the same everywhere (green minus red channel, pooled), so the map is empty and
    # the page says why rather than showing a blank overlay with no word.
    from core.explain import ContrastTarget, explain
    from core.images import load_image, resize_for_model
    from core.zoo import load_model

    loaded = load_model(str(_run_path(page)))
    pixels = resize_for_model(load_image(page.selectbox(key="evaluate_item").value), loaded.input_size)
    (exp,) = explain(loaded, pixels[None], "gradcam", target=ContrastTarget(1, 2))
    assert exp.empty and exp.class_index == 1
    assert any("No region favours green over red" in c.value for c in page.caption)


def test_the_drilldowns_empty_maps_say_what_they_mean(page, monkeypatch):
    """An empty map of the predicted or the true class is flagged with core's note (what it means, what to
    try); the contrast map keeps its own sentence."""
    from core.explain.base import Explanation

    monkeypatch.setattr(Explanation, "empty", property(lambda self: True))
    page.selectbox(key="evaluate_cell").set_value("2,1").run()
    assert not page.exception, page.exception
    notes = [w.value for w in page.warning if w.value.startswith("Empty map: ")]
    assert len(notes) == 2 and all("Grad-CAM found no positive evidence for" in n for n in notes), notes
    assert any("No region favours green over red" in c.value for c in page.caption)


def _run_path(at) -> str:
    return at.selectbox(key="evaluate_model").value


def test_inspecting_a_confident_mistake_opens_it(page):
    page.button(key="evaluate_inspect_2").click().run()  # the third most confident mistake
    assert not page.exception, page.exception
    assert page.selectbox(key="evaluate_cell").value == "2,1"
    assert Path(page.selectbox(key="evaluate_item").value).name == _name(EXPECTED_ORDER[2])


def test_exports_and_the_baseline_beside_the_run(page):
    """HOG + linear SVM is shown beside every evaluation without asking (computed in the background)."""
    keys = {b.key for b in page.get("download_button")}
    assert {"evaluate_dl_csv", "evaluate_dl_png", "evaluate_dl_html"} <= keys
    assert not page.get("button") or "evaluate_baseline" not in [b.key for b in page.button]
    for _ in range(60):
        if {"CNN accuracy", "Baseline accuracy"} <= {m.label for m in page.metric}:
            break
        assert any(b.proto.text.startswith("HOG + linear SVM") for b in page.get("progress"))
        time.sleep(0.5)
        page.run()
    assert not page.exception, page.exception
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Baseline trained on"].endswith(" images") and metrics["Baseline accuracy"].endswith("%")


def test_a_dataset_with_other_classes_gets_a_clear_message(page):
    page.selectbox(key="evaluate_data").set_value("session:upload-animals").run()
    assert not page.exception, page.exception
    assert page.button(key="evaluate_run").disabled  # said before anything is scored
    assert any("trained on the classes" in e.value for e in page.error), [e.value for e in page.error]


def test_a_click_on_the_heatmap_picks_the_cell():
    from dashboard.views.evaluate_charts import _cell_of

    assert _cell_of({"point_index": [2, 1], "x": "green", "y": "red"}, CLASSES) == (2, 1)
    assert _cell_of({"x": "green", "y": "red"}, CLASSES) == (2, 1)
    assert _cell_of({"x": "nowhere"}, CLASSES) is None


def test_a_dataset_the_run_never_saw_is_scored_whole(colour_run):
    at = open_page(colour_run)
    at.selectbox(key="evaluate_data").set_value("session:upload-more-colours").run()
    assert not at.exception, at.exception
    split = at.selectbox(key="evaluate_split")
    assert split.value == "all" and split.options[0] == "all (15 images)"  # not a 20% "val" slice
    at.button(key="evaluate_run").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert {m.label: m.value for m in at.metric}["Images"] == "15"
    assert any("Scored: all 15 images of upload-more-colours" in c.value and "not trained on" in c.value
               for c in at.caption), [c.value for c in at.caption]
    # The baseline learns from what the CNN learnt from (the run's own train split) and is scored on the same
    # 15 held-out images; a CNN that loses to it is told so.
    assert any("Every image of upload-more-colours is held out, so the baseline learns from the run's own "
               "training images" in c.value for c in at.caption), [c.value for c in at.caption]
    for _ in range(120):
        if "Baseline accuracy" in {m.label for m in at.metric}:
            break
        time.sleep(0.5)
        at.run()
    from core.data.sessions import session_dir
    from core.evaluate import open_split, run_baseline, run_dataset, run_split_settings
    from core.zoo import load_model

    loaded = load_model(str(colour_run))
    own = open_split(run_dataset(loaded), "train", **run_split_settings(loaded))
    held = open_split(session_dir(SESSION) / "upload-more-colours", held_out=True)
    expected = run_baseline(list(own.items), list(held.items), list(held.class_names))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Baseline accuracy"] == f"{expected.accuracy:.1%}" and metrics["Baseline trained on"] == (
        f"{len(own.items)} images"), metrics
    from core.evaluate import EvaluationResult

    with pytest.MonkeyPatch.context() as patch:  # a CNN that guesses worse than the baseline
        patch.setattr(EvaluationResult, "accuracy", property(lambda self: 0.0))
        at.run()
    assert any("beats this CNN (0.0%) on the same 15 images" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    # Back on the run's own dataset, the split is its own test split again, and says so.
    at.selectbox(key="evaluate_data").set_value("run:own").run()
    assert at.selectbox(key="evaluate_split").value == "test"
    assert any("Scored: the test split of" in c.value and "12 of its 30 images" in c.value for c in at.caption)


def test_an_evaluation_goes_on_in_the_background_with_its_count(colour_run, monkeypatch):
    """Past the page's wait, scoring is a background task: its bar counts the images, the sidebar stays
    usable, and the results come once it is done, without another click."""
    from gates import bars_until, hold_at, run_until_done

    from core.evaluate.service import default_cache
    from dashboard.services import tasks

    at = open_page(colour_run)
    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    gate = hold_at(monkeypatch, "dashboard.views.evaluate.evaluate_split", "Scoring ")
    default_cache().clear()
    tasks.clear("evaluate")
    at.selectbox(key="evaluate_split").set_value("val").run()
    at.button(key="evaluate_run").click().run()
    bars = bars_until(at, lambda b: ": Scoring " in b)
    gate.set()
    assert any(b.startswith("Scoring colour-run on ") and ": Scoring 9 of 9 images" in b for b in bars), bars
    assert not at.metric and not at.exception
    run_until_done(at)
    assert not at.exception and not at.error, at.exception
    assert {m.label: m.value for m in at.metric}["Images"] == "9"


def test_picking_another_run_selects_its_own_dataset(colour_run):
    at = open_page(colour_run)
    at.selectbox(key="evaluate_data").set_value("session:upload-animals").run()
    assert at.button(key="evaluate_run").disabled  # the first run's classes are not these
    at.selectbox(key="evaluate_model").set_value(_option("evaluate-colour-run-2")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="evaluate_data").value == "run:own"  # not the dataset left from the other run
    assert at.selectbox(key="evaluate_split").value == "test"
    assert not at.button(key="evaluate_run").disabled


def test_number_like_class_names_stay_category_labels():
    from core.evaluate import export
    from core.evaluate.metrics import confusion_matrix
    from dashboard.components.confusion import confusion_figure

    class Digits:  # what the figure reads of a result: the class names and the matrix
        class_names = [str(d) for d in range(10)]
        confusion = confusion_matrix(np.arange(10), np.arange(10), 10)

    page_figure = confusion_figure(Digits.confusion, Digits.class_names, True, clickable=True)
    for fig in (export.confusion_figure(Digits()), page_figure):
        for axis in (fig.layout.xaxis, fig.layout.yaxis):
            assert axis.type == "category" and list(axis.tickvals) == Digits.class_names  # every class labelled


def test_a_cell_larger_than_the_inspect_list_gives_its_true_count(colour_run, monkeypatch):
    from dashboard.views import evaluate_drilldown

    monkeypatch.setattr(evaluate_drilldown, "MAX_LISTED", 2)
    at = open_page(colour_run)
    at.selectbox(key="evaluate_cell").set_value("0,0").run()
    assert not at.exception, at.exception
    assert len(at.selectbox(key="evaluate_item").options) == 2
    assert any(c.value.startswith("3 images of blue predicted as blue") and "the first 2 can be inspected"
               in c.value for c in at.caption), [c.value for c in at.caption]


def test_the_train_page_draws_a_runs_matrix_with_the_same_figure_as_evaluate(colour_run):
    """One confusion-matrix figure (dashboard.components.confusion) on every page: the Train page's run
    details and the Evaluate page label the same classes in the same order, colour and hover alike."""
    import shutil

    run = colour_run.parent / "evaluate-colour-run-metrics"
    shutil.copytree(colour_run, run)
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "id": run.name, "name": "colour-run-metrics"}))
    per_class = {name: {"count": 4, "accuracy": 0.75} for name in CLASSES}
    (run / "metrics.json").write_text(json.dumps({"val": {
        "accuracy": 0.75, "count": 12, "confusion": EXPECTED_MATRIX, "per_class": per_class}}))
    train = AppTest.from_file(APP, default_timeout=120)
    train.session_state["session_id"] = SESSION
    train.session_state["train_runs_pick"] = run.name
    train._page_hash = calc_hash("train")
    train.run()
    assert not train.exception, train.exception
    heatmaps = [(fig["data"][0], fig["layout"]) for fig in _charts(train) if fig["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 1, "the run's confusion matrix"
    evaluated = _charts(open_page(colour_run))[0]  # a fresh page: earlier tests changed the shared one
    (train_cells, train_layout), (eval_cells, eval_layout) = heatmaps[0], (evaluated["data"][0],
                                                                         evaluated["layout"])
    for cells, layout in ((train_cells, train_layout), (eval_cells, eval_layout)):
        assert cells["x"] == cells["y"] == CLASSES
        assert cells["customdata"] == EXPECTED_MATRIX  # counts on hover, shares as colours
        for axis in (layout["xaxis"], layout["yaxis"]):
            assert axis["type"] == "category" and axis["tickvals"] == CLASSES
    assert train_cells["colorscale"] == eval_cells["colorscale"]
    assert train_cells["hovertemplate"] == eval_cells["hovertemplate"]


@pytest.fixture(scope="module")
def red_leaning_run(colour_run) -> Path:
    """The colour run retrained, say, to lean towards red (+4.5 on its logit): it fixes the three greenish
    images labelled red and breaks two greens and two blues (worked out from the logits by hand)."""
    import shutil

    second = colour_run.parent / "evaluate-colour-run-red"
    shutil.copytree(colour_run, second)
    model = _colour_model()
    kernel, _bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([kernel, np.array([0.0, 0.0, 4.5], np.float32)])
    model.save(second / "model.keras")
    meta = json.loads((second / "run.json").read_text())
    (second / "run.json").write_text(json.dumps({**meta, "id": second.name, "name": "colour-run-red"}))
    return second


def test_ab_view_pairs_two_runs_and_opens_a_changed_image_with_both_maps(colour_run, red_leaning_run):
    at = open_page(colour_run)
    assert not at.exception and not at.error, at.exception
    assert any(c.value == "Pick model B and press **Compare**." for c in at.caption)
    at.selectbox(key="evaluate_compare_model").set_value(str(red_leaning_run))
    at.button(key="evaluate_compare_run").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["A accuracy"] == "75.0%" and metrics["B accuracy"] == "66.7%"
    from scipy.stats import binomtest

    assert metrics["McNemar p-value"] == f"{binomtest(3, 7).pvalue:.3g}" == "1"
    assert any(i.value.startswith("B fixes 3 images and breaks 4; McNemar's exact test gives p = 1") for i in at.info)
    table = next(d.value for d in at.dataframe if "B right" in d.value.columns)
    assert table.to_dict() == {"B right": {"A right": 5, "A wrong": 3}, "B wrong": {"A right": 4, "A wrong": 0}}
    changed = next(d.value for d in at.dataframe if "change" in d.value.columns)
    assert sorted(changed["change"]) == ["broken by B"] * 4 + ["fixed by B"] * 3
    assert list(changed["change"][:3]) == ["fixed by B"] * 3  # the fixes first
    assert set(changed[changed["change"] == "fixed by B"]["image"]) == {_name(rgb) for rgb in MISLABELLED_RED}
    picker = at.selectbox(key="evaluate_compare_image")
    picker.set_value(next(p for p in picker.options if p.endswith(_name((50, 250, 0))))).run()
    captions = _captions(at)
    assert any(c.startswith("A says green (") and c.endswith("): Grad-CAM") for c in captions), captions
    assert any(c.startswith("B says red (") for c in captions), captions
    # The same model as B: nothing changes, and the page says so.
    at.selectbox(key="evaluate_compare_model").set_value(_option("evaluate-colour-run-2"))
    at.button(key="evaluate_compare_run").click().run()
    assert any(i.value == "The two models are right and wrong on exactly the same 12 images." for i in at.info)


def test_a_wrong_label_becomes_a_new_dataset_version_and_a_retraining(colour_run, monkeypatch):
    """The feedback loop as a person goes through it: relabel one confident mistake, leave another out, save;
    the original dataset is byte for byte unchanged, the version is offered and scores the relabelled image
    as right, and one click retrains the run on it with the run's own settings."""
    import hashlib

    from dashboard.components import corrections

    data = Path(json.loads((colour_run / "config.json").read_text())["data"])
    before = {p: p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}
    started = []
    monkeypatch.setattr(corrections, "start_job", lambda config, room, owner: started.append(
        (config, owner)))
    at = open_page(colour_run)
    inspect = at.selectbox(key="evaluate_item")

    def tag(path: str) -> str:
        return hashlib.sha1(path.encode()).hexdigest()[:10]

    first = inspect.value  # the most confident "green" of the reds, shown first
    assert Path(first).name == _name(EXPECTED_ORDER[0])
    second = str(Path(first).parent / _name(EXPECTED_ORDER[1]))
    at.selectbox(key=f"evaluate_fix_label_{tag(first)}").set_value("green").run()
    at.button(key=f"evaluate_fix_relabel_{tag(first)}").click().run()
    at.selectbox(key="evaluate_item").set_value(second).run()
    at.button(key=f"evaluate_fix_remove_{tag(second)}").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["image", "change"])
    assert list(table["change"]) == ["relabel as green", "leave out"]
    at.button(key="corrections_save").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert {p: p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()} == before
    saved = next(s.value for s in at.success if s.value.startswith("Saved as "))
    assert "(1 relabelled, 1 removed)" in saved and "the original dataset is unchanged" in saved
    version = Path(at.session_state["corrections_saved_version"][2])
    assert (version / "test" / "green" / Path(first).name).is_file()
    assert not (version / "test" / "red" / Path(second).name).exists()
    # Retrain in one click: the run's own settings on the version.
    at.button(key="corrections_retrain").click().run()
    (config, owner), = started
    assert config.data == str(version) and owner == SESSION and config.val_fraction == 0.2
    assert any(s.value.startswith("Training started with the run's own settings") for s in at.success)
    # The version is a dataset of this session: scored, the relabelled image is now right.
    option = f"version:{version.name}"
    assert any(o.startswith("Version: ") and o.endswith("v1 (1 relabelled, 1 removed)")
               for o in at.selectbox(key="evaluate_data").options), at.selectbox(key="evaluate_data").options
    at.selectbox(key="evaluate_data").set_value(option).run()
    at.button(key="evaluate_run").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    # Its test split, 12 images less the one left out: a version of the run's own data is not held out.
    assert at.selectbox(key="evaluate_split").value == "test"
    assert {m.label: m.value for m in at.metric}["Images"] == "11"
    # Row shares (true blue, green, red): the relabelled image is a right green, one greenish red is left.
    matrix = _charts(at)[0]["data"][0]["z"]
    assert matrix == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.25, 0.75]], matrix


# ---- in Chinese ------------------------------------------------------------------------------------

# Texts of the shared components (model picker, top-k chart: helper h1's part of issue #20), left out of
# this page's check until they are translated; the page's own texts must all be Chinese.
SHARED = {"Model", "Zoo models with ImageNet weights, your finished training runs and the models you uploaded.",
          "Use your own model (.keras)", "probability", "class"}
SHARED_OPTIONS = (" · ready", " · ready to convert", " · needs download")  # the model picker's options
# (and the dataset picker's options, from dashboard.components.datasets: the Data page's titles)


def _own_english(at: AppTest) -> list[str]:
    from i18n_check import run_names, untranslated, visible_texts

    texts = [t for t in visible_texts(at) if t not in SHARED and not t.endswith(SHARED_OPTIONS)
             and not t.startswith(("Run: ", "Your upload: ")) and " · not created yet (" not in t]  # datasets
    names = ["conv", "logits", "probabilities", "cat", "dog"]  # layers, classes of another dataset
    return untranslated(texts, [*CLASSES, *names, *run_names()])


def test_the_page_reads_as_chinese_after_evaluating(colour_run, monkeypatch):
    """Evaluated in Chinese: scores, matrix, drill-down, gallery, per-class table, calibration, baseline and
    the downloads (CSV headers, PNG axes) are Chinese; class names, file names and numbers stay as they are."""
    from core.evaluate import export

    made, csv, png = {}, export.predictions_csv, export.confusion_png

    def predictions_csv(result, translate):  # what the page downloads, kept
        made["csv"] = csv(result, translate)
        return made["csv"]

    def confusion_png(source, title, translate):
        made["png"] = (title, png(source, title, translate))
        return made["png"][1]

    monkeypatch.setattr(export, "predictions_csv", predictions_csv)
    monkeypatch.setattr(export, "confusion_png", confusion_png)
    at = open_page(colour_run, lang="zh")
    assert not at.error, [e.value for e in at.error]
    for _ in range(60):  # the baseline comes from a background task
        if "基线准确率" in {m.label for m in at.metric}:
            break
        time.sleep(0.5)
        at.run()
    assert at.title[0].value == "评估模型"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["准确率"] == "75.0%" and metrics["图像数"] == "12" and "基线准确率" in metrics
    assert "测试集（12 张图像）" in at.selectbox(key="evaluate_split").options
    assert any(c.startswith("Grad-CAM · 预测：green") for c in _captions(at))
    matrix = _charts(at)[0]["layout"]
    assert matrix["xaxis"]["title"]["text"] == "预测类别" and matrix["yaxis"]["title"]["text"] == "真实类别"
    assert list(at.dataframe[0].value.columns) == ["类别", "精确率", "召回率", "F1", "样本数"]
    header = "路径,真实类别序号,真实类别,预测类别序号,预测类别,是否正确,置信度,真实类别概率"
    assert made["csv"].splitlines()[0] == header
    assert made["png"][0].endswith("（测试集）") and made["png"][1].startswith(b"\x89PNG")
    left = _own_english(at)
    assert not left, "\n".join(left)
    # Past the first screen: another cell, and a dataset whose classes are not the run's.
    at.selectbox(key="evaluate_cell").set_value("0,0").run()
    assert any(c.value.startswith("3 张 blue 的图像被预测为 blue") for c in at.caption)
    at.selectbox(key="evaluate_data").set_value("session:upload-animals").run()
    assert any(e.value.startswith("训练记录 ") and "训练时的类别是 [blue, green, red]" in e.value for e in at.error)
    left = _own_english(at)
    assert not left, "\n".join(left)


def test_the_ab_view_reads_as_chinese(colour_run, red_leaning_run, monkeypatch):
    monkeypatch.setenv("GLASSWING_LANG", "zh")  # AppTest formats changed widgets' options in its own thread
    at = open_page(colour_run, lang="zh")
    at.selectbox(key="evaluate_compare_model").set_value(str(red_leaning_run))
    at.button(key="evaluate_compare_run").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any(i.value.startswith("B 改对了 3 张图像，又答错了 4 张") for i in at.info), [i.value for i in at.info]
    assert {m.label for m in at.metric} >= {"A 的准确率", "B 的准确率", "McNemar p 值"}
    assert any(c.startswith("A 认为是 green") for c in _captions(at)), _captions(at)
    left = _own_english(at)
    assert not left, "\n".join(left)


def test_the_chinese_confusion_png_draws_chinese_words():
    """The PNG's axis titles follow ``translate`` and are drawn in a font with Chinese glyphs (missing
    glyphs would draw the same empty box for every character)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    from core.evaluate import export
    from dashboard.i18n import catalogue

    font = export._font(13)
    if not isinstance(font, ImageFont.FreeTypeFont) or "wqy" not in str(font.path):
        pytest.skip("WenQuanYi Micro Hei is not installed (scripts/system-packages.sh installs it)")

    class Matrix:
        class_names = CLASSES
        confusion = np.array(EXPECTED_MATRIX)

    def pixels(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("L"))

    zh = catalogue("zh").gettext
    english, chinese = pixels(export.confusion_png(Matrix())), pixels(export.confusion_png(Matrix(), "", zh))
    assert english.shape == chinese.shape and (english != chinese).any()  # same matrix, other axis words
    assert (english[-40:] == chinese[-40:]).all()  # the cells and their counts are the same
    titled = [pixels(export.confusion_png(Matrix(), title, zh)) for title in ("混淆矩阵", "预测结果")]
    assert (titled[0][:24] != titled[1][:24]).any()  # two titles of four characters: different glyphs

    def drawn(text: str) -> np.ndarray:
        image = Image.new("L", (80, 20), 255)
        ImageDraw.Draw(image).text((2, 2), text, fill=0, font=font)
        return np.asarray(image)

    assert (drawn("预测类别") != drawn("真实类别")).any() and (drawn("预测类别") < 128).any()


def test_the_page_says_which_images_are_scored_as_core_does(colour_run):
    """The page's sentence (in the session's language) is core's ``EvalSplit.describe`` in English."""
    from core.evaluate import open_split
    from dashboard.components.split_picker import describe_split

    data = json.loads((colour_run / "config.json").read_text())["data"]
    for split, held in (("test", False), ("train", False), ("all", False), ("all", True), ("val", True)):
        opened = open_split(data, split, held_out=held)
        assert describe_split(opened) == opened.describe()


def _reload(at: AppTest) -> AppTest:
    """The same browser tab reloaded on the Evaluate page: a new Streamlit session on the signed address."""
    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params["session"] = at.query_params["session"]
    again._page_hash = calc_hash("evaluate")
    again.run()
    assert not again.exception, again.exception
    return again


def test_a_reload_keeps_the_evaluation_the_image_inspected_the_ab_view_and_unsaved_corrections(
        colour_run, red_leaning_run):
    """Without another click: the model, split and scores, the cell and image the person was inspecting, the
    A/B comparison they asked for and a relabel they had not saved yet."""
    import hashlib

    at = open_page(colour_run, session=None)
    mistake = at.selectbox(key="evaluate_item").value  # the most confident "green" of the reds
    tag = hashlib.sha1(mistake.encode()).hexdigest()[:10]
    at.selectbox(key=f"evaluate_fix_label_{tag}").set_value("green").run()
    at.button(key=f"evaluate_fix_relabel_{tag}").click().run()
    at.selectbox(key="evaluate_cell").set_value("0,0").run()
    at.selectbox(key="evaluate_item").select_index(1).run()
    inspected = at.selectbox(key="evaluate_item").value
    at.selectbox(key="evaluate_compare_model").set_value(str(red_leaning_run))
    at.button(key="evaluate_compare_run").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    again = _reload(at)
    assert again.session_state["session_id"] == at.session_state["session_id"]
    assert again.selectbox(key="evaluate_model").value == _option(colour_run.name)
    assert again.selectbox(key="evaluate_split").value == "test"
    assert not any("press **Evaluate**" in i.value for i in again.info)
    assert _charts(again)[0]["data"][0]["customdata"] == EXPECTED_MATRIX
    assert again.selectbox(key="evaluate_cell").value == "0,0"
    assert again.selectbox(key="evaluate_item").value == inspected
    table = next(d.value for d in again.dataframe if list(d.value.columns) == ["image", "change"])
    assert list(table["change"]) == ["relabel as green"]
    metrics = {m.label: m.value for m in again.metric}
    assert metrics["A accuracy"] == "75.0%" and metrics["B accuracy"] == "66.7%"
    # A page left and opened again in the same session keeps them too.
    again._page_hash = calc_hash("data")
    again.run()
    again._page_hash = calc_hash("evaluate")
    again.run()
    assert not again.exception, again.exception
    assert again.selectbox(key="evaluate_item").value == inspected
    assert {m.label: m.value for m in again.metric}["B accuracy"] == "66.7%"
