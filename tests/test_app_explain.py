"""The Explain page under Streamlit's AppTest: a sample or an uploaded photo gives predictions and a heatmap;
gradient maps are drawn as gradient maps, with a colour-map choice, colour bars, raw downloads, the peak in
the photo's coordinates and honest timings (issue #17, "Seeing the maps")."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def app(lite0):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at, markdown: bool = False) -> list[str]:
    """Image captions, then (with ``markdown``) the markdown, then the captions under elements."""
    captions = [c for img in at.get("image") for c in img.captions]
    return captions + ([m.value for m in at.markdown] if markdown else []) + [c.value for c in at.caption]


def test_default_sample_is_explained(app):
    text = " ".join(_texts(app, markdown=True))
    assert "Prediction:** Egyptian cat" in text
    assert "Grad-CAM · Egyptian cat" in text
    assert not app.error


def test_switching_method_and_class_shows_new_explanations(app):
    app.multiselect(key="explain_methods").set_value(["gradcam", "saliency"]).run()
    assert not app.exception, app.exception
    text = " ".join(_texts(app, markdown=True))
    assert "Grad-CAM · Egyptian cat" in text and "Saliency" in text
    app.selectbox(key="explain_target").set_value(281).run()  # tabby
    assert "Grad-CAM · tabby" in " ".join(_texts(app, markdown=True))


def test_corrupt_upload_gets_a_message_and_the_page_keeps_working(app):
    # AppTest cannot drive st.file_uploader in every release; call the decoder the uploader uses.
    from dashboard.components.image_picker import _decode_upload

    assert _decode_upload("broken.jpg", b"\xff\xd8\xff\xe0garbage") is None
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, format="PNG")
    assert _decode_upload("red.png", buf.getvalue()).pixels.shape == (30, 40, 3)


def test_every_heatmap_has_faithfulness_badges_matching_core(app, lite0):
    import re

    import numpy as np

    from core.explain import explain
    from core.images import resize_for_model
    from core.samples import load_sample
    from core.trust import score_heatmap
    from dashboard.services.badges import wait_for_scores

    # Scores are computed by a background worker: the first run shows the heatmap and a placeholder.
    text = " ".join(_texts(app, markdown=True))
    if not re.search(r"deletion \d", text):  # not scored yet (earlier tests may have scored it)
        assert "Scoring this heatmap" in text, text
        wait_for_scores()
        app.run()  # what the placeholder's timer does once the score is ready
        assert not app.exception, app.exception
        text = " ".join(_texts(app, markdown=True))
    deletion = re.search(r"deletion (\d+)%", text)
    insertion = re.search(r"insertion (\d+)%", text)
    assert deletion and insertion, text
    # Independent recomputation: the same Grad-CAM heatmap scored by core directly, each area over the
    # clean probability (the curves' first point), and the badge coloured by that share.
    from dashboard.components.faithfulness import deletion_colour, insertion_colour

    pixels = load_sample("cat")
    (exp,) = explain(lite0, resize_for_model(pixels, lite0.input_size)[None], "gradcam")
    curves = score_heatmap(lite0, pixels, exp.heatmap, exp.class_index)
    clean = float(lite0.predict(resize_for_model(pixels, lite0.input_size)[None])[0, exp.class_index])
    assert curves.clean == pytest.approx(clean, abs=1e-4)
    assert float(deletion.group(1)) == pytest.approx(100 * curves.deletion_auc / clean, abs=1.01)
    assert float(insertion.group(1)) == pytest.approx(100 * curves.insertion_auc / clean, abs=1.01)
    assert f":{deletion_colour(curves.relative_deletion)}-badge[deletion" in text, text
    assert f":{insertion_colour(curves.relative_insertion)}-badge[insertion" in text, text
    assert f"alone scores {curves.shown:.1%} against {curves.clean:.1%}" in text  # Average Drop's input
    assert np.isfinite(curves.deletion_auc) and curves.deletion_auc < curves.insertion_auc


def test_badge_colour_follows_the_share_of_the_clean_probability():
    """A class the model gives 20%: an insertion area of 0.15 is three quarters of what it can reach (green),
    where the old fixed thresholds on the raw area called it red."""
    from dashboard.components.faithfulness import deletion_colour, insertion_colour

    assert insertion_colour(0.15 / 0.2) == "green" and insertion_colour(0.05 / 0.2) == "red"
    assert deletion_colour(0.02 / 0.2) == "green" and deletion_colour(0.15 / 0.2) == "red"
    assert insertion_colour(0.45) == deletion_colour(0.45) == "orange"


def test_badge_scoring_runs_in_the_background_without_the_models_lock(lite0):
    """Seconds of deletion/insertion scoring must not hold up other sessions' predictions on the model."""
    import numpy as np

    from core.images import resize_for_model
    from core.samples import load_sample
    from dashboard.services.badges import heatmap_key, scoring

    pixels = load_sample("coffee")
    heatmap = np.random.default_rng(3).random((7, 7)).astype(np.float32)
    probs = lite0.predict(resize_for_model(pixels, lite0.input_size)[None])[0]
    with lite0.lock:  # another session holds the model: scoring goes on regardless
        job = scoring("efficientnet_lite0", "coffee-test", heatmap_key(heatmap), int(probs.argmax()), pixels,
                      heatmap)
        result = job.result(timeout=120)
    assert 0.0 <= result.deletion_auc <= 1.0 and 0.0 <= result.insertion_auc <= 1.0
    assert scoring("efficientnet_lite0", "coffee-test", heatmap_key(heatmap), int(probs.argmax()), pixels,
                   heatmap) is job, "a scored heatmap is not scored again"


