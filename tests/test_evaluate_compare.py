"""Two runs on the same images (the A/B comparison): McNemar's exact test against scipy's binomial test, the
paired counts and the changed images against numpy's own predictions, the CLI contract and its refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import binomtest

from core.cli import main
from core.errors import ParameterError
from core.evaluate import mcnemar_exact

SIZE = 8
CLASSES = ["blue", "green", "red"]  # sorted: the dataset's order


@pytest.mark.parametrize("only_a,only_b", [(0, 0), (0, 1), (1, 0), (3, 3), (2, 9), (9, 2), (0, 12), (17, 40),
                                           (100, 130)])
def test_mcnemar_exact_is_the_two_sided_binomial_test_of_the_discordant_pairs(only_a, only_b):
    expected = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    n, k = only_a + only_b, min(only_a, only_b)  # and by counting: twice the smaller tail of 2^n outcomes
    by_hand = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)
    assert mcnemar_exact(only_a, only_b) == pytest.approx(by_hand, rel=1e-9)


def test_mcnemar_refuses_negative_counts():
    with pytest.raises(ParameterError, match="must not be negative"):
        mcnemar_exact(-1, 3)


def _model(red_bias: float):
    """Mean colour -> logits ``SCALE * (b, g, r) + (0, 0, red_bias)``: a bias towards red flips greenish reds."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 1, use_bias=False, name="conv")(inputs))
    dense = keras.layers.Dense(3, name="logits")
    model = keras.Model(inputs, keras.layers.Activation("softmax")(dense(x)))
    model.get_layer("conv").set_weights([np.eye(3, dtype=np.float32)[None, None]])
    kernel = np.zeros((3, 3), np.float32)
    for channel, column in enumerate([2, 1, 0]):  # R, G, B to the columns of red, green, blue
        kernel[channel, column] = 0.05
    dense.set_weights([kernel, np.array([0.0, 0.0, red_bias], np.float32)])
    return model, kernel, np.array([0.0, 0.0, red_bias])


