"""The session's photos under AppTest: several photos on every page that takes photos, and the same photos
(source, samples, uploads, the current one) on Explain, Trust, Attack and Architecture."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
PHOTO_PAGES = ("explain", "trust", "attack", "architecture")


def open_page(at: AppTest, url_path: str) -> AppTest:
    """Go to a callable st.navigation page, as the sidebar link does (AppTest.switch_page only finds files)."""
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(url_path)
    at.run()
    assert not at.exception, at.exception
    return at


def top_label(loaded, pixels: np.ndarray) -> str:
    """The model's top class for a photo, computed here, independently of the page."""
    from core.images import resize_for_model

    probs = loaded.predict(resize_for_model(pixels, loaded.input_size)[None])[0]
    return loaded.top_k(probs, 1)[0]["label"]


def digest(pixels: np.ndarray) -> str:
    from dashboard.state import image_digest

    return image_digest(pixels)


def shows(at: AppTest, page: str, name: str, label: str) -> bool:
    """Whether the page works on the photo ``name`` (whose top class is ``label``)."""
    captions = [c for img in at.get("image") for c in img.captions]
    text = " ".join([m.value for m in at.markdown] + captions)
    return {"explain": name in captions and f"Prediction:** {label}" in text,
            "trust": "Press **Rank the methods**" in " ".join(i.value for i in at.info),
            "attack": f"**Before:** {label} (" in text,
            "architecture": f"for *{name}*" in text}[page]


def touch_a_widget(at: AppTest, page: str) -> None:
    """Change something unrelated to the photos, as a person does next."""
    if page == "explain":
        at.slider(key="explain_opacity").set_value(0.6)
    elif page == "trust":
        at.sidebar.radio(key="trust_view").set_value("Sanity check")
    elif page == "attack":
        at.selectbox(key="attack_target").set_value(968)
    else:
        at.slider(key="architecture_fm_top").set_value(8)
    at.run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("page", PHOTO_PAGES)
def test_two_samples_then_any_widget(app, page, lite0, cat_image, coffee_image):
    open_page(app, page)
    app.multiselect(key="photo_samples").set_value(["cat", "coffee"]).run()
    assert not app.exception, app.exception
    current = app.radio(key="photo_current")
    assert current.options == ["sample: cat", "sample: coffee"]
    assert current.value == digest(coffee_image), "the photo just picked is the one shown"
    assert shows(app, page, "sample: coffee", top_label(lite0, coffee_image))
    current.set_value(digest(cat_image)).run()  # back to the first photo
    assert not app.exception, app.exception
    touch_a_widget(app, page)
    assert app.radio(key="photo_current").value == digest(cat_image)
    if page != "trust":  # the touched widget switched Trust to its sanity view
        assert shows(app, page, "sample: cat", "Egyptian cat")


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_uploaded_photos_follow_the_user_to_every_page(app, lite0, cat_image, coffee_image):
    app.radio(key="photo_source").set_value("Upload").run()
    app.get("file_uploader")[0].set_value([("my_cup.png", _png(coffee_image), "image/png"),
                                           ("my_cat.png", _png(cat_image), "image/png")]).run()
    assert not app.exception, app.exception
    assert app.multiselect(key="photo_uploads").options == ["my_cup.png", "my_cat.png"]
    app.radio(key="photo_current").set_value(digest(coffee_image)).run()
    label = top_label(lite0, coffee_image)
    assert shows(app, "explain", "my_cup.png", label)
    for page in ("trust", "data", "attack", "architecture", "explain"):  # Data has no photos: they wait
        open_page(app, page)
        if page == "data":
            continue
        assert app.radio(key="photo_source").value == "Upload", page
        assert app.multiselect(key="photo_uploads").value == [digest(coffee_image), digest(cat_image)], page
        assert app.radio(key="photo_current").value == digest(coffee_image), page
        assert shows(app, page, "my_cup.png", label), page
        assert not app.error, [e.value for e in app.error]
    # Choosing the other photo on Attack makes it the current photo on Explain too.
    open_page(app, "attack")
    app.radio(key="photo_current").set_value(digest(cat_image)).run()
    open_page(app, "explain")
    assert shows(app, "explain", "my_cat.png", "Egyptian cat")


