"""Long core work reports progress(fraction, text) with one convention (#17, "Progress on all long work")."""

from __future__ import annotations

import keras
import numpy as np

from core.trust import sanity_check


def _tiny_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probabilities")(x))


def test_sanity_check_reports_each_stage():
    heard: list[tuple[float, str]] = []
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.float32)
    result = sanity_check(_tiny_cnn(), image, "gradcam", layer="conv2", max_stages=3,
                          progress=lambda f, t: heard.append((f, t)))
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    stages = [t for _, t in heard if t.startswith("Stage ")]
    assert len(stages) == len(result.steps) - 1 >= 2
    assert stages[0].startswith(f"Stage 1 of {len(stages)}: randomising down to ")


def test_score_cam_reports_its_masked_batches_and_its_map_is_unchanged():
    from core.explain import explain

    model = _tiny_cnn()
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    heard: list[tuple[float, str]] = []
    with_progress = explain(model, images, "scorecam", layer="conv2", max_channels=8,
                            progress=lambda f, t: heard.append((f, t)))
    without = explain(model, images, "scorecam", layer="conv2", max_channels=8)
    for a, b in zip(with_progress, without, strict=True):
        np.testing.assert_array_equal(a.heatmap, b.heatmap)
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(heard) >= 2
    assert heard[-1][1] == "Score-CAM: scored 8 of 8 masked copies of image 2 of 2"


def test_zip_import_reports_the_files_it_unpacks(tmp_path, monkeypatch):
    import io
    import zipfile

    from PIL import Image

    from core.data.uploads import import_zip_bytes

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for label in ("cats", "dogs"):
            for i in range(3):
                png = io.BytesIO()
                Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(png, format="PNG")
                zf.writestr(f"{label}/{i}.png", png.getvalue())
    heard: list[tuple[float, str]] = []
    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path))
    path = import_zip_bytes(buf.getvalue(), "progress-test", filename="pets.zip",
                            progress=lambda f, t: heard.append((f, t)))
    assert sorted(p.name for p in path.iterdir() if p.is_dir()) == ["cats", "dogs"]
    assert heard[0] == (0.0, "Unpacking file 1 of 6") and heard[-1] == (1.0, "Unpacked 6 files")
    assert [f for f, _ in heard] == sorted(f for f, _ in heard)


def test_checking_every_image_reports_how_many_are_checked(tmp_path):
    from PIL import Image

    from core.data.dataset import open_dataset

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(5):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / label / f"{i}.png")
    heard: list[tuple[float, str]] = []
    ds = open_dataset(tmp_path, strict=False, progress=lambda f, t: heard.append((f, t)))
    assert sorted(ds.class_names) == ["a", "b"]
    assert heard[-1] == (1.0, "Checked 10 of 10 images") and len(heard) == 10