def test_badge_scoring_steps_aside_while_someone_waits_for_a_heatmap(lite0):
    """While a prediction or heatmap is in flight, the background scorer waits between its batches."""
    import time

    import numpy as np

    from core import priority
    from core.samples import load_sample
    from dashboard.services.badges import heatmap_key, scoring

    pixels = load_sample("astronaut")
    heatmap = np.random.default_rng(4).random((7, 7)).astype(np.float32)
    with priority.foreground():  # a session is computing a heatmap
        job = scoring("efficientnet_lite0", "astronaut-priority", heatmap_key(heatmap), 1, pixels, heatmap)
        time.sleep(1.0)
        assert not job.done(), "the scorer ran while someone was waiting"
        assert priority.in_flight() == 1
    started = time.perf_counter()
    result = job.result(timeout=120)
    assert 0.0 <= result.deletion_auc <= 1.0
    assert time.perf_counter() - started < 60
    assert priority.in_flight() == 0


def test_wait_for_quiet_waits_for_foreground_work_and_gives_up_after_max_wait():
    import threading
    import time

    from core import priority

    assert priority.wait_for_quiet(0.0)
    held, release = threading.Event(), threading.Event()

    def someone_waiting():
        with priority.foreground():
            held.set()
            release.wait(10)

    worker = threading.Thread(target=someone_waiting)
    worker.start()
    held.wait(10)
    started = time.perf_counter()
    assert not priority.wait_for_quiet(0.3)  # busy: gives up after max_wait
    assert 0.25 <= time.perf_counter() - started < 2.0
    threading.Timer(0.2, release.set).start()
    assert priority.wait_for_quiet(5.0)  # quiet again as soon as the foreground work ends
    worker.join(5)


def test_every_page_run_counts_as_foreground_work(lite0, monkeypatch):
    """app.py runs the page inside core.priority.foreground, so background work steps aside meanwhile."""
    from contextlib import contextmanager

    from core import priority

    seen = []
    real = priority.foreground

    @contextmanager
    def recording():
        with real():
            seen.append(priority.in_flight())
            yield

    monkeypatch.setattr(priority, "foreground", recording)
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    assert seen and seen[0] >= 1, "the page did not run as foreground work"
    assert priority.in_flight() == 0, "foreground work was left marked after the run"


# -- Seeing the maps (issue #17) ----------------------------------------------------------------------

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


