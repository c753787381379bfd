"""The compression lab on a tiny small_cnn run trained here at 32 px: quantised variants load back and agree
with the original, an interrupted compress leaves nothing behind, nonsense variants are refused in one
sentence (core and CLI), and the CLI's JSON has the contract's keys."""

from __future__ import annotations

import io
import json
import threading
import zlib
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from test_train_engine import make_colour_dataset, scratch_config  # tests/ is on sys.path under pytest

from core.errors import ParameterError

KEYS = {"name", "format", "path", "size_bytes", "latency_ms", "accuracy", "agreement", "sparsity", "cam_agreement"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from core.train.engine import train

    data = make_colour_dataset(tmp_path_factory.mktemp("colours") / "colours", per_class=24)
    root = tmp_path_factory.mktemp("runs")
    result = train(scratch_config(data, epochs=3), runs_root=root)
    assert result.val_accuracy >= 0.8  # the run must have learned something for agreement to mean much
    return result.run_dir, root


@pytest.mark.parametrize("bad", ["int9", "prune:1.5", "prune:0", "prune:abc", "distil:nope", "", " , ",
                                 "float16,float16", "float16:3"])
def test_nonsense_variants_are_refused_in_one_sentence(bad):
    from core.compress import parse_variants

    with pytest.raises(ParameterError) as caught:
        parse_variants(bad)
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    for word in (w.strip() for w in bad.split(",") if w.strip()):
        assert word.split(":")[0] in message or word in message


def test_bad_distillation_parameters_are_refused_before_any_work(run, tmp_path):
    from core.compress import compress_run, parse_variants

    assert [s.name for s in parse_variants(["float16", "int8", "int8-full", "prune:0.5", "distil:small_cnn"])] \
        == ["float16", "int8", "int8-full", "prune-0.5", "distil-small_cnn"]
    with pytest.raises(ParameterError, match="alpha"):
        compress_run(run[0], "float16,distil:small_cnn", tmp_path / "out", root=run[1], distil={"alpha": 1.5})
    with pytest.raises(ParameterError, match="temperature"):
        compress_run(run[0], "distil:small_cnn", tmp_path / "out", root=run[1], distil={"temperature": 0})
    assert not (tmp_path / "out").exists()  # refused before the folder or the model


def test_quantised_variants_load_back_and_agree(run, tmp_path):
    from core.compress import compress_run, list_variants
    from core.compress.measure import batched, tflite_runner
    from core.train import runs

    out = tmp_path / "variants"
    (out / ".int8.partial-deadbeef").mkdir(parents=True)  # left by a killed compress: swept
    report = compress_run(run[0], "float16,int8,int8-full", out, root=run[1])
    assert not list(out.glob(".*"))
    assert report["split"] in ("test", "val")
    original = report["original"]
    assert original["accuracy"] >= 0.8 and original["agreement"] == 1.0
    names = [v["name"] for v in report["variants"]]
    assert names == ["float16", "int8", "int8-full"]
    assert sorted(v["name"] for v in list_variants(out)) == sorted(names)
    bound = {"float16": 0.97, "int8": 0.9, "int8-full": 0.85}
    split = runs.read_json(run[0], runs.SPLIT_FILE)
    from core.data.pipeline import load_for_model
    from core.train.data import items_from_split

    items = items_from_split(split, report["split"])
    images = np.stack([load_for_model(i.path, (32, 32)) for i in items])
    for variant in report["variants"]:
        assert KEYS <= set(variant)
        assert variant["agreement"] >= bound[variant["name"]], variant
        assert variant["latency_ms"] > 0 and variant["size_bytes"] == Path(variant["path"]).stat().st_size
        assert variant["size_bytes"] < original["size_bytes"]
        # Compressed size is a real deflate of the file: check against zlib directly (zip adds headers).
        assert abs(variant["compressed_bytes"] - len(zlib.compress(Path(variant["path"]).read_bytes(), 9))) < 400
        # Loads back from its final place and reproduces the reported accuracy.
        probs = batched(tflite_runner(Path(variant["path"]).read_bytes()), images)
        labels = np.array([i.label for i in items])
        assert float((probs.argmax(1) == labels).mean()) == pytest.approx(variant["accuracy"])
        saved = json.loads((Path(variant["path"]).parent / "variant.json").read_text())
        assert saved["accuracy"] == variant["accuracy"]
    cams = {v["name"]: v["cam_agreement"] for v in report["variants"]}
    assert cams["float16"] >= 0.95 and min(cams.values()) >= 0.5, cams  # quantisation barely moves the maps
    assert all("de-quantised" in v["cam_reason"] or "float16" in v["cam_reason"] for v in report["variants"])
    sizes = {v["name"]: v["size_bytes"] for v in report["variants"]}
    assert sizes["int8"] < sizes["float16"] and sizes["int8-full"] < sizes["float16"]


def test_a_stopped_compress_lists_no_variant_and_leaves_no_partial_folder(run, tmp_path):
    from core.compress import compress_run, list_variants
    from core.train.loop import StopRequested

    stop = threading.Event()
    seen = []

    def progress(fraction, text):
        seen.append(text)
        if "measuring" in text:  # mid-variant: after the build, before the rename
            stop.set()

    out = tmp_path / "stopped"
    with pytest.raises(StopRequested):
        compress_run(run[0], "float16", out, root=run[1], stop_event=stop, progress=progress)
    assert any("measuring" in t for t in seen)
    assert list_variants(out) == [] and list(out.iterdir()) == []


def test_an_exception_mid_variant_leaves_no_partial_folder(run, tmp_path, monkeypatch):
    from core.compress import compress_run, list_variants, measure

    def broken(*args, **kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(measure, "median_latency_ms", broken)
    out = tmp_path / "broken"
    with pytest.raises(RuntimeError, match="injected"):
        compress_run(run[0], "int8", out, root=run[1])
    assert list_variants(out) == [] and list(out.iterdir()) == []


def test_cli_json_keys_and_nonsense(run, tmp_path, capsys):
    from core.cli import main

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(["compress", "--model", str(run[0]), "--root", str(run[1]), "--variants", "int8",
                     "--out", str(tmp_path / "cli"), "--eval-images", "20", "--json"])
    assert code == 0
    report = json.loads(buffer.getvalue())
    assert set(report) >= {"original", "variants"}
    assert KEYS <= set(report["original"])
    assert [v["name"] for v in report["variants"]] == ["int8"] and KEYS <= set(report["variants"][0])

    capsys.readouterr()
    code = main(["compress", "--model", str(run[0]), "--root", str(run[1]), "--variants", "int9,prune:1.5",
                 "--out", str(tmp_path / "nonsense")])
    err = capsys.readouterr().err
    assert code == 2 and "int9" in err and err.count("\n") == 1
    code = main(["compress", "--model", str(run[0]), "--root", str(run[1]), "--variants", "distil:small_cnn",
                 "--alpha", "2", "--out", str(tmp_path / "nonsense")])
    err = capsys.readouterr().err
    assert code == 2 and "alpha" in err and err.count("\n") == 1
    assert not (tmp_path / "nonsense").exists()


def test_trainer_after_update_runs_after_every_optimizer_update():
    import keras
    import tensorflow as tf

    from core.train.loop import Trainer

    def make():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(3, name="d")(inputs))

    x, y = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32), np.arange(8, dtype=np.int32) % 3
    mask = tf.constant(np.eye(4, 3, dtype=np.float32))
    masked = make()
    kernel = masked.get_layer("d").kernel
    Trainer(masked, 3, 0.1, 10, after_update=lambda: kernel.assign(kernel * mask)).train_step(x, y)
    plain = make()
    Trainer(plain, 3, 0.1, 10).train_step(x, y)
    off = np.eye(4, 3) == 0
    assert np.all(kernel.numpy()[off] == 0)  # masked after the update
    assert np.all(plain.get_layer("d").kernel.numpy()[off] != 0)  # the same step without the hook


