"""Many photos at once (core.explain.batch): every photo by every method into one zip (the Explain page's
"every photo at once") or a folder (the CLI), the same maps as one photo at a time, bounded overlays, names
that never collide, and the page that builds the zip in the background."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.explain import explain
from core.explain.batch import ZIP_SIDE, explain_to_zip, stem
from core.images import resize_for_model

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def test_every_photo_and_method_lands_in_one_zip_with_the_maps_explain_gives(lite0, cat_image, coffee_image,
                                                                             tmp_path):
    big = np.asarray(Image.fromarray(cat_image).resize((2400, 1800)))  # a phone photo's size
    photos = [("cat.jpg", cat_image), ("coffee.jpg", coffee_image), ("cat.png", big)]
    heard = []
    out = explain_to_zip(lite0, photos, ["gradcam", "saliency"], tmp_path / "all.zip",
                         progress=lambda f, text: heard.append((f, text)))
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        result = json.loads(archive.read("results.json"))
        rows = list(archive.read("results.csv").decode().splitlines())
        cat_map = np.load(io.BytesIO(archive.read("heatmaps/cat_gradcam.npy")))
        big_overlay = Image.open(io.BytesIO(archive.read("overlays/cat_gradcam_2.png")))
    # cat.jpg and cat.png share a stem: the second is numbered, nothing is overwritten.
    assert names == sorted(["results.csv", "results.json"] + [
        f"{folder}/{s}.{ext}" for s in ("cat_gradcam", "cat_saliency", "coffee_gradcam", "coffee_saliency",
                                        "cat_gradcam_2", "cat_saliency_2")
        for folder, ext in (("overlays", "png"), ("heatmaps", "npy"))])
    assert len(result["results"]) == 6 and len(rows) == 7  # the CSV's header and one row each
    assert {r["target"]["label"] for r in result["results"] if r["image"].startswith("cat")} == {"Egyptian cat"}
    (one,) = explain(lite0, resize_for_model(cat_image, lite0.input_size)[None], "gradcam")
    np.testing.assert_allclose(cat_map, one.heatmap, atol=1e-5)  # the same map as one photo at a time
    assert max(big_overlay.size) == ZIP_SIDE and big_overlay.size[0] / big_overlay.size[1] == pytest.approx(4 / 3)
    assert heard[-1] == (1.0, "Done") and heard[0][1] == "cat.jpg: gradcam (1 of 6)"


def test_a_failing_batch_leaves_no_zip(lite0, cat_image, tmp_path):
    from core.errors import GlasswingError

    with pytest.raises(GlasswingError, match="no-such-method"):
        explain_to_zip(lite0, [("cat.jpg", cat_image)], ["gradcam", "no-such-method"], tmp_path / "x.zip")
    assert not list(tmp_path.iterdir())


def test_names_are_numbered_only_when_taken():
    taken: set[str] = set()
    assert [stem(n, "gradcam", taken) for n in ("a/cat.jpg", "b/cat.jpg", "cat.png", "dog")] == \
        ["cat_gradcam", "cat_gradcam_2", "cat_gradcam_3", "dog_gradcam"]


def test_the_explain_page_explains_every_photo_into_a_zip_in_the_background(lite0, monkeypatch):
    from gates import bars_until, hold_at, run_until_done

    from core.data.sessions import session_dir
    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    tasks.clear("explain-zip")
    gate = hold_at(monkeypatch, "dashboard.views.explain.explain_to_zip", "coffee")
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.multiselect(key="photo_samples").set_value(["cat", "coffee"]).run()
    run_until_done(at)  # the two photos' heatmaps (background work too, at wait 0)
    assert not at.exception, at.exception
    at.button(key="explain_zip_go").click().run()
    bars = bars_until(at, lambda b: "coffee" in b)
    gate.set()
    assert any(b.startswith("Explaining 2 photos: coffee: gradcam (2 of 2)") for b in bars), bars
    run_until_done(at)
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    download = next(d for d in at.get("download_button") if d.proto.label.startswith("Download the zip"))
    assert download.proto.label.endswith("MB)")
    (archive,) = (session_dir(at.session_state["session_id"]) / "exports").glob("explain-*.zip")
    with zipfile.ZipFile(archive) as z:
        assert sorted(n for n in z.namelist() if n.startswith("overlays/")) == \
            ["overlays/cat_gradcam.png", "overlays/coffee_gradcam.png"]
    tasks.clear("explain-zip")


def test_a_contrast_explains_each_photo_own_answer_against_it(lite0, cat_image, coffee_image, tmp_path):
    """'Top prediction' compared with tiger cat: each photo's own top class, against tiger cat (the page's
    contrast is built on the current photo's answer; the batch must not apply the cat's to the coffee)."""
    tiger_cat = 282
    out = explain_to_zip(lite0, [("cat.jpg", cat_image), ("coffee.jpg", coffee_image)], ["gradcam"],
                         tmp_path / "contrast.zip", contrast=tiger_cat)
    with zipfile.ZipFile(out) as archive:
        rows = json.loads(archive.read("results.json"))["results"]
    for row, pixels in zip(rows, (cat_image, coffee_image), strict=True):
        own = int(np.argmax(lite0.predict(resize_for_model(pixels, lite0.input_size)[None])[0]))
        assert row["target"]["index"] == own and row["contrast"] == {"index": tiger_cat, "label": "tiger cat"}


def test_too_many_explanations_at_once_are_refused_in_one_sentence(lite0, cat_image, tmp_path):
    from core.errors import GlasswingError
    from core.explain.batch import MAX_ITEMS

    photos = [(f"p{i}.png", cat_image) for i in range(MAX_ITEMS // 2 + 1)]
    with pytest.raises(GlasswingError, match=r"At most \d+ explanations at once"):
        explain_to_zip(lite0, photos, ["gradcam", "saliency"], tmp_path / "big.zip")
    assert not list(tmp_path.iterdir())
