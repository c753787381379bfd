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
