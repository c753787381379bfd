"""Evaluation end to end with tiny colour models that are right (or wrong) by construction.

The models average the image's colour and score class ``c`` with ``SCALE * mean(channel c)``, so
their probabilities are known in closed form: ``softmax(SCALE * rgb)`` for a uniform image.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ParameterError

SIZE = 8
SCALE = 0.02
CLASSES = ["blue", "green", "red"]  # the dataset's (sorted) folder order
RGB_COLUMNS = [2, 1, 0]  # output column of the red, green and blue channel
PURE = {  # a few uniform colours per class, all clearly of that class
    "red": [(255, 0, 0), (200, 20, 10), (150, 0, 30)],
    "green": [(0, 255, 0), (20, 180, 10), (40, 220, 60)],
    "blue": [(0, 0, 255), (10, 30, 170), (60, 40, 230)],
}
# Labelled red but greener than red: the model says green, more confidently the larger the gap.
MISLABELLED_RED = [(100, 150, 0), (50, 250, 0), (100, 200, 0)]
EXPECTED_ORDER = [(50, 250, 0), (100, 200, 0), (100, 150, 0)]  # most confident first


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _colour_model(columns: list[int], num_outputs: int):
    """Identity 1x1 conv -> average pooling -> Dense (channel c feeds output columns[c]) -> softmax."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(3, 1, use_bias=False, name="conv")  # identity: a CNN with a layer to explain
    x = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    logits = keras.layers.Dense(num_outputs, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
    model = keras.Model(inputs, outputs, name="colour")
    kernel = np.zeros((3, num_outputs), np.float32)
    for channel, column in enumerate(columns):
        kernel[channel, column] = SCALE
    conv.set_weights([np.eye(3, dtype=np.float32)[None, None]])
    model.get_layer("logits").set_weights([kernel, np.zeros(num_outputs, np.float32)])
    return model


def _write(path: Path, rgb: tuple[int, int, int], side: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((side, side, 3), rgb, np.uint8)).save(path)


def _name(rgb) -> str:
    return "c{:03d}-{:03d}-{:03d}.png".format(*rgb)


@pytest.fixture(scope="module")
def colour_data(tmp_path_factory) -> Path:
    """train/val/test folders; val is all pure colours, test adds the mislabelled reds."""
    root = tmp_path_factory.mktemp("colours")
    for split in ("train", "val", "test"):
        for name, colours in PURE.items():
            for rgb in colours:
                _write(root / split / name / _name(rgb), rgb)
    for rgb in MISLABELLED_RED:
        _write(root / "test" / "red" / _name(rgb), rgb)
    return root


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory, colour_data) -> Path:
    """A run folder: model.keras, run.json with class names, config.json naming the dataset."""
    run_dir = tmp_path_factory.mktemp("runs") / "colour-run"
    run_dir.mkdir()
    _colour_model(RGB_COLUMNS, 3).save(run_dir / "model.keras")
    (run_dir / "run.json").write_text(json.dumps({"name": "colour-run", "status": "complete",
                                                  "class_names": CLASSES}))
    (run_dir / "config.json").write_text(json.dumps({"data": str(colour_data), "val_fraction": 0.2,
                                                     "test_fraction": 0.0, "seed": 0}))
    return run_dir


@pytest.fixture(scope="module")
def loaded_run(colour_run):
    from core.zoo import load_model

    return load_model(str(colour_run))


@pytest.fixture(scope="module")
def test_result(loaded_run, colour_data):
    from core.evaluate import ResultCache, evaluate_split, open_split

    return evaluate_split(loaded_run, open_split(colour_data, "test"), batch_size=4, cache=ResultCache())


def _rgb_of(path: str) -> tuple[int, int, int]:
    return tuple(int(v) for v in Path(path).stem[1:].split("-"))


