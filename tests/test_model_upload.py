"""A person's own .keras model made into a run: input range, logits, class names, hostile files."""

from __future__ import annotations

import io
import zipfile

import keras
import numpy as np
import pytest

from core.zoo.upload import InputRangeUnknown, ModelImportError, import_model

SIDE = 16


def _model(rescale: bool, softmax: bool) -> keras.Model:
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs) if rescale else inputs
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax" if softmax else None)(x))


def _bytes(model: keras.Model, tmp_path) -> bytes:
    path = tmp_path / "mine.keras"
    model.save(path)
    return path.read_bytes()


def test_a_model_with_its_own_rescaling_and_softmax_loads_as_a_run(tmp_path):
    from core.train.runs import list_runs
    from core.zoo import load_model

    original = _model(rescale=True, softmax=True)
    run = import_model(_bytes(original, tmp_path), "model.keras", "session-a", "cat\ndog\n\nbird\n",
                       root=tmp_path / "runs")
    loaded = load_model(str(run))
    assert loaded.class_names == ["cat", "dog", "bird"] and loaded.input_size == (SIDE, SIDE)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, SIDE, SIDE, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(pixels), original(pixels).numpy(), atol=1e-5)
    assert [r.path for r in list_runs(owner="session-a", root=tmp_path / "runs")] == [run]
    assert sorted(p.name for p in run.iterdir()) == ["model.keras", "run.json"]
    assert list_runs(owner="session-b", root=tmp_path / "runs", include_shared=False) == []


def test_a_model_on_0_1_pixels_with_logits_is_wrapped(tmp_path):
    from core.explain import explain
    from core.zoo import load_model

    bare = _model(rescale=False, softmax=False)
    data = _bytes(bare, tmp_path)
    with pytest.raises(InputRangeUnknown, match="choose 0-255, 0-1 or -1-1"):
        import_model(data, "mine.keras", None, root=tmp_path / "runs")
    run = import_model(data, "mine.keras", None, input_range="0-1", root=tmp_path / "runs")
    loaded = load_model(str(run))
    pixels = np.random.default_rng(1).uniform(0, 255, (2, SIDE, SIDE, 3)).astype(np.float32)
    logits = bare(pixels / 255.0).numpy()  # what the person's model gives on the range it was trained on
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loaded.predict(pixels), expected, atol=1e-5)
    assert loaded.class_names == ["class 0", "class 1", "class 2"]
    (exp,) = explain(loaded, pixels[:1], "gradcam")  # the nested model explains like any other
    assert exp.heatmap.shape == (SIDE, SIDE) and np.isfinite(exp.heatmap).all()


@pytest.mark.parametrize("case, match", [
    ("names", "lists 2 names but the model has 3 outputs"),
    ("twice", "cat more than once"),
    ("suffix", "upload a Keras 3 model saved as a .keras file"),
    ("garbage", "m.keras: not a .keras model file"),
    ("lambda", r"m.keras: refused, layer 'lambda\w*' is a Lambda layer"),
    ("big", "models up to 1 MB"),
])
def test_refused_uploads_are_one_sentence_and_leave_nothing(tmp_path, case, match):
    root = tmp_path / "runs"
    data, name, names, limit = _bytes(_model(True, True), tmp_path), "m.keras", None, 2**30
    if case == "names":
        names = "cat\ndog"
    elif case == "twice":
        names = "cat\ncat\ndog"
    elif case == "suffix":
        name = "m.h5"
    elif case == "garbage":
        data = b"PK\x03\x04 not a zip at all"
    elif case == "lambda":  # code inside the file: safe mode refuses it
        inputs = keras.Input((SIDE, SIDE, 3))
        x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        data = _bytes(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)), tmp_path)
    elif case == "big":
        limit = 2**20
        data = data + b"\0" * 2**20
    with pytest.raises(Exception, match=match) as info:
        import_model(data, name, "s", names, root=root, max_bytes=limit)
    from core.errors import GlasswingError

    assert isinstance(info.value, ModelImportError if case in ("names", "twice", "suffix", "big")
                      else GlasswingError), info.value
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
    assert not root.exists() or list(root.iterdir()) == []  # no run, no hidden staging folder left


