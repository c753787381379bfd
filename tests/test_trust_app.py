"""The Trust page under AppTest: compare ranks methods, sanity shows pass/fail, shortcut opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = str(Path(__file__).resolve().parent.parent)


def _trust_page(root: str) -> None:
    # AppTest.switch_page cannot reach st.navigation pages defined by a callable: run the page alone.
    import sys

    if root not in sys.path:
        sys.path.insert(0, root)
    from dashboard import state
    from dashboard.i18n import init_language
    from dashboard.views import trust

    init_language()  # ?lang=zh opens it in Chinese
    state.init_session()
    trust.main()


@pytest.fixture
def trust(lite0):
    at = AppTest.from_function(_trust_page, args=(ROOT,), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def _text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [e.value for e in at.error] + [w.value for w in at.warning]
    return " ".join(parts)


def test_compare_view_ranks_methods(trust):
    assert "Press **Rank the methods**" in _text(trust)
    from core.explain import list_methods

    chosen = trust.multiselect(key="trust_compare_methods").value
    slow = {m.name for m in list_methods() if m.slow}
    assert slow == {"scorecam", "ablationcam", "rise", "occlusion"} and not slow & set(chosen)
    assert set(chosen) == {m.name for m in list_methods()} - slow  # every quick method by default
    trust.multiselect(key="trust_compare_methods").set_value(["gradcam", "saliency"])
    trust.slider(key="trust_compare_steps").set_value(8)
    trust.button[0].click().run()  # the form's submit button
    assert not trust.exception, trust.exception
    assert not trust.error, [e.value for e in trust.error]
    table = trust.dataframe[0].value
    assert set(table["method"]) == {"Grad-CAM", "Saliency (gradients)", "Random map (reference)"}
    assert list(table["rank"]) == [1, 2, 3]
    assert "Explaining:** Egyptian cat" in _text(trust)


def test_ranking_goes_on_in_the_background_naming_each_method(trust, monkeypatch):
    """Past the page's wait, the ranking is a background task whose bar names the method being scored; the
    table comes once it is done, without another click."""
    from gates import bars_until, hold_at, run_until_done

    from dashboard.components import task_status
    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    gate = hold_at(monkeypatch, "core.trust.compare_methods", "Explaining and scoring Saliency")
    tasks.clear("trust-compare")
    trust.multiselect(key="trust_compare_methods").set_value(["gradcam", "saliency"])
    trust.slider(key="trust_compare_steps").set_value(12)  # settings no other test ranked
    trust.button[0].click().run()
    bars = bars_until(trust, lambda b: "Saliency" in b)
    gate.set()
    assert any(b.startswith("Ranking 2 methods: Explaining and scoring Saliency (gradients) (2 of 3)")
               for b in bars), bars
    assert task_status.LEAVE_NOTE in [c.value for c in trust.caption]
    assert not trust.dataframe
    run_until_done(trust)
    assert not trust.exception and not trust.error, trust.exception
    assert set(trust.dataframe[0].value["method"]) == {"Grad-CAM", "Saliency (gradients)", "Random map (reference)"}


def test_compare_methods_reports_each_method_then_the_random_map(lite0):
    import numpy as np

    from core.trust import compare_methods

    seen = []
    pixels = np.random.default_rng(0).integers(0, 255, (40, 40, 3)).astype(np.uint8)
    compare_methods(lite0, pixels, ["gradcam", "saliency"], steps=4,
                    progress=lambda fraction, text: seen.append((round(fraction, 3), text)))
    assert seen == [(0.0, "Explaining and scoring Grad-CAM (1 of 3)"),
                    (0.333, "Explaining and scoring Saliency (gradients) (2 of 3)"),
                    (0.667, "Scoring a random map (3 of 3)")]


def test_sanity_view_shows_pass_or_fail_with_captions_that_wrap_between_words(trust):
    trust.sidebar.radio(key="trust_view").set_value("Sanity check").run()
    trust.multiselect(key="trust_sanity_methods").set_value(["gradcam"])
    trust.slider(key="trust_sanity_stages").set_value(2)
    trust.button[0].click().run()
    assert not trust.exception, trust.exception
    verdicts = [s.value for s in trust.success] + [e.value for e in trust.error]
    assert any("Grad-CAM: passed" in v or "Grad-CAM: failed" in v for v in verdicts), verdicts
    assert "rank correlation" in _text(trust)
    assert len(trust.get("progress")) == 0  # each method's progress bar goes once it is done
    # The cascade's captions wrap between words in narrow columns (#17).
    captions = [c for img in trust.get("image") for c in img.captions]
    steps = [c for c in captions if "random down to" in c]
    assert captions[0] == "trained model" and steps
    for caption in steps:
        assert caption.startswith("ρ\u00a0")  # the number stays with its symbol
        layer = caption.split("random down to ")[1]
        assert "_" not in layer.replace("_\u200b", "")  # a layer name breaks only after an underscore


def test_shortcut_view_without_runs(trust):
    trust.sidebar.radio(key="trust_view").set_value("Shortcut lesson").run()
    assert not trust.exception, trust.exception
    assert "No finished shortcut model yet" in _text(trust)


def test_the_shortcut_is_measured_in_the_background_with_its_steps(trust, monkeypatch):
    """A finished shortcut run is measured as a background task: its bar says the step, then the report."""
    import threading
    from types import SimpleNamespace

    import numpy as np
    from gates import bars_until, run_until_done

    from core.trust.shortcut import ShortcutReport
    from dashboard.services import tasks
    from dashboard.views import trust_shortcut

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    run = SimpleNamespace(path=Path("/runs/shortcut-background"), name="Shortcut background", created="2026-01-02",
                          id="shortcut-background")
    monkeypatch.setattr(trust_shortcut, "_lesson_runs", lambda: [run])
    gate, asked = threading.Event(), []

    def measured(run_path, method, progress):  # core's own steps are checked in test_trust_checks
        asked.append((run_path, method))
        progress(0.0, "Scoring the watermarked validation images and the clean test images")
        gate.wait(60)
        progress(0.6, "Explaining 5 watermarked circles")
        return ShortcutReport(class_names=["circle", "square"], val_accuracy=0.9, test_accuracy=0.7,
                              val_circle_accuracy=1.0, test_circle_accuracy=0.1, stamped_to_circle=0.95,
                              method=method, peaks_on_watermark=1.0, energy_on_watermark=0.45, box_area=0.009,
                              examples=[{"pixels": np.zeros((8, 8, 3), np.uint8), "heatmap": np.ones((8, 8)),
                                         "label": "circle", "prob": 0.99}])

    monkeypatch.setattr(trust_shortcut, "report", measured)
    tasks.clear("trust-shortcut")
    trust.sidebar.radio(key="trust_view").set_value("Shortcut lesson").run()
    bars = bars_until(trust, lambda b: "Scoring the watermarked" in b)
    gate.set()
    assert any(b.startswith("Measuring the shortcut on validation and clean test images: Scoring the watermarked "
                            "validation images and the clean test images") for b in bars), bars
    assert not trust.metric
    run_until_done(trust)
    assert not trust.exception and not trust.error, trust.exception
    assert [m.value for m in trust.metric][:2] == ["90.0%", "70.0%"]
    assert asked == [(str(run.path), "saliency")]  # once: reruns read the kept task


def test_the_trust_pages_progress_is_said_in_chinese():
    from dashboard.components.core_words import reword
    from dashboard.i18n import catalogue
    from dashboard.views import trust_compare, trust_shortcut

    zh = catalogue("zh").gettext
    said, names = trust_compare.progress_words()
    text = reword("Explaining and scoring Grad-CAM++ (2 of 4)", said, names).translated(zh)
    assert "2" in text and "4" in text and "Explaining" not in text and zh("Grad-CAM++") in text, text
    assert reword("Scoring a random map (4 of 4)", said, names).translated(zh) != "Scoring a random map (4 of 4)"
    text = reword("Explaining 12 watermarked circles", trust_shortcut.progress_words()).translated(zh)
    assert "12" in text and "Explaining" not in text, text


def _report_page(root: str) -> None:
    import sys

    if root not in sys.path:
        sys.path.insert(0, root)
    import numpy as np

    from core.trust.shortcut import ShortcutReport
    from dashboard.i18n import init_language
    from dashboard.views.trust_shortcut import _show_report

    init_language()

    heat = np.zeros((32, 32), np.float32)
    heat[28:31, 28:31] = 1.0
    _show_report(ShortcutReport(
        class_names=["circle", "square", "star", "triangle"], val_accuracy=0.9, test_accuracy=0.7,
        val_circle_accuracy=1.0, test_circle_accuracy=0.1, stamped_to_circle=0.95, method="saliency",
        peaks_on_watermark=1.0, energy_on_watermark=0.45, box_area=0.009,
        examples=[{"pixels": np.zeros((32, 32, 3), np.uint8), "heatmap": heat, "label": "circle", "prob": 0.99}]))


def test_shortcut_report_is_drawn():
    at = AppTest.from_function(_report_page, args=(ROOT,), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:2] == ["90.0%", "70.0%"]
    assert "The model took the shortcut: on watermarked circles 45% of the heatmap" in _text(at)


# --- In Chinese: past the first screen, nothing of the Trust page's own is left in English ---

def _shared_components(root: str) -> None:
    import sys

    if root not in sys.path:
        sys.path.insert(0, root)
    from dashboard import state
    from dashboard.components.image_picker import current_image
    from dashboard.components.model_picker import model_picker
    from dashboard.i18n import init_language

    init_language()
    state.init_session()
    with __import__("streamlit").sidebar:
        model_picker(key="trust_model")
    current_image()


@pytest.fixture(scope="module")
def not_ours() -> set[str]:
    """The texts of the shared components the page shows (the model and photo pickers: another part of the
    translation), as they read in Chinese now."""
    from i18n_check import visible_texts

    at = AppTest.from_function(_shared_components, args=(ROOT,), default_timeout=300)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, at.exception
    return set(visible_texts(at))


def _english_left(at, not_ours: set[str], lite0) -> list[str]:
    """Visible texts of the page's own still holding English prose. Names allowed besides the prose check's
    own: the classes and layers the page test allows, and the methods' titles (the Explain page's part)."""
    from i18n_check import untranslated, visible_texts
    from test_i18n import class_names

    from core.explain import list_methods

    names = [*class_names(lite0), *(m.title for m in list_methods())]
    return untranslated([t for t in visible_texts(at) if t not in not_ours], names)


@pytest.fixture
def chinese(monkeypatch):
    """AppTest formats a widget's options again in the test's own thread, which has no session: there the
    server's default language must be the page's too, or a changed widget's value is not found among them."""
    monkeypatch.setenv("GLASSWING_LANG", "zh")