def test_right_by_construction_gives_a_diagonal_matrix(loaded_run, colour_data):
    from core.evaluate import evaluate, open_split

    split = open_split(colour_data, "val")
    calls = []
    result = evaluate(loaded_run, split.items, split.class_names, batch_size=4, split="val",
                      progress=lambda fraction, text: calls.append((fraction, text)))
    np.testing.assert_array_equal(result.confusion, np.diag([3, 3, 3]))
    assert result.accuracy == 1.0 and result.top_k_accuracy(1) == 1.0
    assert result.per_class.f1.tolist() == [1.0, 1.0, 1.0]
    assert calls == [(4 / 9, "Scoring 4 of 9 images"), (8 / 9, "Scoring 8 of 9 images"),
                     (1.0, "Scoring 9 of 9 images")]  # batches of 4, progress after each
    for p in result.predictions:  # confidences equal the closed-form softmax
        expected = _softmax(SCALE * np.array(_rgb_of(p["path"]), np.float64)[::-1])  # blue, green, red
        assert p["confidence"] == pytest.approx(expected.max(), abs=1e-5)
        assert p["prob_true"] == pytest.approx(expected[p["true"]], abs=1e-5)


def test_metrics_on_predictions_match_sklearn(test_result):
    from sklearn import metrics as skm

    y_true = [p["true"] for p in test_result.predictions]
    y_pred = [p["pred"] for p in test_result.predictions]
    np.testing.assert_array_equal(test_result.confusion, skm.confusion_matrix(y_true, y_pred, labels=[0, 1, 2]))
    np.testing.assert_array_equal(test_result.confusion, [[3, 0, 0], [0, 3, 0], [0, 3, 3]])
    assert test_result.accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred))
    _, recall, f1, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(test_result.per_class.recall, recall)
    np.testing.assert_allclose(test_result.per_class.f1, f1)
    report = json.loads(test_result.to_json())
    assert report["labels"] == CLASSES and report["confusion_matrix"][2] == [0, 3, 3]
    assert report["per_class"][2] == pytest.approx(
        {"label": "red", "precision": 1.0, "recall": 0.5, "f1": f1[2], "support": 6})
    assert len(report["predictions"]) == 12 and report["calibration"]["n_bins"] == 15


def test_drilldown_returns_the_cell_most_confident_first(test_result):
    from core.evaluate import cell_items, top_mistakes

    cell = cell_items(test_result, "red", "green")
    assert [_rgb_of(p["path"]) for p in cell] == EXPECTED_ORDER
    assert all(p["true"] == 2 and p["pred"] == 1 for p in cell)
    assert cell_items(test_result, 2, 1, limit=2) == cell[:2]
    diagonal = cell_items(test_result, "blue", "blue")
    assert sorted(_rgb_of(p["path"]) for p in diagonal) == sorted(PURE["blue"])
    assert [p["confidence"] for p in diagonal] == sorted((p["confidence"] for p in diagonal), reverse=True)
    assert cell_items(test_result, "green", "red") == []
    assert top_mistakes(test_result, n=10) == cell  # the only mistakes, same order
    assert top_mistakes(test_result, n=1, true="red") == cell[:1]
    with pytest.raises(ParameterError, match="true"):
        cell_items(test_result, "purple", "red")
    with pytest.raises(ParameterError, match="pred"):
        cell_items(test_result, 2, 3)


def _imagenet_loaded():
    from core.zoo import LoadedModel, imagenet_labels

    labels = list(imagenet_labels())
    columns = [labels.index("goldfish"), labels.index("tree frog"), labels.index("jellyfish")]
    return LoadedModel(name="tiny-imagenet", model=_colour_model(columns, 1000), input_size=(SIZE, SIZE),
                       class_names=labels, default_cam_layer="", source="test"), columns


def test_zoo_model_is_matched_to_imagenet_folder_names(tmp_path):
    from core.evaluate import ResultCache, evaluate_split, open_split

    for folder, rgb in (("goldfish", (250, 0, 0)), ("tree_frog", (0, 240, 0)), ("Jellyfish", (0, 0, 230))):
        for i in range(3):
            _write(tmp_path / folder / f"{i}.png", tuple(int(v * (1 - 0.1 * i)) for v in rgb))
    loaded, columns = _imagenet_loaded()
    result = evaluate_split(loaded, open_split(tmp_path, "val", val_fraction=0.5), cache=ResultCache())
    assert result.class_names == ["Jellyfish", "goldfish", "tree_frog"]  # folder order
    assert result.class_map.columns == (columns[2], columns[0], columns[1])
    assert result.accuracy == 1.0 and result.outside_fraction == 0.0
    np.testing.assert_array_equal(result.confusion, np.diag(np.diag(result.confusion)))
    # Restricted to three classes and renormalised: softmax over the three mapped logits.
    p = result.predictions[0]
    rgb = np.array(_rgb_of_image(p["path"]), np.float64)
    logits = SCALE * np.array([rgb[2], rgb[0], rgb[1]])
    assert p["confidence"] == pytest.approx(_softmax(logits).max(), abs=1e-5)