def _run(root: Path, name: str, red_bias: float, data: Path, seed: int = 0) -> tuple[Path, tuple]:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    model, kernel, bias = _model(red_bias)
    model.save(run_dir / "model.keras")
    (run_dir / "run.json").write_text(json.dumps({
        "id": name, "name": name, "status": "complete", "class_names": CLASSES, "base_model": "colour model",
        "created": "2026-01-01T00:00:00+00:00"}))
    (run_dir / "config.json").write_text(json.dumps({"data": str(data), "val_fraction": 0.3, "test_fraction": 0.3,
                                                     "seed": seed}))
    return run_dir, (kernel, bias)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A pool of colour images (no split folders) and two runs on it: B leans towards red, so some reddish
    greens and blues change answer; a third run split the pool with another seed."""
    root = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(3)
    data = root / "colours"
    for label, base in {"blue": (0, 0, 200), "green": (0, 200, 0), "red": (200, 0, 0)}.items():
        for i in range(20):
            rgb = np.clip(np.array(base) + rng.integers(0, 170, 3) * (np.array(base) == 0), 0, 255)
            path = data / label / f"{label}{i:02d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((SIZE, SIZE, 3), rgb, np.uint8)).save(path)
    a, weights_a = _run(root / "runs", "run-a", 0.0, data)
    b, weights_b = _run(root / "runs", "run-b", 2.5, data)
    other, _ = _run(root / "runs", "run-other-split", 0.0, data, seed=7)
    return data, a, b, other, weights_a, weights_b


def _numpy_predictions(paths: list[str], weights) -> np.ndarray:
    kernel, bias = weights
    means = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float64).mean(axis=(0, 1)) for p in paths])
    return np.argmax(means @ kernel + bias, axis=1)


def test_the_cli_pairs_both_runs_on_the_held_out_split_and_names_each_change(runs, tmp_path, capsys):
    data, a, b, _other, weights_a, weights_b = runs
    out = tmp_path / "changes"
    assert main(["compare", str(a), str(b), "--json", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "test" and report["dataset"].startswith("colours") and report["labels"] == CLASSES
    assert set(report) >= {"a", "b", "paired", "table", "mcnemar", "reading", "changed", "scored"}
    # The run's own test split (30% of 60, stratified with its seed), independently drawn again here.
    from core.evaluate import open_split

    items = open_split(str(data), "test", val_fraction=0.3, test_fraction=0.3, seed=0).items
    paths, truth = [str(i.path) for i in items], np.array([i.label for i in items])
    pred_a, pred_b = _numpy_predictions(paths, weights_a), _numpy_predictions(paths, weights_b)
    right_a, right_b = pred_a == truth, pred_b == truth
    assert report["paired"] == len(paths) == 18
    assert report["table"] == {
        "both_right": int(np.sum(right_a & right_b)), "only_a": int(np.sum(right_a & ~right_b)),
        "only_b": int(np.sum(~right_a & right_b)), "both_wrong": int(np.sum(~right_a & ~right_b))}
    only_a, only_b = report["table"]["only_a"], report["table"]["only_b"]
    assert only_a > 0, "B's lean towards red must break some images for the test to mean something"
    assert report["mcnemar"]["p_value"] == pytest.approx(binomtest(min(only_a, only_b), only_a + only_b).pvalue)
    assert report["a"]["accuracy"] == pytest.approx(right_a.mean()) and report["b"]["accuracy"] == \
        pytest.approx(right_b.mean())
    changed = {c["path"]: c for c in report["changed"]}
    assert set(changed) == {p for p, x, y in zip(paths, pred_a, pred_b, strict=True) if x != y}
    for path, x, y, t in zip(paths, pred_a, pred_b, truth, strict=True):
        if x != y:
            c = changed[path]
            assert (c["a_pred"], c["b_pred"], c["true"]) == (x, y, t)
            assert c["change"] == ("better" if y == t else "worse" if x == t else "other")
            png = Image.open(c["gradcam_png"])  # the photo, A's Grad-CAM, B's Grad-CAM side by side
            assert png.size == (3 * 224, 224) and Path(c["gradcam_png"]).parent == out
    assert report["reading"].startswith(("A is better", "B fixes", "B is better"))


def test_the_same_model_twice_changes_nothing(runs, capsys):
    _data, a, _b, _other, _wa, _wb = runs
    assert main(["compare", str(a), str(a), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["changed"] == [] and report["mcnemar"]["p_value"] == 1.0
    assert report["reading"] == "The two models are right and wrong on exactly the same 18 images."


def test_images_one_run_trained_on_are_left_out_of_the_comparison(runs, capsys):
    """A run that split the pool with another seed trained on some of A's test images: those are left out
    (counted here from both splits), and the pairs are the rest."""
    from core.evaluate import open_split

    data, a, _b, other, _wa, _wb = runs
    test_a = {str(i.path) for i in open_split(str(data), "test", val_fraction=0.3, test_fraction=0.3, seed=0).items}
    train_other = {str(i.path) for i in open_split(str(data), "train", val_fraction=0.3, test_fraction=0.3,
                                                   seed=7).items}
    assert test_a & train_other
    assert main(["compare", str(a), str(other), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["left_out"] == len(test_a & train_other) and report["paired"] == len(test_a - train_other)


def test_a_dataset_neither_run_saw_is_scored_whole(runs, tmp_path, capsys):
    data, a, b, _other, _wa, _wb = runs
    import shutil

    held = tmp_path / "more-colours"
    shutil.copytree(data, held)
    assert main(["compare", str(a), str(b), "--data", str(held), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "all" and report["paired"] == 60


@pytest.mark.parametrize("argv,message", [
    (["--explained", "500"], "--explained must be at most 200"),
    (["--data", "/no/such/folder"], "/no/such/folder"),
])
def test_nonsense_is_one_sentence(runs, capsys, argv, message):
    _data, a, b, _other, _wa, _wb = runs
    assert main(["compare", str(a), str(b), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_run_on_a_corrected_version_is_compared_on_images_neither_trained_on(runs, capsys, tmp_path, monkeypatch):
    """B retrained on a version of A's dataset (one label corrected): the version is not held out from A, and
    the images B trained on are left out; counted here independently, by the images' bytes."""
    import hashlib

    from core.data.versions import Change, make_version
    from core.evaluate import held_out, open_split
    from core.zoo import load_model

    data, a, _b, _other, _wa, _wb = runs
    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "data"))  # a version nobody owns: out of other pickers
    version = make_version(data, [Change("relabel", str(data / "red" / "red00.png"), "green")])
    b, _ = _run(a.parent, "run-on-version", 2.5, version.path)
    assert not held_out(load_model(str(a)), str(version.path)) and not held_out(load_model(str(b)), str(data))

    def digest(path) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    settings = {"val_fraction": 0.3, "test_fraction": 0.3, "seed": 0}
    scored = open_split(str(data), "test", **settings).items  # A's held-out test split
    trained_b = {digest(i.path) for i in open_split(str(version.path), "train", **settings).items}
    seen = sum(digest(i.path) in trained_b for i in scored)
    assert seen > 0  # the relabelled image changed the version's stratified split: one of A's test images moved
    assert main(["compare", str(a), str(b), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["left_out"] == seen and report["paired"] == len(scored) - seen
    assert not {c["path"] for c in report["changed"]} & {str(i.path) for i in scored if digest(i.path) in trained_b}
