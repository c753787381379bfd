"""The CLI contract: JSON shapes, exit codes and one-sentence errors, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)


def test_models_json_lists_status_and_paths(lite0):
    proc = cli("models", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["efficientnet_lite0"]["status"] == "ready"
    assert Path(rows["efficientnet_lite0"]["path"]).is_file()
    assert rows["resnet50"]["status"] == "needs download" and rows["resnet50"]["path"] is None


def test_predict_json_on_real_photos(lite0, cat_jpeg, tmp_path, coffee_image):
    from PIL import Image

    coffee = tmp_path / "coffee.png"
    Image.fromarray(coffee_image).save(coffee)
    proc = cli("predict", "--model", "efficientnet_lite0", "--top", "3", str(cat_jpeg), str(coffee), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["image"] for r in out] == [str(cat_jpeg), str(coffee)]
    assert out[0]["top"][0]["label"] == "Egyptian cat" and len(out[0]["top"]) == 3
    assert out[1]["top"][0]["label"] == "espresso"
    probs = [t["prob"] for t in out[0]["top"]]
    assert probs == sorted(probs, reverse=True) and 0.5 < probs[0] <= 1


def test_explain_json_writes_overlay_and_heatmap(lite0, cat_jpeg, tmp_path):
    out_dir = tmp_path / "out"
    proc = cli("explain", "--model", "efficientnet_lite0", "--method", "gradcam", "--out", str(out_dir),
               str(cat_jpeg), "--json")
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(proc.stdout)
    assert set(item) >= {"image", "model", "method", "layer", "target", "heatmap_npy", "overlay_png", "ms"}
    assert item["target"]["label"] == "Egyptian cat" and item["layer"] == "top_activation"
    heat = np.load(item["heatmap_npy"])
    assert heat.shape == (224, 224) and heat.min() >= 0 and heat.max() <= 1
    from PIL import Image

    assert Image.open(item["overlay_png"]).size == (451, 300)  # overlay at the photo's own size
    assert item["ms"] > 0


def test_explain_contrast_json(lite0, cat_jpeg, tmp_path):
    proc = cli("explain", "--method", "gradcam", "--target", "Egyptian cat", "--contrast", "tiger cat",
               "--out", str(tmp_path / "c"), str(cat_jpeg), "--json")
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(proc.stdout)
    assert item["target"]["label"] == "Egyptian cat" and item["contrast"]["label"] == "tiger cat"
    assert item["target"]["index"] != item["contrast"]["index"]
    plain = cli("explain", "--method", "gradcam", "--target", "Egyptian cat", "--out", str(tmp_path / "p"),
                str(cat_jpeg), "--json")
    (alone,) = json.loads(plain.stdout)
    assert "contrast" not in alone and set(alone) == set(item) - {"contrast"}  # otherwise the same contract
    assert not np.allclose(np.load(item["heatmap_npy"]), np.load(alone["heatmap_npy"]), atol=1e-3)


@pytest.mark.parametrize("args,needle", [
    (["--method", "eigencam", "--target", "1", "--contrast", "2"],
     "cannot contrast two classes; methods that can: gradcam"),
    (["--contrast", "2"], "--contrast needs --target"),
    (["--target", "tabby", "--contrast", "281"], "--contrast must name another class than --target (tabby)"),
])
def test_explain_contrast_refusals(lite0, cat_jpeg, tmp_path, args, needle):
    proc = cli("explain", *args, "--out", str(tmp_path), str(cat_jpeg))
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,needle", [
    (["predict", "--model", "nope", "x.jpg"], "Unknown model 'nope'"),
    (["predict", "--top", "0", "x.jpg"], "--top must be at least 1"),
    (["explain", "--method", "magic", "x.jpg"], "Unknown explanation method 'magic'"),
    (["predict", "--model", "missing.keras", "x.jpg"], "No model file missing.keras"),
    (["predict", "--model", "runs/no-such-run", "x.jpg"], "No run folder or model file at runs/no-such-run"),
    (["runs", "--root", "pyproject.toml", "list"], "is a file, not a folder"),
    (["attack", "--eps", "2", "--seed", str(2**40), "x.jpg"], "at most 2,147,483,647"),
])
def test_errors_are_one_sentence_with_nonzero_exit(args, needle):
    proc = cli(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_bad_image_gets_a_specific_message(lite0, tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("<html>not an image</html>")
    proc = cli("predict", str(fake))
    assert proc.returncode == 2 and "photo.jpg: not an image" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("explain", "--layer", "no_such_layer", str(ROOT / "tests" / "missing.jpg"))
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_unknown_layer_and_class_are_named(lite0, cat_jpeg, tmp_path):
    proc = cli("explain", "--layer", "no_such_layer", "--out", str(tmp_path), str(cat_jpeg))
    assert proc.returncode == 2 and "no_such_layer" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("explain", "--target", "unicorn", "--out", str(tmp_path), str(cat_jpeg))
    assert proc.returncode == 2 and "--target" in proc.stderr and "unicorn" in proc.stderr


# -- flags from the registries' declarations -----------------------------------------------------------------
def test_top_level_help_and_light_commands_do_not_import_tensorflow():
    code = ("import sys\nfrom core.cli import main\n"
            "for argv in (['--help'], ['runs', 'list', '--help'], ['data', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('IMPORTED', sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "IMPORTED []" in proc.stdout and "attack" in proc.stdout


def test_explain_and_trust_help_list_every_methods_parameters():
    from core.explain import list_methods

    declared = {p.name.replace("_", "-") for m in list_methods() for p in m.params}
    assert {"samples", "steps", "max-channels"} <= declared
    explain_help, trust_help = cli("explain", "--help").stdout, cli("trust", "--help").stdout
    assert all(f"--{name} " in explain_help for name in declared)
    assert all(f"--method-{name} " in trust_help for name in declared)  # trust's own --steps stays its own
    assert "--steps STEPS" in trust_help and "--method-" in trust_help


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """An untrained 3-class CNN on 16x16 images saved as .keras, and one PNG."""
    import keras
    from PIL import Image

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(h)
    h = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(h))
    folder = tmp_path_factory.mktemp("tiny")
    model.save(folder / "tiny.keras")
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "noise.png")
    return str(folder / "tiny.keras"), str(folder / "noise.png"), pixels.astype(np.float32)


@pytest.fixture
def recording_method():
    """A throwaway explanation method registered only for the test: Grad-CAM that records its parameters."""
    from core.explain.gradcam import GradCAM
    from core.explain.registry import METHODS, register_method
    from core.params import Param

    seen = []

    @register_method
    class Recording(GradCAM):
        name = "recording_test"
        params = (Param("gain", int, 1, "a made-up parameter", min=1, max=3),)

        def compute(self, ctx, images, class_idx, params):
            seen.append(dict(params))
            return super().compute(ctx, images, class_idx, params)

    yield Recording.name, seen
    METHODS.unregister(Recording.name)


def run_main(capsys, *args):
    from core.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_registered_method_gets_its_flags_with_no_cli_edit(capsys, tiny, tmp_path, recording_method):
    model, image, _ = tiny
    name, seen = recording_method
    code, out, err = run_main(capsys, "explain", "--model", model, "--method", name, "--gain", "3",
                              "--out", tmp_path, "--json", image)
    assert code == 0, err
    assert seen == [{"gain": 3}] and json.loads(out)[0]["method"] == name
    code, _, err = run_main(capsys, "explain", "--model", model, "--method", "gradcam", "--gain", "2", image)
    assert code == 2
    assert err == "error: --gain is not a parameter of the explanation method gradcam, which takes none.\n"
    code, _, err = run_main(capsys, "explain", "--model", model, "--method", name, "--gain", "0", image)
    assert (code, err) == (2, "error: --gain must be between 1 and 3, got 0.\n")  # ParameterError names it


def test_method_flags_reach_the_method(capsys, tiny, tmp_path):
    from core.explain import explain

    model, image, pixels = tiny
    code, out, err = run_main(capsys, "explain", "--model", model, "--method", "smoothgrad", "--samples", "3",
                              "--noise", "0.4", "--seed", "7", "--out", tmp_path, "--json", image)
    assert code == 0, err
    heat = np.load(json.loads(out)[0]["heatmap_npy"])
    import keras

    # Oracle: the library called directly with the same parameters, and with the default seed.
    (same,) = explain(keras.models.load_model(model), pixels[None], "smoothgrad", samples=3, noise=0.4, seed=7)
    (other,) = explain(keras.models.load_model(model), pixels[None], "smoothgrad", samples=3, noise=0.4)
    np.testing.assert_allclose(heat, same.heatmap, atol=1e-5)
    assert np.abs(heat - other.heatmap).max() > 1e-3


def test_trust_method_flags_are_prefixed_and_reach_the_method(capsys, tiny, recording_method):
    model, image, _ = tiny
    name, seen = recording_method
    code, _, err = run_main(capsys, "trust", "--model", model, "--method", f"gradcam,{name}", "--method-gain", "2",
                            "--steps", "4", "--no-sanity", "--json", image)
    assert code == 0, err
    assert seen and all(s == {"gain": 2} for s in seen)
    code, _, err = run_main(capsys, "trust", "--model", model, "--method", "gradcam,saliency", "--method-steps",
                            "5", image)
    assert (code, err) == (2, "error: --method-steps is not a parameter of any of the explanation methods "
                              "gradcam, saliency.\n")


def test_a_declared_parameter_clashing_with_a_commands_own_flag_says_whose_it_is():
    import argparse

    from core.cli.common import ParamFlags
    from core.params import Param

    parser = argparse.ArgumentParser(prog="explain")
    parser.add_argument("--layer")
    flags = ParamFlags("explanation method", {"gradcam": (), "odd": (Param("layer", str, "x", "clashes"),)})
    with pytest.raises(ValueError, match="^The parameter 'layer' of the explanation method odd gives --layer, "
                                         "which the command 'explain' already has"):
        flags.add_to(parser)
    prefixed = ParamFlags("explanation method", flags.declarations, prefix="method-")
    prefixed.add_to(parser)  # a prefix avoids the clash
    assert prefixed.values(parser.parse_args(["--method-layer", "y"]), "odd") == {"layer": "y"}