def test_a_file_taken_out_of_the_uploader_leaves_the_photos(app, cat_image, coffee_image):
    app.radio(key="photo_source").set_value("Upload").run()
    uploader = app.get("file_uploader")[0]
    uploader.set_value([("my_cup.png", _png(coffee_image), "image/png"),
                        ("my_cat.png", _png(cat_image), "image/png")]).run()
    app.get("file_uploader")[0].set_value([("my_cat.png", _png(cat_image), "image/png")]).run()
    assert not app.exception, app.exception
    assert app.multiselect(key="photo_uploads").options == ["my_cat.png"]
    assert not app.get("radio") or "photo_current" not in [r.key for r in app.radio]
    captions = [c for img in app.get("image") for c in img.captions]
    assert "my_cat.png" in captions and "my_cup.png" not in captions


def test_a_bad_upload_keeps_its_sentence_on_every_rerun(app, cat_image):
    app.radio(key="photo_source").set_value("Upload").run()
    app.get("file_uploader")[0].set_value([("broken.jpg", b"\xff\xd8\xff\xe0garbage", "image/jpeg"),
                                           ("my_cat.png", _png(cat_image), "image/png")]).run()
    first = [e.value for e in app.error]
    assert len(first) == 1 and first[0].startswith("broken.jpg"), first
    app.slider(key="explain_opacity").set_value(0.3).run()  # a rerun: the file is not decoded again
    assert [e.value for e in app.error] == first
    assert "my_cat.png" in [c for img in app.get("image") for c in img.captions]


def test_a_camera_shot_is_the_photo_on_every_page_until_cleared(app, coffee_image):
    buf = io.BytesIO()
    Image.fromarray(coffee_image).save(buf, format="JPEG", quality=95)
    app.radio(key="photo_source").set_value("Camera").run()
    assert "Choose a sample photo" in " ".join(i.value for i in app.info)
    shot = ("camera.jpg", buf.getvalue(), "image/jpeg")
    app.get("camera_input")[0].set_value(shot).run()
    assert not app.exception, app.exception
    assert "camera.jpg" in [c for img in app.get("image") for c in img.captions]
    app.get("camera_input")[0].set_value(None).run()  # the person clears the photo
    assert "Choose a sample photo" in " ".join(i.value for i in app.info)
    app.get("camera_input")[0].set_value(shot).run()  # and takes it again
    open_page(app, "attack")  # the camera widget starts empty on another page: the shot is kept
    assert app.radio(key="photo_source").value == "Camera"
    assert "**Before:** " in " ".join(m.value for m in app.markdown)


def _reload(at: AppTest, page: str = "explain") -> AppTest:
    """The same browser tab reloaded: a new Streamlit session on the same signed address."""
    again = AppTest.from_file(APP, default_timeout=300)
    again.query_params["session"] = at.query_params["session"]
    again.run()
    assert not again.exception, again.exception
    return open_page(again, page) if page != "explain" else again


def test_a_reload_keeps_the_photos_and_the_current_one(app, lite0, cat_image, coffee_image):
    app.radio(key="photo_source").set_value("Upload").run()
    app.get("file_uploader")[0].set_value([("my_cup.png", _png(coffee_image), "image/png"),
                                           ("my_cat.png", _png(cat_image), "image/png")]).run()
    app.radio(key="photo_current").set_value(digest(coffee_image)).run()
    open_page(app, "attack")
    again = _reload(app, "trust")
    assert again.session_state["session_id"] == app.session_state["session_id"]
    assert again.radio(key="photo_source").value == "Upload"
    assert again.multiselect(key="photo_uploads").value == [digest(coffee_image), digest(cat_image)]
    assert again.radio(key="photo_current").value == digest(coffee_image)
    assert shows(again, "trust", "my_cup.png", top_label(lite0, coffee_image))
    # Back to samples, two of them: a second reload finds those.
    again.radio(key="photo_source").set_value("Sample photos").run()
    again.multiselect(key="photo_samples").set_value(["cat", "coffee"]).run()
    third = _reload(again)
    assert third.radio(key="photo_source").value == "Sample photos"
    assert third.multiselect(key="photo_samples").value == ["cat", "coffee"]
    current = third.radio(key="photo_current")
    assert current.options[current.index] == "sample: coffee"


