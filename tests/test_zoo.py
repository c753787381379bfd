"""The model zoo: registry, flat raw-pixel models, weights download and safe loading."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from core.errors import ModelUnavailableError, UnknownNameError
from core.zoo import download as dl
from core.zoo import files, get_spec, keras_apps, list_models, load_model


def test_registry_lists_the_issue_models_and_rejects_unknown_names():
    names = [s.name for s in list_models()]
    for name in ("resnet50", "vgg16", "mobilenet_v2", "efficientnet_b0", "efficientnet_lite0",
                 "efficientnet_lite1", "small_cnn", "lenet5"):
        assert name in names
    with pytest.raises(UnknownNameError) as err:
        get_spec("resnet5O")
    assert "resnet50" in str(err.value) and "efficientnet_lite0" in str(err.value)


def test_offline_default_is_ready_offline_and_keras_apps_need_download():
    assert get_spec("efficientnet_lite0").offline
    assert get_spec("efficientnet_lite0").status() in ("ready", "cached")
    assert get_spec("resnet50").status() == "needs download"


def _legacy_h5(model: keras.Model, path: Path) -> Path:
    """Write weights the way Keras's published ImageNet files are written (legacy .h5)."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


@pytest.mark.parametrize("name,preprocess", [
    ("resnet50", keras.applications.resnet50.preprocess_input),
    ("mobilenet_v2", keras.applications.mobilenet_v2.preprocess_input),
])
def test_flat_model_matches_keras_reference_pipeline(tmp_path, name, preprocess):
    """Oracle: our raw-pixel model == Keras's own model on Keras's own preprocess_input (incl. RGB->BGR)."""
    app = next(a for a in keras_apps.APPS if a.name == name)
    keras.utils.set_random_seed(1)
    reference = app.constructor(weights=None)
    weights = _legacy_h5(reference, tmp_path / "w.h5")
    flat = keras_apps.build_flat(app, weights)
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(reference(preprocess(x.copy())))
    got = keras.ops.convert_to_numpy(flat(x))
    np.testing.assert_allclose(got, expected, atol=2e-5)
    # Flat: the default CAM layer is reachable from the top-level model.
    assert flat.get_layer(app.default_cam_layer).output.shape[1] == 7