def _chinese_trust(lite0) -> AppTest:
    at = AppTest.from_function(_trust_page, args=(ROOT,), default_timeout=300)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, at.exception
    return at


def test_compare_and_sanity_views_read_as_chinese_after_their_results(lite0, not_ours, chinese):
    at = _chinese_trust(lite0)
    assert "点击 **给方法排名**" in _text(at)
    at.multiselect(key="trust_compare_methods").set_value(["gradcam", "saliency"])
    at.slider(key="trust_compare_steps").set_value(8)
    next(b for b in at.button if b.label == "给方法排名").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["排名"]) == [1, 2, 3] and "随机热力图（参照）" in set(table["方法"])
    assert "**解释的类别：** Egyptian cat" in _text(at)
    left = _english_left(at, not_ours, lite0)
    assert not left, "\n".join(left)
    # The sanity check: the verdict and core's reading, in Chinese.
    at.sidebar.radio(key="trust_view").set_value("Sanity check").run()
    assert "健全性检查" in at.sidebar.radio(key="trust_view").options
    at.multiselect(key="trust_sanity_methods").set_value(["gradcam"])
    at.slider(key="trust_sanity_stages").set_value(2)
    next(b for b in at.button if b.label == "运行健全性检查").click().run()
    assert not at.exception, at.exception
    verdicts = [s.value for s in at.success] + [e.value for e in at.error]
    assert any(v in ("**Grad-CAM：通过**", "**Grad-CAM：未通过**") for v in verdicts), verdicts
    assert "秩相关" in _text(at)
    captions = [c for img in at.get("image") for c in img.captions]
    assert captions[0] == "训练好的模型" and any("随机化到" in c for c in captions)
    left = _english_left(at, not_ours, lite0)
    assert not left, "\n".join(left)