def test_a_zip_bomb_inside_the_keras_file_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\0" * (64 * 2**20))
    with pytest.raises(Exception) as info:
        import_model(buf.getvalue(), "bomb.keras", "s", root=tmp_path / "runs", max_bytes=16 * 2**20)
    from core.errors import GlasswingError

    assert isinstance(info.value, GlasswingError)
    assert list((tmp_path / "runs").iterdir()) == []


def _trust_page(root: str) -> None:
    import sys

    if root not in sys.path:
        sys.path.insert(0, root)
    from dashboard import state
    from dashboard.views import trust

    state.init_session()
    trust.main()


def test_an_uploaded_model_is_chosen_and_explained_on_the_page(tmp_path, lite0):
    """Upload a logits model trained on 0-1 pixels with its class names: the page asks for the range,
    then the model is this session's, chosen in the picker, and the Trust page ranks methods on it."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_trust_page, args=(str(Path(__file__).resolve().parent.parent),),
                               default_timeout=300)
    at.session_state["session_id"] = "model-upload-test"
    at.run()
    assert not at.exception, at.exception
    assert not at.get("file_uploader") or all("Keras" not in u.label for u in at.get("file_uploader"))
    at.toggle(key="trust_model_own").set_value(True).run()
    uploaders = {u.label: u for u in at.get("file_uploader")}
    uploaders["Keras 3 model"].set_value([("birds.keras", _bytes(_model(False, False), tmp_path),
                                           "application/octet-stream")])
    uploaders["Class names (optional: a .txt file, one name per line)"].set_value(
        [("names.txt", b"robin\nwren\nfinch\n", "text/plain")])
    add = next(b for b in at.button if b.label == "Add the model")
    add.click().run()
    assert not at.exception, at.exception
    assert any("choose 0-255, 0-1 or -1-1" in w.value for w in at.warning), [w.value for w in at.warning]
    at.radio(key="trust_model_upload_range").set_value("0-1")
    next(b for b in at.button if b.label == "Add the model").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    chosen = at.selectbox(key="trust_model")
    assert "birds" in chosen.value and "uploaded model" in chosen.format_func(chosen.value)
    at.multiselect(key="trust_compare_methods").set_value(["gradcam"])
    at.slider(key="trust_compare_steps").set_value(8)
    next(b for b in at.button if b.label == "Rank the methods").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    text = " ".join(m.value for m in at.markdown)
    assert any(f"Explaining:** {name}" in text for name in ("robin", "wren", "finch")), text


def test_cli_imports_a_model_and_explains_with_it(tmp_path, capsys):
    import json

    from core.cli import main

    model = tmp_path / "mine.keras"
    _model(True, True).save(model)
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\nbird\n")
    root = tmp_path / "runs"
    assert main(["runs", "--root", str(root), "import", str(model), "--classes", str(names), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["status"] == "complete" and info["base_model"] == "uploaded model"
    image = tmp_path / "photo.png"
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(image)
    out_dir = tmp_path / "explained"  # never the default (the working folder: the repository, under pytest)
    assert main(["explain", "--model", info["path"], str(image), "--method", "gradcam", "--json",
                 "--out", str(out_dir)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p.name for p in out_dir.iterdir()} == {"photo_gradcam.png", "photo_gradcam.npy"}
    assert out[0]["target"]["label"] in ("cat", "dog", "bird")
    names.write_text("cat\ndog\n")
    assert main(["runs", "--root", str(root), "import", str(model), "--classes", str(names)]) == 2
    err = capsys.readouterr().err
    assert "lists 2 names but the model has 3 outputs" in err and "Traceback" not in err


def test_the_model_upload_limit_is_a_checked_setting(monkeypatch, tmp_path):
    from core import config
    from core.errors import ParameterError

    monkeypatch.setenv("GLASSWING_MODEL_UPLOAD_MB", "2")
    assert config.model_upload_bytes() == 2 * 2**20
    with pytest.raises(ModelImportError, match="models up to 2 MB"):
        import_model(b"\0" * (3 * 2**20), "big.keras", None, root=tmp_path / "runs",
                     max_bytes=config.model_upload_bytes())
    monkeypatch.setenv("GLASSWING_MODEL_UPLOAD_MB", "5000")
    with pytest.raises(ParameterError, match="GLASSWING_MODEL_UPLOAD_MB"):
        config.check_settings()  # refused when the server starts, not in the middle of an upload