def _rgb_of_image(path: str) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.asarray(Image.open(path))[0, 0])


def test_unmatched_folders_are_listed_in_the_error(tmp_path):
    from core.evaluate import ClassMappingError, map_classes

    loaded, _ = _imagenet_loaded()
    with pytest.raises(ClassMappingError, match=r"notaclass, 7\b"):
        map_classes(loaded, ["goldfish", "notaclass", "7"])
    with pytest.raises(ClassMappingError, match="both name"):
        map_classes(loaded, ["goldfish", "Goldfish"])


def test_run_classes_are_matched_by_name_and_others_refused(loaded_run):
    from core.evaluate import ClassMappingError, map_classes

    assert map_classes(loaded_run, CLASSES).kind == "identity"
    permuted = map_classes(loaded_run, ["red", "blue", "green"])  # same classes, another order
    assert permuted.kind == "by-name" and permuted.columns == (2, 0, 1)
    with pytest.raises(ClassMappingError, match="not in the run: yellow; not in the dataset: blue"):
        map_classes(loaded_run, ["red", "green", "yellow"])


def test_a_model_file_that_names_no_classes_is_scored_by_position(tmp_path, colour_data):
    """A bare .keras file (no run.json) with as many outputs as the dataset has classes: folder k is
    output k, as in training; before, every folder was 'not a class of the model' and nothing scored."""
    from core.evaluate import ClassMappingError, evaluate_split, map_classes, open_split
    from core.zoo import load_model

    path = tmp_path / "bare.keras"
    _colour_model(RGB_COLUMNS, 3).save(path)
    loaded = load_model(str(path))
    assert loaded.class_names == ["class 0", "class 1", "class 2"]
    mapping = map_classes(loaded, CLASSES)
    assert mapping.kind == "by-position" and mapping.columns == (0, 1, 2) and not mapping.restricted
    result = evaluate_split(loaded, open_split(colour_data, "val"), batch_size=4)
    assert result.accuracy == 1.0
    with pytest.raises(ClassMappingError):
        map_classes(loaded, CLASSES[:2])  # a count that differs is still refused


def test_unreadable_images_are_skipped_not_fatal(loaded_run, colour_data, tmp_path):
    from core.data.splits import Item
    from core.evaluate import evaluate, open_split

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    items = [*open_split(colour_data, "val").items, Item(broken, 2)]
    result = evaluate(loaded_run, items, CLASSES, batch_size=5)
    assert result.num_items == 9 and len(result.skipped) == 1
    assert result.skipped[0]["path"] == str(broken) and "broken.png" in result.skipped[0]["reason"]