def test_shortcut_lesson_reads_as_chinese(lite0, not_ours, chinese):
    at = _chinese_trust(lite0)
    at.sidebar.radio(key="trust_view").set_value("Shortcut lesson").run()
    assert not at.exception, at.exception
    assert "还没有训练完成的捷径模型" in _text(at)
    assert not _english_left(at, not_ours, lite0)
    report = AppTest.from_function(_report_page, args=(ROOT,), default_timeout=60)
    report.query_params["lang"] = "zh"
    report.run()
    assert not report.exception, report.exception
    assert "模型走了捷径：在带水印的圆形上，热力图有 45% 落在" in _text(report)
    assert [m.label for m in report.metric][0] == "验证集准确率（带水印的圆形）"
    assert not _english_left(report, not_ours, lite0)


# --- Method table: a run whose evidence is known, scored over its own dataset and a held-out one ---

TABLE_SESSION = "trust-table-test"
SIDE = 8
SCALE = 0.05
COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}  # sorted: the dataset's order


def _patch_image(path: Path, rgb, corner: int, seed: int) -> None:
    """Black, with a coloured 3x3 patch: the only pixels the model's decision depends on."""
    import numpy as np
    from PIL import Image

    pixels = np.zeros((SIDE, SIDE, 3), np.uint8)
    row, col = divmod((corner + seed) % 4, 2)
    pixels[row * 5:row * 5 + 3, col * 5:col * 5 + 3] = rgb
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _patch_model():
    """Identity 1x1 conv, global average, class c = SCALE * mean of channel (blue, green, red order)."""
    import keras
    import numpy as np

    inputs = keras.Input((SIDE, SIDE, 3))
    conv = keras.layers.Conv2D(3, 1, use_bias=False, name="conv")
    x = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    dense = keras.layers.Dense(3, name="logits")
    model = keras.Model(inputs, keras.layers.Activation("softmax")(dense(x)))
    kernel = np.zeros((3, 3), np.float32)
    for channel, column in enumerate([2, 1, 0]):  # RGB channels to the columns of red, green, blue
        kernel[channel, column] = SCALE
    conv.set_weights([np.eye(3, dtype=np.float32)[None, None]])
    dense.set_weights([kernel, np.zeros(3, np.float32)])
    return model