def _serve(directory: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_download_checks_checksum_reports_progress_and_is_atomic(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    payload = np.random.default_rng(0).bytes(3 * dl.CHUNK + 17)
    (served / "w.h5").write_bytes(payload)
    server = _serve(served)
    url = f"http://127.0.0.1:{server.server_port}/w.h5"
    try:
        seen = []
        good = dl.hashlib.md5(payload).hexdigest()
        dest = dl.download(url, tmp_path / "cache" / "w.h5", good, lambda f, text: seen.append((f, text)))
        assert dest.read_bytes() == payload
        assert seen[-1] == (1.0, "Downloading w.h5: 3 of 3 MB") and len(seen) >= 4
        assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[0][0] < 0.5
        with pytest.raises(ModelUnavailableError, match="checksum"):
            dl.download(url, tmp_path / "cache" / "bad.h5", "0" * 32)
        assert not (tmp_path / "cache" / "bad.h5").exists()
        assert [p.name for p in (tmp_path / "cache").iterdir()] == ["w.h5"]  # no temp files left
    finally:
        server.shutdown()


def test_offline_download_names_the_file_and_the_offline_models(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on: the request is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = dict(keras_apps.manifest_entry("resnet50"), url=f"http://127.0.0.1:{port}/x.h5")
    monkeypatch.setattr(keras_apps, "manifest_entry", lambda name: entry)
    monkeypatch.setenv("GLASSWING_PRETRAINED", str(tmp_path))
    with pytest.raises(ModelUnavailableError) as err:
        keras_apps.fetch_weights("resnet50")
    message = str(err.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert str(tmp_path / "weights") in message and "efficientnet_lite0" in message


def test_placed_weights_file_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSWING_PRETRAINED", str(tmp_path))
    placed = keras_apps.weights_file("vgg16")
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"not the weights")
    assert get_spec("vgg16").status() == "cached"
    with pytest.raises(ModelUnavailableError, match="checksum"):
        keras_apps.fetch_weights("vgg16")


def _tiny(path: Path, lam: bool = False) -> Path:
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    if lam:
        x = keras.layers.Lambda(lambda t: t * 2)(x)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(3)(x)
    keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(x)).save(path)
    return path


def test_keras_file_loading_is_safe(tmp_path):
    good = _tiny(tmp_path / "good.keras")
    loaded = load_model(str(good))
    assert loaded.input_size == (16, 16) and loaded.class_names == ["class 0", "class 1", "class 2"]
    assert loaded.default_cam_layer == "conv"
    with pytest.raises(files.ModelFileError, match="Lambda"):
        files.load_keras_file(_tiny(tmp_path / "lam.keras", lam=True))
    with pytest.raises(files.ModelFileError, match="limit"):
        files.load_keras_file(good, max_bytes=100)
    (tmp_path / "text.keras").write_text("hello")
    with pytest.raises(files.ModelFileError, match="not a .keras"):
        files.load_keras_file(tmp_path / "text.keras")
    # A custom (non-Keras) layer class is refused before Keras sees it.
    hostile = tmp_path / "custom.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(hostile, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                cfg = json.loads(data)
                cfg["config"]["layers"][1]["module"] = "evil.module"
                data = json.dumps(cfg).encode()
            dst.writestr(item, data)
    with pytest.raises(files.ModelFileError, match="custom code"):
        files.load_keras_file(hostile)


def test_converted_default_model_is_a_plain_keras_file(lite0):
    assert lite0.path is not None and lite0.path.suffix == ".keras"
    reloaded = keras.models.load_model(lite0.path)  # no custom objects, safe mode
    classes = {type(layer).__module__.split(".")[0] for layer in reloaded.layers}
    assert classes == {"keras"}
    assert reloaded.layers[-1].name == "probabilities"


def test_cat_photo_top1_and_class_lookup(lite0, cat_image):
    from core.images import resize_for_model

    probs = lite0.predict(resize_for_model(cat_image, lite0.input_size))[0]
    assert lite0.top_k(probs, 1)[0]["label"] == "Egyptian cat"
    assert lite0.class_index("egyptian_cat") == 285 and lite0.class_index("285") == 285
    with pytest.raises(Exception, match="--target"):
        lite0.class_index("1000", "--target")


def test_sample_photos_are_decoded_once_and_handed_out_as_copies():
    from core import samples

    first = samples.load_sample("cat")
    first[:] = 0  # a caller scribbling on its copy
    again = samples.load_sample("cat")
    assert again.dtype == np.uint8 and again.ndim == 3 and again.max() > 0
    assert samples._decoded.cache_info().currsize >= 1


def test_the_manifest_is_read_again_when_it_changes(monkeypatch, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"m": {"file": "a.h5"}}))
    monkeypatch.setattr(keras_apps, "MANIFEST", manifest)
    assert keras_apps.manifest_entry("m") == {"file": "a.h5"}
    keras_apps.manifest_entry("m")["file"] = "mutated"  # entries are copies
    assert keras_apps.manifest_entry("m") == {"file": "a.h5"}
    manifest.write_text(json.dumps({"m": {"file": "renamed.h5"}}))
    assert keras_apps.manifest_entry("m") == {"file": "renamed.h5"}


def test_a_model_file_written_again_in_place_is_loaded_again(tmp_path):
    """A variant compressed again keeps its path: the process cache must not answer with the old model."""
    from core.zoo.scratch import small_cnn

    path = tmp_path / "variant.keras"
    first = small_cnn(num_classes=3, input_size=(32, 32))
    first.save(path)
    loaded = load_model(str(path))
    assert load_model(str(path)) is loaded  # cached while the file is unchanged
    second = small_cnn(num_classes=3, input_size=(32, 32))
    second.set_weights([w + 1.0 for w in first.get_weights()])
    second.save(path)
    again = load_model(str(path))
    assert again is not loaded
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(again.model.predict(x, verbose=0), second.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