def test_cache_reuses_results_until_the_model_or_an_image_changes(loaded_run, colour_data):
    from core.evaluate import ResultCache, evaluate_split, open_split

    cache = ResultCache()
    calls = []
    first = evaluate_split(loaded_run, open_split(colour_data, "val"), cache=cache,
                           progress=lambda f, t: calls.append(t))
    again = evaluate_split(loaded_run, open_split(colour_data, "val"), cache=cache,
                           progress=lambda f, t: calls.append(t))
    assert again is first and calls == ["Scoring 9 of 9 images"]
    stat = loaded_run.path.stat()
    os.utime(loaded_run.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # "retrained"
    assert evaluate_split(loaded_run, open_split(colour_data, "val"), cache=cache) is not first
    image = open_split(colour_data, "val").items[0].path
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = evaluate_split(loaded_run, open_split(colour_data, "val"), cache=cache)
    assert changed is not first and len(cache) == 3
    assert evaluate_split(loaded_run, open_split(colour_data, "test"), cache=cache).split == "test"


def test_result_cache_is_bounded_and_computes_once():
    from core.evaluate import ResultCache

    cache = ResultCache(max_entries=2, max_size=10)
    cache.put("a", 1, size=4)
    cache.put("b", 2, size=4)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3, size=4)  # too many entries: b (least recently used) goes
    assert "b" not in cache and "a" in cache and "c" in cache
    cache.put("d", 4, size=9)  # too large together: everything older goes, d stays however big
    assert len(cache) == 1 and cache.get("d") == 4
    calls = []
    barrier = threading.Barrier(4)

    def slow():
        calls.append(1)
        return "value"

    def worker(out):
        barrier.wait()
        out.append(cache.get_or_compute("k", slow))

    results: list[str] = []
    threads = [threading.Thread(target=worker, args=(results,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["value"] * 4 and len(calls) == 1


def test_exports_are_written_and_readable(test_result, tmp_path):
    from core.evaluate import export

    hostile = replace(test_result, class_names=["blue", "<script>alert(1)</script>", "=HYPERLINK(\"x\")"])
    export.write_predictions_csv(hostile, tmp_path / "p.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "p.csv").read_text())))
    assert len(rows) == 12 and rows[0].keys() >= {"path", "true_label", "pred_label", "confidence"}
    by_path = {r["path"]: r for r in rows}
    for p in test_result.predictions:
        row = by_path[p["path"]]
        assert int(row["true_index"]) == p["true"] and int(row["pred_index"]) == p["pred"]
        assert float(row["confidence"]) == pytest.approx(p["confidence"], abs=1e-6)
    assert {r["true_label"] for r in rows} >= {"'=HYPERLINK(\"x\")"}  # defused for spreadsheets

    export.write_confusion_png(hostile, tmp_path / "m.png", title="colours")
    with Image.open(tmp_path / "m.png") as png:
        assert png.format == "PNG" and png.width > 3 * 12 and png.height > 3 * 12
        pixels = np.asarray(png.convert("RGB"))
    assert (pixels.reshape(-1, 3) == [8, 48, 107]).all(axis=1).any()  # a full-row cell is darkest blue

    export.write_confusion_html(hostile, tmp_path / "m.html", title="colours")
    text = (tmp_path / "m.html").read_text()
    assert len(text) > 1_000_000  # plotly.js is embedded
    assert re.search(r"<script[^>]*\bsrc=", text) is None  # no script fetched from a CDN
    assert "<script>alert(1)</script>" not in text
    figure = export.reliability_figure(test_result)
    assert len(figure.data) == 2


def test_cli_evaluate_json(colour_run, colour_data, tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "exports"
    code = main(["evaluate", "--model", str(colour_run), "--data", str(colour_data), "--split", "test",
                 "--json", "--batch-size", "5", "--out", str(out)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"accuracy", "labels", "confusion_matrix", "per_class", "top_k_accuracy", "calibration",
            "predictions"} <= report.keys()
    assert report["accuracy"] == pytest.approx(0.75) and report["labels"] == CLASSES
    assert report["confusion_matrix"] == [[3, 0, 0], [0, 3, 0], [0, 3, 3]]
    assert [r["label"] for r in report["per_class"]] == CLASSES
    assert all(Path(p).is_file() for p in report["exports"].values())


def test_cli_evaluate_text_defaults_to_the_runs_dataset(colour_run, capsys):
    from core.cli import main

    assert main(["evaluate", "--model", str(colour_run), "--split", "val"]) == 0
    text = capsys.readouterr().out
    assert "accuracy 100.0%" in text and "confusion matrix" in text


def test_cli_evaluate_class_mismatch_is_one_sentence(colour_run, tmp_path, capsys):
    from core.cli import main

    for folder in ("red", "green", "yellow"):
        for i in range(2):
            _write(tmp_path / folder / f"{i}.png", (i, 0, 0))
    assert main(["evaluate", "--model", str(colour_run), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Run colour-run was trained on the classes") and err.count("\n") == 1


@pytest.fixture(scope="module")
def other_pool(tmp_path_factory) -> Path:
    """A pool of class folders (no splits) the colour run never saw: 5 images per class."""
    root = tmp_path_factory.mktemp("other-colours")
    shades = {"red": (230, 10, 20), "green": (15, 210, 30), "blue": (20, 25, 220)}
    for name, (r, g, b) in shades.items():
        for i in range(5):
            _write(root / name / f"{name}{i}.png", (max(r - 9 * i, 0), max(g - 9 * i, 0), max(b - 9 * i, 0)))
    return root


def test_cli_scores_every_image_of_a_dataset_that_is_not_the_runs_own(colour_run, other_pool, capsys):
    from core.cli import main

    assert main(["evaluate", "--model", str(colour_run), "--data", str(other_pool), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_items"] == 15 and report["split"] == "all"  # not a 20% "val" slice of it
    assert sorted(Path(p["path"]).name for p in report["predictions"]) == sorted(
        p.name for p in other_pool.rglob("*.png"))
    assert report["scored"]["held_out"] is True and report["scored"]["dataset_images"] == 15
    assert "all 15 images" in report["scored"]["description"]
    # The baseline learns from the run's own training images (as the CNN did) and is scored on the same 15.
    assert main(["evaluate", "--model", str(colour_run), "--data", str(other_pool), "--baseline", "--json"]) == 0
    base = json.loads(capsys.readouterr().out)["baseline"]
    from core.evaluate import open_split, run_dataset, run_split_settings
    from core.zoo import load_model

    loaded = load_model(str(colour_run))
    own = open_split(run_dataset(loaded), "train", **run_split_settings(loaded))
    assert base["trained_on"] == own.dataset_id and base["train_size"] == len(own.items)
    assert base["test_size"] == 15
    # Asked for, a split of it is still scored, and the report says which part of the dataset that is.
    assert main(["evaluate", "--model", str(colour_run), "--data", str(other_pool), "--split", "val"]) == 0
    text = capsys.readouterr().out
    assert "scored: the val split of" in text and "of its 15 images" in text


def test_the_runs_own_dataset_is_not_held_out(colour_run, colour_data, capsys):
    from core.cli import main

    assert main(["evaluate", "--model", str(colour_run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "test" and report["scored"]["held_out"] is False
    assert report["scored"]["num_images"] == 12 and report["scored"]["dataset_images"] == 30


def test_baseline_on_every_image_says_it_needs_a_train_split(loaded_run, other_pool):
    from core.evaluate import ResultCache, baseline_split, open_split

    split = open_split(other_pool, held_out=True)
    assert split.split == "all" and len(split.items) == 15
    with pytest.raises(ParameterError, match="choose its val or test split"):
        baseline_split(split, cache=ResultCache())


def test_same_dataset_matches_an_id_its_folder_and_a_zip_its_import(tmp_path, other_pool):
    import shutil

    from core.data.builtin import builtin_root
    from core.data.dataset import import_zip
    from core.evaluate.source import same_dataset

    assert same_dataset("shapes", builtin_root() / "shapes")
    assert not same_dataset("shapes", other_pool) and not same_dataset(str(other_pool), "faces")
    archive = Path(shutil.make_archive(str(tmp_path / "pool"), "zip", other_pool))
    assert same_dataset(archive, import_zip(archive)) and not same_dataset(archive, other_pool)


def test_a_held_out_pool_with_its_classes_in_another_order_gets_the_runs_images_renumbered(
        colour_run, other_pool, tmp_path):
    """The baseline of a held-out pool learns from the run's own training images; when the pool declares its
    classes in another order, the training labels follow the class names, not the positions."""
    import shutil

    from core.evaluate import baseline_source, open_split, run_dataset, run_split_settings
    from core.zoo import load_model

    reordered = tmp_path / "reordered"
    shutil.copytree(other_pool, reordered)
    (reordered / "dataset.json").write_text(json.dumps({"id": "reordered", "class_names": ["green", "blue", "red"]}))
    loaded = load_model(str(colour_run))
    pool = open_split(reordered, held_out=True)
    assert list(pool.class_names) == ["green", "blue", "red"]
    learnt = baseline_source(loaded, pool)
    own = open_split(run_dataset(loaded), "train", **run_split_settings(loaded))
    assert learnt.train_source == own.dataset_id and len(learnt.train_items) == len(own.items)
    by_path = {item.path: own.class_names[item.label] for item in own.items}
    assert all(pool.class_names[item.label] == by_path[item.path] for item in learnt.train_items)
    assert list(pool.class_names) != list(own.class_names)  # the renumbering was needed