@pytest.fixture(scope="module")
def patch_run(tmp_path_factory) -> Path:
    import json

    from core import config
    from core.data.sessions import session_dir

    data = tmp_path_factory.mktemp("trust-patches")
    for split in ("train", "val", "test"):
        for name, rgb in COLOURS.items():
            for i in range(4):
                _patch_image(data / split / name / f"{i}.png", rgb, i, hash(split) % 3)
    run_dir = config.runs_dir() / "trust-patch-run"
    run_dir.mkdir(parents=True)
    _patch_model().save(run_dir / "model.keras")
    (run_dir / "run.json").write_text(json.dumps({
        "id": run_dir.name, "name": "patch-run", "status": "complete", "class_names": list(COLOURS),
        "base_model": "tiny patch model", "created": "2026-01-01T00:00:00+00:00"}))
    (run_dir / "config.json").write_text(json.dumps({"data": str(data), "val_fraction": 0.2,
                                                     "test_fraction": 0.0, "seed": 0}))
    pool = session_dir(TABLE_SESSION) / "upload-patches"  # the same classes, never trained on
    for name, rgb in COLOURS.items():
        for i in range(3):
            _patch_image(pool / name / f"p{i}.png", rgb, i, 1)
    (pool / "dataset.json").write_text(json.dumps({"id": "upload-patches", "source": "patches.zip"}))
    other = session_dir(TABLE_SESSION) / "upload-animals"
    for name in ("cat", "dog"):
        for i in range(2):
            _patch_image(other / name / f"{i}.png", (200, 90, 40), i, 0)
    (other / "dataset.json").write_text(json.dumps({"id": "upload-animals", "source": "animals.zip"}))
    return run_dir