def test_magnitude_mask_is_exact_and_keeps_the_largest():
    from core.compress.prune import magnitude_mask

    values = np.random.default_rng(1).normal(size=(3, 3, 4, 8))
    mask = magnitude_mask(values, 0.3)
    assert int((mask == 0).sum()) == round(0.3 * values.size)
    assert np.abs(values[mask == 0]).max() <= np.abs(values[mask == 1]).min()


@pytest.mark.parametrize("sparsity", [0.5, 0.8])
def test_pruned_variant_is_as_sparse_as_reported_and_deflates_smaller(run, tmp_path, sparsity):
    from core.compress import compress_run
    from core.compress.prune import kernels
    from core.zoo.files import load_keras_file

    report = compress_run(run[0], f"prune:{sparsity}", tmp_path / "pruned", root=run[1])
    (variant,) = report["variants"]
    assert KEYS <= set(variant) and variant["format"] == "keras" and variant["name"] == f"prune-{sparsity:g}"
    loaded = load_keras_file(variant["path"])  # loads back from its final place
    values = [v.numpy() for v in kernels(loaded)]
    measured = sum(int((v == 0).sum()) for v in values) / sum(v.size for v in values)
    assert abs(measured - sparsity) <= 0.02 and variant["sparsity"] == pytest.approx(measured, abs=1e-4)
    assert all(abs(float((v == 0).mean()) - sparsity) <= 0.02 for v in values)  # layer by layer
    assert variant["compressed_bytes"] < report["original"]["compressed_bytes"]
    assert -1.0 <= variant["cam_agreement"] <= 1.0
    if sparsity == 0.5:  # at 0.8 this tiny net keeps only about two thirds of its answers (measured 0.67)
        assert variant["agreement"] >= 0.85, variant


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.0), (4.0, 0.7), (2.5, 1.0)])
def test_distillation_loss_matches_numpy(temperature, alpha):
    from core.compress.distil import distillation_loss

    rng = np.random.default_rng(3)
    s, t = rng.normal(size=(6, 5)) * 3, rng.normal(size=(6, 5)) * 3
    y = rng.integers(0, 5, 6)

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    ce = -np.log(softmax(s)[np.arange(6), y])
    p, q = softmax(t / temperature), softmax(s / temperature)
    kl = (p * np.log(p / q)).sum(1)
    expected = ((1 - alpha) * ce + alpha * temperature ** 2 * kl).mean()
    got = float(distillation_loss(s.astype(np.float32), t.astype(np.float32), y.astype(np.int32), temperature, alpha))
    assert got == pytest.approx(expected, rel=1e-5)


