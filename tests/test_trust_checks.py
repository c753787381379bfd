"""Sanity check and ground-truth scores on a small CNN trained here on the shapes images, and the CLI."""

from __future__ import annotations

import json
import re

import cv2
import keras
import numpy as np
import pytest

from core.data import shapes
from core.errors import ParameterError
from core.explain import registry
from core.explain.base import Context, ExplanationMethod
from core.trust import centre_bias_map, energy_in_mask, pointing_hit, sanity_check, score_arrays, similarity
from core.trust.sanity import fresh_copy

SIZE, PER_CLASS = 32, 150


def _shapes(first: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images, labels, masks = [], [], []
    for label in range(len(shapes.SHAPE_CLASSES)):
        for i in range(first, first + count):
            image, mask = shapes.render_shape(label, SIZE, 0, i)
            images.append(image)
            labels.append(label)
            masks.append(mask)
    return np.stack(images).astype(np.float32), np.array(labels), np.stack(masks)


def _cnn() -> keras.Model:
    """A small GAP CNN; its first layer centres each image on its mean colour (shapes differ by colour)."""
    pixels = keras.Input((SIZE, SIZE, 3), name="pixels")
    def centre(t):
        return keras.ops.abs(t - keras.ops.mean(t, axis=(1, 2), keepdims=True)) / 128.0

    x = keras.layers.Lambda(centre, name="centre")(pixels)
    for i, filters in enumerate((16, 32, 64), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(momentum=0.8, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        if i < 3:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(len(shapes.SHAPE_CLASSES), name="logits")(x)
    return keras.Model(pixels, keras.layers.Activation("softmax", name="probabilities")(x))


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x, y, _ = _shapes(0, PER_CLASS)
    model = _cnn()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=12, batch_size=32, verbose=0, shuffle=True)
    return model


@pytest.fixture(scope="module")
def held_out():
    return _shapes(PER_CLASS, 30)


class EdgeMap(ExplanationMethod):
    """A 'method' that ignores the model: the image's edge strength. It must fail the sanity check."""

    name = "test_edges"
    title = "Edge map (test)"
    description = "Sobel edge magnitude of the image; ignores the model."
    uses_layer = False

    def compute(self, ctx: Context, images: np.ndarray, class_idx: np.ndarray, params: dict):
        grey = images.mean(axis=-1)
        maps = np.stack([np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
                         for g in grey])
        probs = ctx.model(images, training=False).numpy()
        idx = np.where(class_idx < 0, probs.argmax(-1), class_idx)
        return maps, idx, probs[np.arange(len(idx)), idx]


@pytest.fixture
def edge_method():
    registry.register_method(EdgeMap)
    yield EdgeMap.name
    registry.METHODS.unregister(EdgeMap.name)  # keep the shared registry as the other tests expect it


def test_sanity_check_passes_real_methods_and_flags_an_edge_map(trained, held_out, edge_method):
    weights = [w.copy() for w in trained.get_weights()]
    images = held_out[0][[0, 70]]
    for method in ("gradcam", "saliency"):
        for image in images:
            result = sanity_check(trained, image, method)
            assert [s.layer for s in result.steps] == ["original", "logits", "conv3", "conv2", "conv1"]
            assert result.passed, (method, [(s.spearman, s.ssim) for s in result.steps])
    assert "the Grad-CAM map changed" not in result.reading()  # the last one was saliency
    assert "Saliency" in result.reading() and result.reading().startswith("Passed")
    for image in images:
        result = sanity_check(trained, image, edge_method)
        assert not result.passed
        assert min(s.spearman for s in result.steps) > 0.99 and "Failed" in result.reading()
        assert "the Edge map (test) map" in result.reading()  # named by its title
    # The shared model was never touched.
    for before, after in zip(weights, trained.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def _steps(result) -> list[tuple[str, float, float]]:
    return [(s.layer, round(s.spearman, 2), round(s.ssim, 2)) for s in result.steps]


# Adebayo et al. (2018) report that Guided Backprop fails the cascading randomisation check on deep
# ImageNet networks: its map survives the top layers being randomised. Measured here: on the trained
# shapes CNN its cascade means are 0.53 and 0.47 (saliency 0.44 / 0.28), so it sits on the threshold;
# on EfficientNet-Lite0 (the dashboard's model) 0.68 against saliency's 0.24: a clear failure there.
def test_guided_backprop_ignores_the_classifier_more_than_gradients_do(trained, held_out):
    """Randomising the top layer barely moves Guided Backprop, where plain gradients change."""
    for image in held_out[0][[0, 70]]:
        guided = sanity_check(trained, image, "guided_backprop")
        plain = sanity_check(trained, image, "saliency")
        assert plain.passed and guided.cascade_similarity > plain.cascade_similarity, (_steps(guided),
                                                                                         _steps(plain))
        assert guided.steps[1].layer == plain.steps[1].layer == "logits"
        # Rank correlation: 0.59 against 0.49 here, 0.15 apart on CI's machine; SSIM holds the wider margin.
        assert guided.steps[1].spearman > plain.steps[1].spearman + 0.05, (_steps(guided), _steps(plain))
        assert guided.steps[1].ssim > plain.steps[1].ssim + 0.15, (_steps(guided), _steps(plain))


def test_guided_backprop_on_lite0_survives_randomising_the_top_blocks(lite0, cat_image):
    """On the real ReLU6 network the dashboard opens with: rank correlation 0.96 after the top stage
    (saliency 0.31), still 0.83 with half the network random; only the stem's randomisation changes it,
    so it fails on the cascade (mean similarity about 0.68) where saliency and Grad-CAM pass."""
    from core.images import resize_for_model

    image = resize_for_model(cat_image, lite0.input_size)
    guided = sanity_check(lite0, image, "guided_backprop", max_stages=6)
    plain = sanity_check(lite0, image, "saliency", max_stages=6)
    assert len(guided.steps) == len(plain.steps) == 7
    assert guided.steps[1].spearman > 0.9 and guided.steps[1].ssim > 0.85, _steps(guided)
    assert plain.steps[1].spearman < 0.5, _steps(plain)
    assert min(s.spearman for s in guided.steps[1:4]) > 0.7, _steps(guided)  # half the blocks random
    final = guided.steps[-1]
    assert max(abs(final.spearman), final.ssim) < 0.5, _steps(guided)  # the end alone would pass it
    assert not guided.passed and guided.cascade_similarity > 0.6, _steps(guided)
    assert guided.reading().startswith("Failed: the Guided Backprop map kept looking like the original")
    assert plain.passed and plain.cascade_similarity < 0.4, _steps(plain)
    gradcam = sanity_check(lite0, image, "gradcam", max_stages=6)
    assert gradcam.passed, _steps(gradcam)


def test_guided_backprop_fails_on_a_deep_plain_relu_network():
    """Where the failure shows: the suite's seeded VGG16 (13 ReLU convolutions, 64 px). Measured: Guided
    Backprop keeps rank correlation 0.97 down to block3 and ends at 0.61 / SSIM 0.51 with every layer
    random (failed); saliency ends at 0.28 / 0.06 (passed)."""
    from test_explain_methods import MODELS, pixels  # tests/ is on sys.path under pytest

    vgg = MODELS["vgg16_64"]()
    image = pixels(1, 64, seed=1)[0]
    guided = sanity_check(vgg, image, "guided_backprop")
    plain = sanity_check(vgg, image, "saliency")
    assert not guided.passed and guided.reading().startswith("Failed"), _steps(guided)
    assert plain.passed, _steps(plain)
    assert min(s.spearman for s in guided.steps[1:6]) > 0.9, _steps(guided)  # top half random: unchanged


def test_pointing_game_beats_centre_bias(trained, held_out):
    images, labels, masks = held_out
    accuracy = float(np.mean(trained.predict(images, verbose=0).argmax(-1) == labels))
    assert accuracy > 0.35  # chance is 0.25
    # Shapes sit near the middle, so the centre-bias map is a strong reference. SmoothGrad's fine map
    # beats it; Grad-CAM's coarse 8x8 map (on 32-pixel images) at least beats a uniform map's energy.
    scores = {s.method: s for s in score_arrays(trained, images, masks, ["smoothgrad", "gradcam"], labels,
                                               params={"smoothgrad": {"samples": 10}})}
    report = (accuracy, {k: v.to_json() for k, v in scores.items()})
    assert scores["smoothgrad"].pointing > scores["centre-bias"].pointing + 0.05, report
    assert scores["gradcam"].energy > scores["uniform"].energy, report


def test_ground_truth_maths():
    mask = np.zeros((10, 10), bool)
    mask[2:4, 2:4] = True
    heat = np.zeros((10, 10), np.float32)
    heat[3, 3], heat[8, 8] = 1.0, 1.0
    assert energy_in_mask(heat, mask) == pytest.approx(0.5)
    assert pointing_hit(heat, mask)  # the first maximum in raster order is (3, 3)
    heat[3, 3] = 0.5
    assert not pointing_hit(heat, mask) and not pointing_hit(heat, mask, tolerance=3)
    assert pointing_hit(heat, mask, tolerance=8)  # (8, 8) is about 7 pixels from the mask
    assert energy_in_mask(np.zeros((10, 10)), mask) == 0.0
    assert centre_bias_map((9, 9))[4, 4] == pytest.approx(1.0)
    assert similarity(heat, heat) == pytest.approx((1.0, 1.0))
    assert similarity(heat, np.zeros_like(heat)) == (0.0, 0.0)
    with pytest.raises(ParameterError, match="tolerance"):
        score_arrays(None, np.zeros((1, 4, 4, 3)), [mask], ["gradcam"], tolerance=-1)


def test_fresh_copy_is_independent(trained):
    copy = fresh_copy(trained)
    copy.get_layer("logits").kernel.assign(np.zeros_like(copy.get_layer("logits").kernel.numpy()))
    assert np.abs(trained.get_layer("logits").kernel.numpy()).sum() > 0


# -- the CLI -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from core.zoo.scratch import small_cnn

    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("trust_cli") / "cnn.keras"
    small_cnn(4, (SIZE, SIZE)).save(path)
    return path


@pytest.fixture(scope="module")
def shape_png(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("trust_img") / "star.png"
    Image.fromarray(shapes.render_shape(3, SIZE, 0, 1)[0]).save(path)
    return path


def _cli(argv, capsys):
    from core.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_scores_images(saved_model, shape_png, capsys):
    code, out, err = _cli(["trust", "--model", str(saved_model), "--method", "gradcam,saliency",
                           "--steps", "8", str(shape_png), "--json"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["method"] for r in rows] == ["gradcam", "saliency"]
    for row in rows:
        f = row["faithfulness"]
        assert 0 <= f["deletion_auc"] <= 1 and 0 <= f["insertion_auc"] <= 1 and f["steps"] == 8
        assert row["sanity"]["steps"][0]["layer"] == "original" and isinstance(row["sanity"]["passed"], bool)
    code, out, _ = _cli(["trust", "--model", str(saved_model), "--no-sanity", "--baseline", "black",
                         str(shape_png)], capsys)
    assert code == 0 and "deletion AUC" in out and "sanity" not in out


def test_cli_scores_a_dataset(saved_model, capsys):
    from core.data import builtin

    folder = builtin.materialise("shapes", image_size=SIZE, per_class=10)
    code, out, err = _cli(["trust", "--model", str(saved_model), "--data", str(folder), "--method", "gradcam",
                           "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["split"] == "test" and [s["method"] for s in report["scores"]] == ["gradcam", "centre-bias",
                                                                                   "uniform"]
    assert report["scores"][0]["images"] == 8  # 2 test images per class
    code, out, _ = _cli(["trust", "--model", str(saved_model), "--data", str(folder)], capsys)
    assert code == 0 and "pointing game" in out


@pytest.mark.parametrize("argv,message", [
    (["--method", "nope", "x.png"], "Unknown explanation method 'nope'"),
    (["--baseline", "grey", "x.png"], "--baseline must be one of"),
    ([], "either images"),
    (["--data", "shapes", "x.png"], "either images"),
    (["--steps", "1", "x.png"], "--steps must be from 2 to 512"),
])
def test_cli_rejects_nonsense(saved_model, capsys, argv, message):
    try:
        code, _, err = _cli(["trust", "--model", str(saved_model), *argv], capsys)
    except SystemExit as exc:  # argparse errors
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and message in err


def test_shortcut_report_runs_on_a_small_shortcut_dataset(trained):
    from core.data import builtin
    from core.trust.shortcut import shortcut_config, shortcut_report
    from core.zoo.loaded import LoadedModel

    folder = builtin.materialise("shapes-shortcut", image_size=SIZE, per_class=10)
    loaded = LoadedModel("test", trained, (SIZE, SIZE), list(shapes.SHAPE_CLASSES), "conv3", "a test model")
    seen = []
    report = shortcut_report(loaded, str(folder), examples=2, progress=lambda fraction, text: seen.append(text))
    assert seen[:2] == ["Scoring the watermarked validation images and the clean test images",
                        "Stamping the watermark on clean test images"]
    assert len(seen) == 3 and re.fullmatch(r"Explaining [1-9]\d* watermarked circles", seen[2]), seen
    assert 0 <= report.val_accuracy <= 1 and 0 <= report.test_circle_accuracy <= 1
    side = shapes.watermark_box(SIZE)[2] - shapes.watermark_box(SIZE)[0]
    assert report.box_area == pytest.approx(side * side / SIZE**2)
    assert len(report.examples) == 2 and report.examples[0]["heatmap"].shape == (SIZE, SIZE)
    assert "accuracy_drop" in report.to_json() and report.reading()
    assert shortcut_config(epochs=3).validate().data == "shapes-shortcut"


def test_method_table_ranks_methods_against_a_random_map(trained, held_out):
    from core.trust.faithfulness import deletion_insertion, random_heatmap
    from core.trust.table import method_table
    from core.zoo.loaded import LoadedModel

    images, labels, _ = held_out
    loaded = LoadedModel("test", trained, (SIZE, SIZE), list(shapes.SHAPE_CLASSES), "conv3", "a test model")
    seen = []
    table = method_table(loaded, images[:4], labels[:4], ["gradcam", "saliency"], steps=8,
                         progress=lambda f, text: seen.append((f, text)))
    assert sorted(r.method for r in table.rows) == ["gradcam", "random", "saliency"]
    assert [r.score for r in table.rows] == sorted((r.score for r in table.rows), reverse=True)
    # The means are the per-image numbers, recomputed here one heatmap at a time.
    from core.explain import explain

    exps = explain(trained, images[:4], "gradcam", layer="conv3", target=[int(v) for v in labels[:4]])
    curves = [deletion_insertion(trained, im, e.heatmap, int(t), "blur", 8)
              for im, e, t in zip(images[:4], exps, labels[:4], strict=True)]
    row = table.row("gradcam")
    assert row.images == 4
    assert row.deletion == pytest.approx(np.mean([c.deletion_auc / c.deletion[0] for c in curves]), abs=1e-5)
    assert row.average_drop == pytest.approx(100 * np.mean([max(0, c.deletion[0] - c.shown) / c.deletion[0]
                                                            for c in curves]), abs=1e-3)
    reference = [deletion_insertion(trained, im, random_heatmap((SIZE, SIZE), seed=n), int(t), "blur", 8)
                 for n, (im, t) in enumerate(zip(images[:4], labels[:4], strict=True))]
    assert table.row("random").score == pytest.approx(np.mean([c.relative_insertion - c.relative_deletion
                                                               for c in reference]), abs=1e-5)
    better = [r.method for r in table.rows if r.method != "random" and r.score > table.row("random").score]
    assert table.recommended == (better[0] if better else None)
    assert (table.recommended or "No method") in table.reason
    assert seen and seen[-1][0] < 1 and all(0 <= f <= 1 for f, _ in seen)
    assert any("Explaining images 1 to 4 of 4 with saliency" in text for _, text in seen)
    with pytest.raises(ParameterError, match="4 images but 3 classes"):
        method_table(loaded, images[:4], labels[:3], ["gradcam"])


def test_recommendation_says_when_nothing_beats_random():
    from core.trust.faithfulness import Curves
    from core.trust.table import MethodRow, _recommend

    def row(name, deletion):
        fractions = np.linspace(0, 1, 3)
        return MethodRow(name, [Curves(0, "blur", fractions, np.array([1.0, deletion, 0.0]),
                                       np.array([0.0, 0.5, 1.0]), 1.0, 0.5)])

    rows = [row("random", 0.1), row("gradcam", 0.9)]
    assert _recommend(rows, rows[0], 1) == (None, pytest.approx(_recommend(rows, rows[0], 1)[1]))
    assert "No method beats a random map on 1 image" in _recommend(rows, rows[0], 1)[1]
    rows = [row("gradcam", 0.1), row("saliency", 0.3), row("random", 0.9)]
    method, reason = _recommend(rows, rows[2], 5)
    assert method == "gradcam" and "next is saliency" in reason and "on 5 images" in reason


def test_cli_method_table_on_a_dataset_with_and_without_masks(saved_model, capsys, tmp_path):
    from PIL import Image

    from core.data import builtin

    folder = builtin.materialise("shapes", image_size=SIZE, per_class=10)
    code, out, err = _cli(["trust", "--model", str(saved_model), "--data", str(folder), "--method", "all",
                           "--curves", "2", "--steps", "4", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    from core.explain import method_names

    assert sorted(r["method"] for r in report["methods"]) == sorted([*method_names(), "random"])
    assert report["curve_images"] == 2 and report["images"] == 8
    assert {"relative_deletion", "relative_insertion", "average_drop", "increase_in_confidence"} <= set(
        report["methods"][0])
    assert "scores" in report and report["recommended"]["reason"]
    # A folder of the user's own photos has no masks: the table still comes, and says so.
    plain = tmp_path / "plain"
    for label, name in enumerate(shapes.SHAPE_CLASSES):
        (plain / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(shapes.render_shape(label, SIZE, 0, 100 + i)[0]).save(plain / name / f"{i}.png")
    code, out, err = _cli(["trust", "--model", str(saved_model), "--data", str(plain), "--split", "all",
                           "--method", "gradcam,saliency", "--curves", "3", "--steps", "4"], capsys)
    assert code == 0, err
    assert "no ground-truth masks" in out and "Recommended:" in out and "Avg Drop" in out


def _photo_folder(root, per_class: int, first: int = 0):
    from PIL import Image

    for label, name in enumerate(shapes.SHAPE_CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(first, first + per_class):
            Image.fromarray(shapes.render_shape(label, SIZE, 0, i)[0]).save(root / name / f"{i}.png")
    return root


def test_a_runs_images_are_split_the_way_the_run_was_trained(saved_model, tmp_path):
    """A run's own dataset is scored on the run's own held-out images (its val_fraction and seed), and
    a dataset it never trained on is scored whole, as Evaluate scores them."""
    import shutil

    from core.evaluate import open_split
    from core.trust.ground_truth import load_scored_images
    from core.zoo import load_model

    own = _photo_folder(tmp_path / "own", 10)
    other = _photo_folder(tmp_path / "other", 3, first=50)
    run = tmp_path / "runs" / "shapes-run"
    run.mkdir(parents=True)
    shutil.copy(saved_model, run / "model.keras")
    (run / "run.json").write_text(json.dumps({"name": "shapes-run", "status": "complete",
                                              "class_names": list(shapes.SHAPE_CLASSES)}))
    (run / "config.json").write_text(json.dumps({"data": str(own), "val_fraction": 0.3, "test_fraction": 0.0,
                                                 "seed": 7}))
    loaded = load_model(str(run))
    scored = load_scored_images(loaded, str(own), limit=None, need_masks=False)
    expected = open_split(own, "val", val_fraction=0.3, seed=7)
    assert scored.split == "val" and len(scored.labels) == len(expected.items) == 12
    assert sorted(scored.labels) == sorted(int(i.label) for i in expected.items)
    assert "val_fraction 0.3" in scored.scope and "12 of its 40 images" in scored.scope
    whole = load_scored_images(loaded, str(other), limit=None, need_masks=False)
    assert whole.split == "all" and len(whole.labels) == 12 and "held out" in whole.scope
    sample = load_scored_images(loaded, str(other), limit=4, need_masks=False)
    assert sample.scope.startswith("a class-balanced sample of 4 images") and sorted(sample.labels) == [0, 1, 2, 3]
    # A run whose classes are in another order explains each image's own class, matched by name.
    names = sorted(shapes.SHAPE_CLASSES)  # the dataset's classes: its folders in sorted order
    shutil.copytree(run, run.parent / "reordered")
    (run.parent / "reordered" / "run.json").write_text(json.dumps(
        {"name": "reordered", "status": "complete", "class_names": names[::-1]}))
    run = run.parent / "reordered"
    reordered = load_scored_images(load_model(str(run)), str(other), limit=4, need_masks=False)
    assert reordered.labels == [3, 2, 1, 0]
    (other / "hexagon").mkdir()
    (other / shapes.SHAPE_CLASSES[0]).rename(other / "hexagon" / "moved")
    from core.evaluate.classmap import ClassMappingError

    with pytest.raises(ClassMappingError, match="hexagon"):
        load_scored_images(load_model(str(run)), str(other), limit=4, need_masks=False)


def test_the_verdict_reads_the_whole_cascade_not_only_its_end():
    from core.trust.sanity import SanityResult, SanityStep

    def result(values):
        steps = [SanityStep("original", 0, np.zeros((2, 2)), 1.0, 1.0)]
        steps += [SanityStep(f"layer{i}", i, np.zeros((2, 2)), rho, ssim) for i, (rho, ssim) in enumerate(values, 1)]
        return SanityResult("saliency", 0, steps)

    survives = result([(0.95, 0.9), (0.9, 0.85), (0.8, 0.7), (0.3, 0.2)])  # changes only at the end
    assert survives.cascade_similarity == pytest.approx((0.95 + 0.9 + 0.8 + 0.3) / 4)
    assert not survives.passed and "changed only near the first layers" in survives.reading()
    assert result([(0.4, 0.3), (-0.45, 0.2), (0.2, 0.1)]).passed  # |rho| counts: anti-correlated is similar
    assert not result([(0.1, 0.1), (0.1, 0.1), (0.6, 0.2)]).passed  # low on average, similar at the end
    assert result([(0.1, 0.1)]).to_json()["cascade_similarity"] == 0.1