def _table_page(patch_run: Path, lang: str | None = None) -> AppTest:
    from core.train.runs import list_runs

    option = next(str(r.path) for r in list_runs(owner=TABLE_SESSION) if r.path.name == patch_run.name)
    at = AppTest.from_function(_trust_page, args=(ROOT,), default_timeout=300)
    if lang:
        at.query_params["lang"] = lang
    at.session_state["session_id"] = TABLE_SESSION
    at.session_state["trust_model"] = option
    at.session_state["trust_view"] = "Method table"
    at.run()
    assert not at.exception, at.exception
    return at


def _score(at, methods, images: int) -> None:
    at.multiselect(key="trust_table_methods").set_value(methods)
    at.number_input(key="trust_table_images").set_value(images)
    at.slider(key="trust_table_steps").set_value(8)
    at.selectbox(key="trust_table_baseline").set_value("black")
    next(b for b in at.button if b.label == "Score the methods").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_method_table_recommends_the_method_that_finds_the_patch(patch_run):
    """On the run's own test split, Grad-CAM (the patch, exactly) beats a random map and is recommended;
    the table's numbers are core's, computed again here; another dataset is scored whole, and one with
    other classes is refused in a sentence."""
    from core.trust.ground_truth import load_scored_images
    from core.trust.table import method_table
    from core.zoo import load_model

    at = _table_page(patch_run)
    assert at.selectbox(key="trust_table_data").value == "run:own"
    assert at.selectbox(key="trust_table_split").value == "test"
    assert "Press **Score the methods**" in _text(at)
    _score(at, ["gradcam", "saliency"], 6)
    assert "Recommended: Grad-CAM" in _text(at), _text(at)
    assert "the test split of" in _text(at) and "6" in _text(at)
    table = at.dataframe[0].value
    assert list(table["method"])[0] == "Grad-CAM" and "Random map (reference)" in set(table["method"])
    loaded = load_model(str(patch_run))
    data = load_scored_images(loaded, _run_data(patch_run), "test", limit=6, need_masks=False)
    expected = method_table(loaded, data.pixels, data.labels, ["gradcam", "saliency"], baseline="black", steps=8)
    for row in expected.rows:
        shown = table[table["method"] == ("Random map (reference)" if row.method == "random"
                                          else {"gradcam": "Grad-CAM", "saliency": "Saliency (gradients)"}[row.method])]
        assert float(shown["insertion − deletion ↑"].iloc[0]) == pytest.approx(row.score, abs=1e-6)
        assert float(shown["Average Drop ↓"].iloc[0]) == pytest.approx(row.average_drop, abs=1e-6)
    # A second dataset of the same classes, never trained on: all of it, and the page says so.
    at.selectbox(key="trust_table_data").set_value("session:upload-patches").run()
    assert at.selectbox(key="trust_table_split").value == "all"
    _score(at, ["gradcam"], 9)
    assert "all 9 images of upload-patches" in _text(at) and "held out" in _text(at)
    # Classes the run does not know: one sentence, no table, no traceback.
    at.selectbox(key="trust_table_data").set_value("session:upload-animals").run()
    assert not at.exception, at.exception
    assert any("cat" in e.value for e in at.error), [e.value for e in at.error]
    assert not any(b.label == "Score the methods" for b in at.button)