def test_distilled_student_loads_back_and_agrees(run, tmp_path):
    from core.compress import compress_run
    from core.zoo.files import load_keras_file

    report = compress_run(run[0], "distil:lenet5", tmp_path / "distilled", root=run[1],
                          distil={"epochs": 6, "temperature": 3.0, "alpha": 0.5})
    (variant,) = report["variants"]
    assert KEYS <= set(variant) and variant["format"] == "keras" and variant["name"] == "distil-lenet5"
    assert variant["params"] == {"temperature": 3.0, "alpha": 0.5, "epochs": 6, "learning_rate": 2e-3,
                                 "student": "lenet5"}
    student = load_keras_file(variant["path"])
    assert student.name == "lenet5" and tuple(student.inputs[0].shape[1:3]) == (32, 32)
    assert variant["size_bytes"] < report["original"]["size_bytes"]
    assert variant["agreement"] >= 0.8, variant
    assert -1.0 <= variant["cam_agreement"] <= 1.0  # a different network: its own default CAM layer


def test_cam_agreement_is_one_with_itself_and_lower_for_a_shuffled_model(run):
    import keras

    from core.compress.measure import cam_agreement
    from core.compress.quantise import _int8_per_channel
    from core.data.pipeline import load_for_model
    from core.train import runs
    from core.train.data import items_from_split
    from core.zoo.files import load_keras_file

    model = load_keras_file(Path(run[0]) / runs.MODEL_FILE)
    items = items_from_split(runs.read_json(run[0], runs.SPLIT_FILE), "val")[:6]
    images = np.stack([load_for_model(i.path, (32, 32)) for i in items])
    targets = np.asarray(model(images)).argmax(1)
    assert cam_agreement(model, model, images, targets) == pytest.approx(1.0)
    other = keras.models.clone_model(model)  # fresh random weights: it looks elsewhere
    other.build(model.inputs[0].shape)
    assert cam_agreement(model, other, images, targets) < 0.9
    kernel = np.random.default_rng(0).normal(size=(3, 3, 4, 5)).astype(np.float32)
    rounded = _int8_per_channel(kernel)
    scale = np.abs(kernel).reshape(-1, 5).max(0) / 127
    assert np.allclose(rounded / scale, np.round(rounded / scale), atol=1e-3)  # on the int8 grid per channel
    assert np.abs(rounded - kernel).max() <= scale.max() / 2 + 1e-6


def test_a_distilled_student_beats_the_same_student_trained_on_the_labels_alone():
    """Hinton et al.'s point, on a generated task (seeded): 25 labelled points in 20 dimensions, 5 classes
    given by a linear teacher. The labels alone leave a linear student guessing between the many boundaries
    that fit them; the teacher's softened logits pin down the one that generalises. The same student, the
    same steps, the distillation step the distil: variant trains with (alpha 0.9 against 0)."""
    import keras
    import tensorflow as tf

    from core.compress.distil import distil_trainer

    rng = np.random.default_rng(0)
    dims, classes = 20, 5
    weights = rng.normal(size=(dims, classes)).astype(np.float32)
    x_train, x_test = (rng.normal(size=(n, dims)).astype(np.float32) for n in (25, 2000))
    y_train, y_test = (np.argmax(x @ weights, axis=1).astype(np.int32) for x in (x_train, x_test))
    teacher = tf.constant(x_train @ weights)

    def test_accuracy(alpha: float) -> float:
        keras.utils.set_random_seed(1)
        inputs = keras.Input((dims,))
        student = keras.Model(inputs, keras.layers.Dense(classes)(inputs))
        trainer = distil_trainer(student, classes, total_steps=300, temperature=4.0, alpha=alpha,
                                 learning_rate=0.05)
        for _ in range(300):
            trainer.train_step((tf.constant(x_train), teacher), tf.constant(y_train))
        return float(np.mean(np.argmax(student(x_test).numpy(), axis=1) == y_test))

    labels_only, distilled = test_accuracy(0.0), test_accuracy(0.9)
    assert distilled > labels_only + 0.2 and distilled > 0.75, (labels_only, distilled)  # measured 0.48, 0.84