def test_score_cam_goes_on_in_the_background_with_what_it_is_doing(app, monkeypatch):
    """Longer than the page waits: the card shows Score-CAM's bar and the leave note, then the map."""
    import threading

    import core.explain
    from dashboard import state
    from dashboard.components.task_status import LEAVE_NOTE
    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    tasks.clear("heatmap")  # finished tasks of earlier tests (the same Score-CAM) would be shown at once
    state.shared_results("heatmap", 512).clear()  # computed afresh, not taken from another test's run
    gate, real = threading.Event(), core.explain.explain

    def held(*args, progress=None, **kwargs):  # Score-CAM as on a slow machine: held until released
        progress(0.5, "masked copies 64 of 128")
        gate.wait(60)
        return real(*args, progress=progress, **kwargs)

    monkeypatch.setattr(core.explain, "explain", held)
    app.multiselect(key="explain_methods").set_value(["scorecam"]).run()
    assert not app.exception, app.exception
    for _ in range(80):  # the model is loaded again (cleared), then the worker reports once it has started
        bars = [b.proto.text for b in app.get("progress")]
        if bars and not bars[0].endswith("Starting ...") and not bars[0].startswith("Loading "):
            break
        time.sleep(0.25)
        app.run()
    assert bars == ["Computing Score-CAM: masked copies 64 of 128"], bars
    assert LEAVE_NOTE in [c.value for c in app.caption]
    gate.set()
    for _ in range(240):
        if any(c.startswith("Score-CAM · ") for img in app.get("image") for c in img.captions):
            break
        time.sleep(0.25)
        app.run()
    assert not app.exception and not app.get("progress"), app.exception
    assert any(c.startswith("Score-CAM · Egyptian cat") for img in app.get("image") for c in img.captions)


def test_compared_with_class_explains_one_class_rather_than_another(app):
    """The optional 'Compared with' class passes a contrast to core: a different map, named in the caption;
    EigenCAM (the same map for every class) says in its card why it cannot."""
    plain = app.get("image")[1].value if len(app.get("image")) > 1 else None
    app.selectbox(key="explain_contrast").set_value(282).run()  # tiger cat
    assert not app.exception, app.exception
    text = " ".join(_texts(app))
    assert "Grad-CAM · Egyptian cat" in text and "rather than tiger cat" in text
    assert plain is not None and app.get("image")[1].value != plain  # another overlay
    app.multiselect(key="explain_methods").set_value(["gradcam", "eigencam"]).run()
    assert not app.exception, app.exception
    assert any("EigenCAM" in w.value and "cannot contrast" in w.value for w in app.warning)
    app.selectbox(key="explain_target").set_value(282).run()  # the same class as the contrast
    assert "pick another one" in " ".join(_texts(app)) and "rather than" not in " ".join(_texts(app))


# -- In Chinese (issue #20) ---------------------------------------------------------------------------

def test_the_page_in_chinese_with_two_methods_a_second_photo_and_a_contrast(lite0, coffee_image):
    """Every text of the page and its components in Chinese past the first screen: Grad-CAM and SmoothGrad
    (its settings), a second sample photo, the badges and their popover, then a contrast class."""
    from i18n_check import untranslated, visible_texts
    from test_i18n import class_names

    from core.explain import explain
    from core.images import resize_for_model
    from dashboard.services.badges import wait_for_scores
    from dashboard.state import image_digest

    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, at.exception
    at.multiselect(key="photo_samples").set_value(["cat", "coffee"]).run()
    at.multiselect(key="explain_methods").set_value(["gradcam", "smoothgrad"]).run()
    assert not at.exception, at.exception
    wait_for_scores()
    at.run()  # the badges, once scored
    assert not at.exception, at.exception
    left = untranslated(visible_texts(at), class_names(lite0))
    assert not left, "\n".join(left)

    # A translated value really shown: the current photo is the coffee, named and explained in Chinese.
    assert at.title[0].value == "解释一次预测"
    current = at.radio(key="photo_current")
    assert current.options == ["示例照片：猫", "示例照片：咖啡"] and current.value == image_digest(coffee_image)
    (exp,) = explain(lite0, resize_for_model(coffee_image, lite0.input_size)[None], "gradcam")
    label = lite0.label(exp.class_index)
    assert f"**预测：** {label}（" in " ".join(m.value for m in at.markdown)
    captions = [c for img in at.get("image") for c in img.captions]
    assert any(c.startswith(f"Grad-CAM · {label}（") and " · 层 " in c for c in captions), captions
    assert any(c.startswith("SmoothGrad · ") for c in captions), captions
    assert any(e.label == "SmoothGrad 设置" for e in at.sidebar.expander)
    assert any(s.label == "加噪副本数" for s in at.sidebar.slider)
    assert any("删除 " in b.value for b in at.markdown if "-badge[" in b.value)

    at.selectbox(key="explain_contrast").set_value(282).run()  # tiger cat
    assert not at.exception, at.exception
    captions = [c for img in at.get("image") for c in img.captions]
    assert any(c.startswith(f"Grad-CAM · {label}（") and "而不是 tiger cat" in c for c in captions), captions
    left = untranslated(visible_texts(at), class_names(lite0))
    assert not left, "\n".join(left)


