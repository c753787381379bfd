"""``python -m core attack``: the JSON contract, the 8-bit PNG, and one-sentence errors."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from core.cli import main  # noqa: E402

SIZE = 16


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    """A tiny CNN saved as a .keras file: class c is grey noise with colour channel c brighter."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = rng.uniform(70, 180, (600, SIZE, SIZE, 3))
    x[np.arange(600), :, :, y] += 36
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    h = keras.layers.Conv2D(8, 3, activation="relu")(h)
    h = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(h))
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", jit_compile=False)
    model.fit(x.astype(np.float32), y, epochs=10, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return str(path)


@pytest.fixture
def photos(tmp_path) -> list[str]:
    """Two PNGs of class 0 at twice the model's size (the CLI resizes them)."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(2):
        img = rng.uniform(70, 180, (2 * SIZE, 2 * SIZE, 3))
        img[..., 0] += 36
        path = tmp_path / f"photo{i}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths


def run_json(capsys, *args: str) -> list[dict]:
    code = main(["attack", *args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_untargeted_pgd_json_and_png(capsys, model_file, photos, tmp_path):
    out = tmp_path / "adv"
    rows = run_json(capsys, "--model", model_file, "--method", "pgd", "--eps", "24", "--steps", "10",
                    "--out", str(out), *photos)
    assert [r["image"] for r in rows] == photos
    for r in rows:
        assert {"image", "method", "eps", "before", "after", "linf", "success", "adversarial_png",
                "success_after_rounding", "after_rounding"} <= set(r)
        assert r["method"] == "pgd" and r["eps"] == 24 and r["params"]["steps"] == 10
        assert set(r["before"]) == {"index", "label", "prob"} and r["before"]["label"] == "class 0"
        assert r["after"]["label"] == f"class {r['after']['index']}"
        assert 0 < r["linf"] <= 24 + 1e-4 and r["linf_after_rounding"] <= 24
        assert r["success"] == (r["after"]["index"] != r["before"]["index"])
        assert r["success_after_rounding"] == (r["after_rounding"]["index"] != r["before"]["index"])
        assert r["target"] is None and r["defence"] is None
    assert all(r["success"] for r in rows)  # eps 24 against a 36-level colour cue
    png = out / "photo0_pgd_eps24.png"
    assert rows[0]["adversarial_png"] == str(png)
    saved = np.asarray(Image.open(png))
    assert saved.dtype == np.uint8 and saved.shape == (SIZE, SIZE, 3)  # model resolution, 8-bit
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # atomic writes left no temp file
    # The saved PNG is what "after_rounding" describes.
    from core.attacks import predict_probs
    from core.zoo import load_model

    probs = predict_probs(load_model(model_file), saved.astype(np.float32))
    assert int(probs.argmax()) == rows[0]["after_rounding"]["index"]


def test_targeted_fgsm_by_class_name_and_text_output(capsys, model_file, photos, tmp_path):
    rows = run_json(capsys, "--model", model_file, "--method", "fgsm", "--eps", "40", "--target", "class 2",
                    "--out", str(tmp_path), photos[0])
    (r,) = rows
    assert r["target"] == {"index": 2, "label": "class 2"}
    assert r["success"] == (r["after"]["index"] == 2)
    assert main(["attack", "--model", model_file, "--method", "fgsm", "--eps", "40", "--target", "2",
                 "--out", str(tmp_path), photos[0]]) == 0
    text = capsys.readouterr().out
    assert "photo0.png: class 0" in text and "fgsm eps 40" in text and "photo0_fgsm_eps40.png" in text


def test_attack_through_a_defence(capsys, model_file, photos, tmp_path):
    naive = run_json(capsys, "--model", model_file, "--method", "fgsm", "--eps", "24", "--defence", "bit_depth",
                     "--no-bpda", "--out", str(tmp_path), *photos)
    through = run_json(capsys, "--model", model_file, "--method", "fgsm", "--eps", "24", "--defence",
                       "bit_depth", "--out", str(tmp_path), *photos)
    assert all(r["linf"] == 0 and not r["success"] for r in naive)  # masked: zero gradient, no change
    assert all(r["bpda"] and r["success"] for r in through)


@pytest.mark.parametrize("args, words", [
    (["--eps", "-1"], "eps"),
    (["--eps", "300"], "eps"),
    (["--eps", "8", "--method", "pgd", "--steps", "0"], "steps"),
    (["--eps", "8", "--method", "pgd", "--step-size", "0"], "--step-size"),
    (["--eps", "8", "--method", "fgsm", "--steps", "5"], "steps"),
    (["--eps", "8", "--method", "deepfool"], "deepfool"),
    (["--eps", "8", "--target", "giraffe"], "giraffe"),
    (["--eps", "8", "--target", "7"], "--target"),
    (["--eps", "8", "--defence", "blur"], "blur"),
])
def test_errors_are_one_sentence_naming_the_parameter(capsys, model_file, photos, args, words):
    code = main(["attack", "--model", model_file, *args, photos[0]])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and words in err and "Traceback" not in err


def test_real_photo_on_the_offline_zoo_model(capsys, lite0, cat_jpeg, tmp_path):
    (r,) = run_json(capsys, "--model", "efficientnet_lite0", "--method", "pgd", "--eps", "2", "--steps", "5",
                    "--out", str(tmp_path), str(cat_jpeg))
    assert r["before"]["label"] == "Egyptian cat"
    assert r["success"] and r["success_after_rounding"] and r["linf_after_rounding"] <= 2
    assert Image.open(r["adversarial_png"]).size == (224, 224)


# -- flags from the registries' declarations -----------------------------------------------------------------
@pytest.fixture
def scaled_fgsm():
    """A throwaway attack registered only for the test: FGSM whose step is ``scale * eps``."""
    from core.attacks.base import EPS_PARAM
    from core.attacks.fgsm import FGSM
    from core.attacks.registry import ATTACKS, register_attack
    from core.params import Param

    @register_attack
    class ScaledFGSM(FGSM):
        name = "fgsm_scaled_test"
        params = (EPS_PARAM, Param("scale", float, 1.0, "share of eps taken", min=0.0, max=1.0))

        def _dynamic_values(self):
            return {"eps": self.eps * self.values["scale"]}

    yield ScaledFGSM.name
    ATTACKS.unregister(ScaledFGSM.name)


def test_a_registered_attack_gets_its_flags_with_no_cli_edit(capsys, model_file, photos, tmp_path, scaled_fgsm):
    common = ["--model", model_file, "--method", scaled_fgsm, "--eps", "24", "--out", str(tmp_path), photos[0]]
    (full,) = run_json(capsys, *common)
    (quarter,) = run_json(capsys, *common, "--scale", "0.25")
    assert quarter["params"] == {"eps": 24.0, "scale": 0.25}
    assert full["linf"] > 12 and 0 < quarter["linf"] <= 6 + 1e-3  # the flag reached the attack's graph
    assert main(["attack", "--model", model_file, "--method", "fgsm", "--eps", "4", "--scale", "0.5",
                 photos[0]]) == 2
    assert capsys.readouterr().err == ("error: --scale is not a parameter of the attack fgsm; its parameters "
                                       "are: --eps.\n")


def test_a_defence_parameter_reaches_the_defence(capsys, model_file, photos, tmp_path):
    common = ["--model", model_file, "--method", "fgsm", "--eps", "8", "--defence", "jpeg", "--out", str(tmp_path),
              *photos]
    harsh = run_json(capsys, *common, "--defence-quality", "5")
    mild = run_json(capsys, *common, "--defence-quality", "100")
    assert [r["defence_params"] for r in harsh] == [{"quality": 5}] * 2
    # The model sees each image through the defence: JPEG quality 5 and 100 give different probabilities.
    assert all(abs(h["before"]["prob"] - m["before"]["prob"]) > 1e-4 for h, m in zip(harsh, mild, strict=True))
    from core.attacks import create_defence
    from core.images import load_image, resize_for_model

    # Oracle: the defence built directly with quality 5, then the model, is what the CLI's "before" saw.
    model = keras.models.load_model(model_file)
    x = resize_for_model(load_image(photos[0]), (SIZE, SIZE))[None].astype(np.float32)
    direct = model.predict(create_defence("jpeg", quality=5).apply(x), verbose=0)[0].max()
    assert direct == pytest.approx(harsh[0]["before"]["prob"], abs=1e-4)


@pytest.mark.parametrize("args, sentence", [
    (["--method", "pgd", "--eps", "4", "--defence", "median", "--defence-quality", "50"],
     "--defence-quality is not a parameter of the defence median; its parameters are: --defence-size."),
    (["--method", "pgd", "--eps", "4", "--defence-bits", "3"],
     "--defence-bits needs a defence to apply to; name one with --defence."),
    (["--method", "pgd", "--eps", "4", "--defence", "jpeg", "--defence-quality", "101"],
     "--defence-quality must be at most 100, got 101."),
    (["--method", "pgd", "--eps", "4", "--seed", "many"], "--seed must be a whole number, got 'many'."),
])
def test_wrong_or_out_of_range_flags_are_one_sentence(capsys, model_file, photos, args, sentence):
    assert main(["attack", "--model", model_file, *args, photos[0]]) == 2
    assert capsys.readouterr().err == f"error: {sentence}\n"
