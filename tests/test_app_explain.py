"""The Explain page under Streamlit's AppTest: a sample or an uploaded photo gives predictions and a heatmap."""

from __future__ import annotations

import io
from pathlib import Path

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


def _captions(at) -> list[str]:
    captions = [c for img in at.get("image") for c in img.captions]
    return captions + [m.value for m in at.markdown] + [c.value for c in at.caption]


def test_default_sample_is_explained(app):
    text = " ".join(_captions(app))
    assert "Prediction:** Egyptian cat" in text
    assert "Grad-CAM · Egyptian cat" in text
    assert not app.error


def test_switching_method_and_class_shows_new_explanations(app):
    app.multiselect(key="explain_methods").set_value(["gradcam", "saliency"]).run()
    assert not app.exception, app.exception
    text = " ".join(_captions(app))
    assert "Grad-CAM · Egyptian cat" in text and "Saliency" in text
    app.selectbox(key="explain_target").set_value(281).run()  # tabby
    assert "Grad-CAM · tabby" in " ".join(_captions(app))


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
    text = " ".join(_captions(app))
    if not re.search(r"deletion \d", text):  # not scored yet (earlier tests may have scored it)
        assert "Scoring this heatmap" in text, text
        wait_for_scores()
        app.run()  # what the placeholder's timer does once the score is ready
        assert not app.exception, app.exception
        text = " ".join(_captions(app))
    deletion = re.search(r"deletion (\d\.\d\d)", text)
    insertion = re.search(r"insertion (\d\.\d\d)", text)
    assert deletion and insertion, text
    # Independent recomputation: the same Grad-CAM heatmap scored by core directly.
    pixels = load_sample("cat")
    (exp,) = explain(lite0, resize_for_model(pixels, lite0.input_size)[None], "gradcam")
    curves = score_heatmap(lite0, pixels, exp.heatmap, exp.class_index)
    assert float(deletion.group(1)) == pytest.approx(curves.deletion_auc, abs=0.011)
    assert float(insertion.group(1)) == pytest.approx(curves.insertion_auc, abs=0.011)
    assert np.isfinite(curves.deletion_auc) and curves.deletion_auc < curves.insertion_auc


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