def test_a_damaged_kept_photo_is_skipped_on_reload(app, cat_image, coffee_image):
    from core.data.sessions import session_dir

    app.radio(key="photo_source").set_value("Upload").run()
    app.get("file_uploader")[0].set_value([("my_cup.png", _png(coffee_image), "image/png"),
                                           ("my_cat.png", _png(cat_image), "image/png")]).run()
    folder = session_dir(app.session_state["session_id"]) / "photos"
    (folder / digest(coffee_image)).write_bytes(b"\x89PNG\r\n\x1a\n not a png any more")
    again = _reload(app)
    assert not again.error, [e.value for e in again.error]
    assert again.multiselect(key="photo_uploads").value == [digest(cat_image)]
    (folder / "choice.json").write_text("{not json")
    third = _reload(app)
    assert not third.error and third.radio(key="photo_source").value == "Sample photos"


# ---- the Architecture page: its photo is the session's, its feature maps are that photo's -----------------

def _fm_table(at: AppTest) -> list[tuple[int, float]]:
    (frame,) = [df.value for df in at.dataframe if "mean activation" in df.value.columns]
    return list(zip(frame["channel"], frame["mean activation"], strict=True))


def _top_channels(loaded, pixels: np.ndarray, layer: str, top: int) -> list[tuple[int, float]]:
    """The layer's most active channels for a photo, from a Keras sub-model built here (not core's)."""
    import keras

    from core.images import resize_for_model

    sub = keras.Model(loaded.model.inputs[0], loaded.model.get_layer(layer).output)
    acts = np.asarray(sub(resize_for_model(pixels, loaded.input_size)[None], training=False))[0]
    means = acts.mean(axis=(0, 1))
    return [(int(c), float(means[c])) for c in np.argsort(-means, kind="stable")[:top]]


def _assert_maps_of(at: AppTest, loaded, pixels: np.ndarray, name: str, layer: str, top: int) -> None:
    assert any(m.value.startswith(f"**{layer}**:") and m.value.endswith(f"for *{name}*") for m in at.markdown)
    shown, expected = _fm_table(at), _top_channels(loaded, pixels, layer, top)
    assert [c for c, _ in shown] == [c for c, _ in expected], (shown, expected)
    assert np.allclose([m for _, m in shown], [m for _, m in expected], rtol=1e-3, atol=1e-3)


def _top_level_layer(at: AppTest, loaded) -> str:
    """A layer of the model's own graph among the page's choices, other than the one shown first."""
    picker = at.selectbox(key="architecture_fm_layer")
    own = {la.name for la in loaded.model.layers}
    return next(n for n in reversed(picker.options) if n in own and n != picker.value)


def test_two_uploaded_photos_on_architecture_show_the_second_ones_maps(app, lite0, cat_image, coffee_image):
    open_page(app, "architecture")
    app.radio(key="photo_source").set_value("Upload").run()
    app.get("file_uploader")[0].set_value([("my_cup.png", _png(coffee_image), "image/png"),
                                           ("my_cat.png", _png(cat_image), "image/png")]).run()
    assert not app.exception, app.exception
    app.radio(key="photo_current").set_value(digest(cat_image)).run()  # the second photo
    assert not app.exception and not app.error, app.exception
    layer = _top_level_layer(app, lite0)
    app.selectbox(key="architecture_fm_layer").set_value(layer).run()
    touch_a_widget(app, "architecture")  # 8 channels
    rf = app.selectbox(key="architecture_rf_layer")
    rf.set_value(rf.options[0]).run()  # and another tab's widget
    assert not app.exception and not app.error, app.exception
    assert app.radio(key="photo_current").value == digest(cat_image)
    _assert_maps_of(app, lite0, cat_image, "my_cat.png", layer, 8)
    assert _fm_table(app) != _top_channels(lite0, coffee_image, layer, 8)  # the photos' maps differ
    app.radio(key="photo_current").set_value(digest(coffee_image)).run()  # and back to the first
    _assert_maps_of(app, lite0, coffee_image, "my_cup.png", layer, 8)