def test_the_photo_is_added_to_a_class_of_a_dataset_as_a_new_version(lite0, tmp_path):
    """The feedback loop from the Explain page: the photo shown goes into a class of one of this session's
    datasets; saving makes a version holding it in train/<class>/, the dataset itself unchanged."""
    import json

    from core.data.sessions import session_dir

    session = "explain-add-photo"
    data = session_dir(session) / "upload-pets"
    for name, colour in (("cat", (200, 120, 40)), ("dog", (90, 90, 90))):
        for split in ("train", "val"):
            for i in range(3):
                (data / split / name).mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((16, 16, 3), colour, np.uint8)).save(data / split / name / f"{name}{i}.png")
    (data / "dataset.json").write_text(json.dumps({"id": "upload-pets", "source": "pets.zip"}))
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["session_id"] = session
    at.run()
    at.selectbox(key="explain_add_dataset").set_value("session:upload-pets").run()
    assert at.selectbox(key="explain_add_class").options == ["cat", "dog"]
    at.selectbox(key="explain_add_class").set_value("cat")
    at.button(key="explain_add_photo").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["image", "change"])
    assert list(table["change"]) == ["add as cat"]
    at.button(key="corrections_save").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any(s.value.startswith("Saved as ") and "(1 added)" in s.value for s in at.success)
    version = Path(at.session_state["corrections_saved_version"][2])
    added = list((version / "train" / "cat").glob("sample_cat-*.png"))
    assert len(added) == 1 and np.asarray(Image.open(added[0])).shape[2] == 3
    assert len(list((version / "train" / "cat").iterdir())) == 4
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # nothing added to the upload


def test_two_photos_go_to_a_per_class_uploads_labels_not_its_folder_names(lite0, cat_image, coffee_image):
    """The next path: two photos, each added to a class of an upload whose folders are not its labels (an
    upload per class keeps 'Siamese cat' in folder 00-a). The picker offers the labels, each photo is its own
    correction, and the version holds both under their classes' own folders."""
    import json

    from test_app_photos import digest

    from core.data.dataset import open_dataset
    from core.data.sessions import session_dir

    session = "explain-two-photos-labels"
    data = session_dir(session) / "upload-labelled"
    labels = {"00-a": "Siamese cat", "01-b": "coffee mug"}
    for c, folder in enumerate(labels):
        for i in range(3):
            (data / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 16, 3), (200 * c, 90, 10 * i), np.uint8)).save(data / folder / f"{i}.png")
    (data / "dataset.json").write_text(json.dumps({"id": "upload-labelled", "source": "per class",
                                                   "class_labels": labels}))
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["session_id"] = session
    at.run()
    at.multiselect(key="photo_samples").set_value(["cat", "coffee"]).run()
    for pixels, label in ((cat_image, "Siamese cat"), (coffee_image, "coffee mug")):
        at.radio(key="photo_current").set_value(digest(pixels)).run()  # the photo shown
        at.selectbox(key="explain_add_dataset").set_value("session:upload-labelled").run()
        assert at.selectbox(key="explain_add_class").options == ["Siamese cat", "coffee mug"]
        at.selectbox(key="explain_add_class").set_value(label).run()
        at.button(key="explain_add_photo").click().run()
        assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["image", "change"])
    assert list(table["change"]) == ["add as Siamese cat", "add as coffee mug"]
    at.button(key="corrections_save").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    version = Path(at.session_state["corrections_saved_version"][2])
    assert [p.name.split("-")[0] for p in sorted((version / "00-a").glob("sample_*.png"))] == ["sample_cat"]
    assert [p.name.split("-")[0] for p in sorted((version / "01-b").glob("sample_*.png"))] == ["sample_coffee"]
    assert open_dataset(version).counts() == {"Siamese cat": 4, "coffee mug": 4}  # no third class was made