def test_method_table_reads_as_chinese_with_its_recommendation(patch_run, lite0, not_ours, chinese):
    """Scored in Chinese: the recommendation (core's reason, methods by their titles), the table's columns
    and the notes are Chinese; the dataset and split pickers and the split's sentence are the Evaluate
    page's part, the model picker (this session's run among its options) a shared component's."""
    from core.trust.ground_truth import load_scored_images
    from core.zoo import load_model

    at = _table_page(patch_run, lang="zh")
    assert "点击 **给方法打分**" in _text(at)
    at.multiselect(key="trust_table_methods").set_value(["gradcam", "saliency"])
    at.number_input(key="trust_table_images").set_value(6)
    at.slider(key="trust_table_steps").set_value(8)
    at.selectbox(key="trust_table_baseline").set_value("black")
    next(b for b in at.button if b.label == "给方法打分").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    success = [s.value for s in at.success]
    assert any(v.startswith("**推荐：Grad-CAM。** 在 6 张图像上，Grad-CAM 对像素的排序最好") for v in success), success
    frame = at.dataframe[0].value
    assert {"排名", "方法", "平均下降 ↓", "置信度提升 ↑"} <= set(frame.columns)
    assert list(frame["方法"])[0] == "Grad-CAM" and "随机热力图（参照）" in set(frame["方法"])
    assert any(b.label == "下载表格（JSON）" for b in at.get("download_button"))
    pickers = [at.selectbox(key=k) for k in ("trust_model", "trust_table_data", "trust_table_split")]
    evaluate_part = not_ours | {t for w in pickers for t in (w.label, w.help, *w.options)}
    split = load_scored_images(load_model(str(patch_run)), _run_data(patch_run), "test", limit=6,
                               need_masks=False).split_scope
    from i18n_check import untranslated, visible_texts

    texts = [t.replace(split, " ") for t in visible_texts(at) if t not in evaluate_part]
    from test_i18n import class_names

    left = untranslated(texts, [*class_names(lite0), *COLOURS, "Saliency (gradients)"])
    assert not left, "\n".join(left)


def _run_data(run_dir: Path) -> str:
    import json

    return json.loads((run_dir / "config.json").read_text())["data"]


def test_sanity_view_shows_guided_backprop_failing_beside_two_methods_that_pass(trust):
    """The check teaches something on its first press: with the page's defaults (EfficientNet-Lite0, the cat,
    6 stages) Guided Backprop fails and Grad-CAM and saliency pass (Adebayo et al. 2018)."""
    trust.sidebar.radio(key="trust_view").set_value("Sanity check").run()
    picker = trust.multiselect(key="trust_sanity_methods")
    # The picker shows titles; it reads them from the registry, so every new method is offered.
    assert {"Guided Backprop", "Guided Grad-CAM", "RISE", "Occlusion"} <= set(picker.options), picker.options
    assert picker.value == ["gradcam", "saliency", "guided_backprop"]
    assert trust.slider(key="trust_sanity_stages").value == 6
    trust.button[0].click().run()
    assert not trust.exception, trust.exception
    assert [s.value for s in trust.success] == ["**Grad-CAM: passed**", "**Saliency (gradients): passed**"]
    assert [e.value for e in trust.error] == ["**Guided Backprop: failed**"]
    assert any(c.value.startswith("Failed: the Guided Backprop map kept looking like the original")
               for c in trust.caption), [c.value for c in trust.caption]