def test_a_photo_uploaded_on_explain_is_the_architecture_pages_photo(app, lite0, coffee_image):
    app.radio(key="photo_source").set_value("Upload").run()
    app.get("file_uploader")[0].set_value([("my_cup.png", _png(coffee_image), "image/png")]).run()
    assert shows(app, "explain", "my_cup.png", top_label(lite0, coffee_image))
    open_page(app, "architecture")
    assert app.radio(key="photo_source").value == "Upload"
    assert app.multiselect(key="photo_uploads").value == [digest(coffee_image)]
    layer = _top_level_layer(app, lite0)
    app.selectbox(key="architecture_fm_layer").set_value(layer).run()
    _assert_maps_of(app, lite0, coffee_image, "my_cup.png", layer, 16)


def test_a_reload_during_a_gradient_ascent_finds_its_bar_then_its_result(app, monkeypatch):
    """The tab is reloaded while the work runs: the new page follows the same task, then shows the image."""
    import threading

    from dashboard.services import tasks

    monkeypatch.setenv("GLASSWING_TASK_WAIT_SECONDS", "0")
    gate, module = threading.Event(), "dashboard.views.architecture_inside"
    real = __import__(module, fromlist=["maximize_activation"]).maximize_activation
    calls = []

    def gated(*args, progress=None, **kwargs):
        calls.append(args)

        def hold(fraction, text):  # the first step's report waits for the test
            progress(fraction, text)
            if text.startswith("Step 1 "):
                gate.wait(60)
        return real(*args, progress=hold, **kwargs)

    monkeypatch.setattr(f"{module}.maximize_activation", gated)
    tasks.clear("filter-image")
    open_page(app, "architecture")
    layer = app.selectbox(key="architecture_filter_layer").value
    app.number_input(key="architecture_filter_channel").set_value(3)
    app.slider(key="architecture_filter_steps").set_value(8)
    app.select_slider(key="architecture_filter_size").set_value(64)
    app.button(key="FormSubmitter:architecture_filter_form-Visualise the channel").click().run()
    title = f"Gradient ascent on channel 3 of {layer}: Step 1 of 8"

    def ascent_bars(at):
        return [b.proto.text for b in at.get("progress") if b.proto.text.startswith("Gradient ascent")]

    for _ in range(240):
        if any(b.startswith(title) for b in ascent_bars(app)):
            break
        threading.Event().wait(0.25)
        app.run()
    assert any(b.startswith(title) for b in ascent_bars(app)), ascent_bars(app)
    again = _reload(app, "architecture")
    assert again.session_state["session_id"] == app.session_state["session_id"]
    assert any(b.startswith(title) for b in ascent_bars(again)), ascent_bars(again)
    assert (again.number_input(key="architecture_filter_channel").value,
            again.slider(key="architecture_filter_steps").value) == (3, 8)  # the form shows the request
    gate.set()
    for _ in range(240):
        again.run()
        if not ascent_bars(again):
            break
        threading.Event().wait(0.25)
    assert not again.exception and not again.error, again.exception
    assert f"{layer} · channel 3" in [c for img in again.get("image") for c in img.captions]
    assert len(calls) == 1, "the reloaded page followed the running task, it did not start another"
    tasks.clear("filter-image")


def test_a_bad_upload_is_named_in_the_session_language(lite0, cat_image, monkeypatch):
    """Core's sentence for a corrupt photo, in Chinese when the session is (its file name kept)."""
    monkeypatch.setenv("GLASSWING_LANG", "zh")  # AppTest reads option labels outside the run: the server's
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = "zh"
    open_page(at, "explain")
    at.radio(key="photo_source").set_value("Upload").run()
    at.get("file_uploader")[0].set_value([("broken.jpg", b"\xff\xd8\xff\xe0garbage", "image/jpeg"),
                                          ("my_cat.png", _png(cat_image), "image/png")]).run()
    assert not at.exception, at.exception
    # Pillow's own reason stays as Pillow says it; the sentence around it is Chinese.
    assert [e.value for e in at.error] == ["broken.jpg：无法作为图像打开（Truncated File Read）。"]
    assert "my_cat.png" in [c for img in at.get("image") for c in img.captions]
