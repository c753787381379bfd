"""The Data page under Streamlit's AppTest: built-in shapes, its report, a live augmentation grid,
and a hostile upload that is refused with a specific message while the page keeps working."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent

# The page on its own (the explain page, which app.py opens first, would load a model for nothing).
PAGE = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from dashboard import state
from dashboard.views import data
state.init_session()
data.main()
"""


@pytest.fixture
def app():
    at = AppTest.from_string(PAGE, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [s.value for s in at.subheader]
    return "\n".join(str(p) for p in parts)


def _grid(at) -> list:
    """The augmentation rows: image lists whose captions start with 'original' and go on with views."""
    return [img for img in at.get("image") if img.captions and img.captions[0] == "original"]


def _png(colour, size=(24, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_shapes_report_examples_and_augmentation_grid(app):
    app.selectbox(key="data_dataset").set_value("builtin:shapes").run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Usable images"] == "800" and metrics["Classes"] == "4"
    text = _texts(app)
    for name in ("circle", "square", "triangle", "star"):
        assert f"**{name}** · 200 images" in text
    rows = _grid(app)
    assert len(rows) == 2  # two images by default, each: the original and five views
    assert rows[0].captions == ["original", "view 1", "view 2", "view 3", "view 4", "view 5"]
    # The spec is carried to the Train page, and shown as a snippet to copy.
    assert app.session_state["train_dataset"].endswith(os.path.join("builtin", "shapes"))
    assert app.session_state["train_augment"]["flip"] == "none"  # the default 'light' preset never flips
    assert app.session_state["train_augment"]["rotation"] == 10.0
    codes = [c.value for c in app.code]
    assert any("--augment light" in c and "--data shapes" in c for c in codes)
    assert any("keras.layers.RandomRotation" in c for c in codes)


def test_slider_changes_the_grid_and_the_carried_spec(app):
    before = [img.value for img in _grid(app)]
    app.slider(key="data_aug_rotation").set_value(90.0).run()
    assert not app.exception, app.exception
    after = [img.value for img in _grid(app)]
    assert len(after) == len(before)
    assert after[0][0] == before[0][0]  # the original is untouched
    assert after[0][1:] != before[0][1:]  # every view is redrawn
    assert app.session_state["train_augment"]["rotation"] == 90.0
    assert app.selectbox(key="data_aug_preset").value == "custom"
    assert any("augment.json" in c.value for c in app.code)  # a custom spec goes through a file

    app.button(key="data_aug_reseed").click().run()  # same settings, new random draw
    reseeded = [img.value for img in _grid(app)]
    assert reseeded[0][1:] != after[0][1:] and reseeded[0][0] == after[0][0]

    app.selectbox(key="data_aug_preset").set_value("none").run()
    assert app.slider(key="data_aug_rotation").value == 0.0
    identity = _grid(app)[0].value
    assert len(set(identity)) == 1  # no augmentation: every view is the original image
    assert app.session_state["train_augment"] == {**app.session_state["train_augment"], "rotation": 0.0}


def test_hostile_zip_is_refused_specifically_and_the_page_keeps_working(app, tmp_path):
    data_root = Path(os.environ["GLASSWING_DATA"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../escaped.png", _png((255, 0, 0)))
        zf.writestr("/abs-escaped.png", _png((0, 255, 0)))
        for i in range(3):
            zf.writestr(f"pets/cats/c{i}.png", _png((200, 20 * i, 0)))
            zf.writestr(f"pets/dogs/d{i}.png", _png((0, 20 * i, 200)))
    app.file_uploader(key="data_zip").set_value(("evil.zip", buf.getvalue(), "application/zip"))
    app.button(key="data_zip_submit").click().run()
    assert not app.exception, app.exception
    errors = " ".join(e.value for e in app.error)
    assert "2 archive entries were refused" in errors
    assert "'..' in a path would write outside the dataset folder" in errors
    assert "absolute paths are not allowed in an archive" in errors
    # Nothing escaped: no file of that name anywhere above or beside the session folders.
    assert not list(data_root.parent.rglob("*escaped.png")) and not Path("/abs-escaped.png").exists()
    # The good part of the archive is selected and usable.
    assert app.selectbox(key="data_dataset").value.startswith("session:upload-")
    assert {m.label: m.value for m in app.metric}["Classes"] == "2"
    assert "/sessions/" in app.session_state["train_dataset"]
    assert len(_grid(app)) == 2

    # Not a zip at all: one specific sentence, no dataset, and the built-ins still work.
    app.file_uploader(key="data_zip").set_value(("notes.zip", b"this is not a zip", "application/zip"))
    app.button(key="data_zip_submit").click().run()
    assert not app.exception, app.exception
    assert any("not a readable zip archive" in e.value for e in app.error)
    app.selectbox(key="data_dataset").set_value("builtin:shapes").run()
    assert not app.exception and not app.error
    assert len(_grid(app)) == 2


def test_images_per_class_upload_reports_bad_files(app):
    app.text_input(key="data_class_name_0").set_value("red")
    app.text_input(key="data_class_name_1").set_value("blue")
    app.file_uploader(key="data_class_files_0").set_value(
        [(f"r{i}.png", _png((220, 10, 10)), "image/png") for i in range(3)])
    app.file_uploader(key="data_class_files_1").set_value(
        [(f"b{i}.png", _png((10, 10, 220 - i)), "image/png") for i in range(3)]
        + [("broken.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")])
    app.button(key="data_class_submit").click().run()
    assert not app.exception, app.exception
    assert app.selectbox(key="data_dataset").value.startswith("session:classes-")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Classes"] == "2" and metrics["Usable images"] == "6" and metrics["Skipped files"] == "1"
    assert any("exactly duplicate" in w.value for w in app.warning)  # the three red squares are identical
    skipped = [d.value for d in app.dataframe if "reason" in d.value.columns]
    assert skipped and "broken.png" in " ".join(skipped[0]["file"])


def test_class_upload_without_names_is_a_clear_error(app):
    app.file_uploader(key="data_class_files_0").set_value([("a.png", _png((1, 2, 3)), "image/png")])
    app.button(key="data_class_submit").click().run()
    assert not app.exception, app.exception
    assert any("Class 1 has images but no name" in e.value for e in app.error)
    assert len(_grid(app)) == 2  # the chosen dataset is still shown


def test_augmented_views_are_deterministic_under_a_seed():
    from core.data.augment import AugmentSpec, augment
    from core.images import load_image, resize_for_model
    from dashboard.views.data_augment import augmented_views

    with Image.new("RGB", (40, 30), (0, 0, 0)) as img:
        pixels = np.zeros((30, 40, 3), np.uint8)
        pixels[5:20, 10:30] = (250, 200, 0)
        img = Image.fromarray(pixels)
    path = Path(os.environ["GLASSWING_DATA"]) / "seed-test.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    spec = AugmentSpec(rotation=40.0, brightness=0.3)
    originals, views = augmented_views((str(path),), (0,), spec.to_json(), 7, 4, 32)
    # The oracle: core's augment on the same batch with the same seed (what training applies).
    expected = augment(np.repeat(resize_for_model(load_image(path), (32, 32))[None], 4, 0), spec, seed=7)
    np.testing.assert_array_equal(views[0], np.clip(np.rint(expected), 0, 255).astype(np.uint8))
    assert originals.shape == (1, 32, 32, 3) and views.shape == (1, 4, 32, 32, 3)


def test_classroom_list_limits_the_datasets_offered(monkeypatch):
    from dashboard import state

    monkeypatch.setenv("GLASSWING_DATASETS", "faces")
    state.classroom.clear()
    try:
        at = AppTest.from_string(PAGE, default_timeout=180)
        at.run()
        assert not at.exception, at.exception
        assert at.selectbox(key="data_dataset").options == ["Faces vs non-faces · built-in"]
        assert {m.label: m.value for m in at.metric}["Usable images"] == "200"
        assert len(_grid(at)) == 2
    finally:
        state.classroom.clear()


def test_digit_classes_are_labelled_and_warned_about_flips(app):
    import json

    for i, (name, colour) in enumerate((("2", (200, 30, 30)), ("7", (30, 30, 200)))):
        app.text_input(key=f"data_class_name_{i}").set_value(name)
        app.file_uploader(key=f"data_class_files_{i}").set_value(
            [(f"{name}_{k}.png", _png(tuple(min(c + 9 * k, 255) for c in colour)), "image/png") for k in range(3)])
    app.button(key="data_class_submit").click().run()
    assert not app.exception, app.exception
    assert app.selectbox(key="data_aug_class").value == "2"  # the new dataset's first class
    counts = json.loads(app.get("plotly_chart")[0].proto.spec)["layout"]["xaxis"]
    assert counts["type"] == "category" and counts["tickvals"] == ["2", "7"]  # labels, not numbers
    assert app.selectbox(key="data_aug_preset").value == "light"
    assert any("no flips" in c.value for c in app.caption)  # the preset says what it suits
    assert not any("digits or letters" in w.value for w in app.warning)
    app.selectbox(key="data_aug_preset").set_value("strong").run()
    assert app.session_state["train_augment"]["flip"] == "horizontal"
    assert any("These classes are digits or letters" in w.value for w in app.warning)
    app.selectbox(key="data_aug_flip").set_value("none").run()
    assert not any("digits or letters" in w.value for w in app.warning)


# The page in Chinese: the language comes from the address, as in the app.
PAGE_ZH = PAGE.replace("state.init_session()\n", "state.init_session()\nfrom dashboard.i18n import init_language\n"
                                                 "init_language()\n")
# Strings the Data page shows from shared components (the session upload's name and note come from
# dashboard.components.datasets): not this page's to translate.
SHARED = ("Your upload:", "Uploaded in this browser session")


def _english(at, names=()) -> list[str]:
    from i18n_check import untranslated, visible_texts

    from core.data.shapes import SHAPE_CLASSES

    texts = [t for t in visible_texts(at) if not any(s in t for s in SHARED)]
    return untranslated(texts, [*SHAPE_CLASSES, "face", "non-face", *names])


def test_the_page_in_chinese_report_presets_uploads_and_refusals(monkeypatch):
    # AppTest formats a selectbox's value outside the script run, where no session says 'zh': the server's
    # default says it, so that the widgets' format functions translate there too.
    monkeypatch.setenv("GLASSWING_LANG", "zh")
    at = AppTest.from_string(PAGE_ZH, default_timeout=180)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, at.exception
    assert not _english(at), "\n".join(_english(at))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["可用图像"] == "800" and metrics["类别数"] == "4"
    assert "合成形状" in [s.value for s in at.subheader]
    assert any("不翻转" in c.value for c in at.caption)  # the 'light' preset's note
    assert [o for o in at.selectbox(key="data_aug_preset").options] == ["无", "轻度", "强", "自定义"]
    rows = [img for img in at.get("image") if img.captions and img.captions[0] == "原图"]
    assert len(rows) == 2 and rows[0].captions[1] == "样例 1"

    # Another dataset and the strong preset: its note, and the flip's warning beside the views.
    at.selectbox(key="data_dataset").set_value("builtin:faces").run()
    at.selectbox(key="data_aug_preset").set_value("strong").run()
    assert not at.exception, at.exception
    assert "人脸与非人脸" in [s.value for s in at.subheader]
    assert at.session_state["train_augment"]["flip"] == "horizontal"
    assert any("镜像" in i.value for i in at.info)
    assert not _english(at), "\n".join(_english(at))

    # Digit classes with a broken file and identical images: the report's findings and skipped files.
    for i, (name, colour) in enumerate((("2", (200, 30, 30)), ("7", (30, 30, 200)))):
        at.text_input(key=f"data_class_name_{i}").set_value(name)
        files = [(f"{name}_{k}.png", _png(colour), "image/png") for k in range(3)]
        at.file_uploader(key=f"data_class_files_{i}").set_value(
            files + ([("broken.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")] if i else []))
    at.button(key="data_class_submit").click().run()
    assert not at.exception, at.exception
    assert any("已导入 2 个类别" in s.value for s in at.success)
    assert any("与另一个文件完全相同" in w.value for w in at.warning)  # a finding of core's report
    assert any("这些类别是数字或字母" in w.value for w in at.warning)  # 'strong' flips, and these are digits
    skipped = [d.value for d in at.dataframe if "原因" in d.value.columns]
    assert skipped and "broken.png" in " ".join(skipped[0]["文件"])
    assert not _english(at), "\n".join(_english(at))  # digits are numbers to the check

    # An archive with unsafe entries: the refusal in Chinese, the rest imported.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../escaped.png", _png((255, 0, 0)))
        for i in range(3):
            zf.writestr(f"pets/cats/c{i}.png", _png((200, 20 * i, 0)))
            zf.writestr(f"pets/dogs/d{i}.png", _png((0, 20 * i, 200)))
    at.file_uploader(key="data_zip").set_value(("pets.zip", buf.getvalue(), "application/zip"))
    at.button(key="data_zip_submit").click().run()
    assert not at.exception, at.exception
    assert any("压缩包中有 1 个条目被拒绝" in e.value and "不安全的路径" in e.value for e in at.error)
    assert {m.label: m.value for m in at.metric}["类别数"] == "2"
    assert not _english(at, ["cats", "dogs"]), "\n".join(_english(at, ["cats", "dogs"]))
    # Not a zip at all (the import runs in the background): core's sentence in Chinese too.
    at.file_uploader(key="data_zip").set_value(("notes.zip", b"this is not a zip", "application/zip"))
    at.button(key="data_zip_submit").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "notes.zip：上传的文件不是可读取的 zip 压缩包（只支持 .zip：请把各类别的文件夹压缩成 zip）。"]


def test_import_zip_pressed_without_a_file_says_what_to_do(app):
    """Pressed before a file is chosen (or before its upload finished), Import zip says what to do instead
    of doing nothing."""
    app.button(key="data_zip_submit").click().run()
    assert not app.exception, app.exception
    assert [w.value for w in app.warning if "zip" in w.value] == [
        "Choose a .zip file first and wait until its name shows above, then press Import zip."]


def test_a_dataset_version_is_offered_with_what_changed_and_by_whom(tmp_path):
    from core.data.versions import Change, make_version

    pool = tmp_path / "fruit"
    for c, name in enumerate(("apple", "pear")):
        for i in range(4):
            (pool / name).mkdir(parents=True, exist_ok=True)
            (pool / name / f"{name}{i}.png").write_bytes(_png((200 * (1 - c), 150, 40 * i)))
    version = make_version(pool, [Change("relabel", str(pool / "apple" / "apple3.png"), "pear")],
                           owner="data-version-session")
    at = AppTest.from_string(PAGE, default_timeout=180)
    at.session_state["session_id"] = "data-version-session"
    at.run()
    picker = at.sidebar.selectbox(key="data_dataset")
    assert "Version: fruit v1 (1 relabelled)" in picker.options, picker.options
    picker.set_value(f"version:{version.id}").run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any(e.label == "What changed in version 1, made by this browser session" for e in at.expander)
    table = next(d.value for d in at.dataframe if "was" in d.value.columns)
    assert table.to_dict("records") == [{"image": "apple3.png", "change": "relabelled", "was": "apple",
                                         "now": "pear"}]
    assert "Made from" in _texts(at) and "that dataset's files were not changed" in _texts(at)
    other = AppTest.from_string(PAGE, default_timeout=180)
    other.session_state["session_id"] = "another-data-session"
    other.run()  # another session does not see this session's version
    assert not [o for o in other.sidebar.selectbox(key="data_dataset").options if "fruit" in o]


def test_a_class_is_started_from_camera_shots_and_saved_as_a_version(tmp_path):
    """Teachable Machine's loop: with the camera on, two shots start a class 'mug' in this session's upload;
    saving makes a version with the new class folder, and the upload itself is unchanged."""
    import json

    from core.data.sessions import session_dir

    session = "data-camera-session"
    pool = session_dir(session) / "upload-cups"
    for name, colour in (("cup", (200, 60, 40)), ("glass", (60, 60, 200))):
        for i in range(3):
            (pool / name).mkdir(parents=True, exist_ok=True)
            (pool / name / f"{name}{i}.png").write_bytes(_png((colour[0] - 20 * i, colour[1], colour[2])))
    (pool / "dataset.json").write_text(json.dumps({"id": "upload-cups", "source": "cups.zip"}))
    before = sorted(p.relative_to(pool) for p in pool.rglob("*"))
    at = AppTest.from_string(PAGE, default_timeout=180)
    at.session_state["session_id"] = session
    at.run()
    at.sidebar.selectbox(key="data_dataset").set_value("session:upload-cups").run()
    assert not at.exception, at.exception
    at.toggle(key="data_camera_on").set_value(True).run()
    at.selectbox(key="data_camera_class").set_value("a new class ...").run()
    at.text_input(key="data_camera_new").set_value("mug").run()
    for shade in (90, 140):
        buf = io.BytesIO()
        Image.fromarray(np.full((20, 20, 3), (shade, 200, 90), np.uint8)).save(buf, "JPEG")
        at.camera_input(key="data_camera").set_value((f"shot{shade}.jpg", buf.getvalue(), "image/jpeg")).run()
        at.button(key="data_camera_add").click().run()
        assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["image", "change"])
    assert list(table["change"]) == ["add as mug", "add as mug"]
    at.button(key="corrections_save").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    version = Path(at.session_state["corrections_saved_version"][2])
    assert len(list((version / "mug").glob("camera-*.png"))) == 2
    from core.data.dataset import open_dataset

    assert open_dataset(version).class_names == ["cup", "glass", "mug"]
    assert sorted(p.relative_to(pool) for p in pool.rglob("*")) == before
