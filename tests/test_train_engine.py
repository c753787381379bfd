"""The training engine end to end on a small generated dataset, with the from-scratch small CNN at 32x32.

Covers: reaching high accuracy, what a run folder holds, reloading reproduces the reported metrics,
seeded reproducibility, the stop button, NaN loss and bad data found late, adversarial training,
exports with parity checks, the CLI, and a run killed with SIGKILL at a random moment.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from core.errors import DataError
from core.train import runs
from core.train.config import AdversarialConfig, TrainConfig
from core.train.events import Listener

REPO = Path(__file__).resolve().parent.parent
CLASSES = ("red", "green", "blue")


def make_colour_dataset(root: Path, per_class: int = 40, size: int = 32, seed: int = 0) -> Path:
    """Three classes told apart by their dominant colour, with noise and a distracting patch."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            colour = rng.uniform(0, 110, 3)
            colour[label] = rng.uniform(150, 255)
            image = np.broadcast_to(colour, (size, size, 3)) + rng.normal(0, 20, (size, size, 3))
            y0, x0 = rng.integers(0, size // 2, 2)
            image[y0:y0 + size // 3, x0:x0 + size // 3] = rng.uniform(0, 255, 3)
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / name / f"{name}_{i:03d}.png")
    return root


class Recorder(Listener):
    def __init__(self) -> None:
        self.events: list[dict] = []

    def on_status(self, event: dict) -> None:
        self.events.append(event)

    def on_batch(self, event: dict) -> None:
        self.events.append(event)

    def on_epoch(self, event: dict) -> None:
        self.events.append(event)


def scratch_config(data: Path, **changes) -> TrainConfig:
    values = dict(data=str(data), model="small_cnn", image_size=32, epochs=4, learning_rate=0.002,
                  batch_size=16, val_fraction=0.25)
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    return make_colour_dataset(tmp_path_factory.mktemp("colours") / "colours")


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def scratch_run(colours, runs_root):
    from core.train.engine import train

    recorder = Recorder()
    result = train(scratch_config(colours), runs_root=runs_root, listener=recorder)
    return result, recorder.events


def test_training_from_scratch_reaches_high_accuracy(scratch_run):
    result, events = scratch_run
    assert result.status == runs.COMPLETE
    assert result.val_accuracy >= 0.9, result.history["stage1"]
    assert result.history["stage1"]["loss"][-1] < result.history["stage1"]["loss"][0]
    statuses = [e["status"] for e in events if e["kind"] == "status"]
    assert statuses == ["loading", "stage1", "evaluating", "saving", "complete"]
    batches = [e for e in events if e["kind"] == "batch"]
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert len(epochs) == result.history["stage1"]["epochs_run"]
    assert len(batches) == len(epochs) * batches[0]["steps"]  # 90 training images, batches of 16
    assert all(0.0 <= e["progress"] <= 1.0 for e in batches + epochs)
    assert batches[-1]["eta_seconds"] is not None and epochs[-1]["val_accuracy"] is not None
    # The HOG + linear SVM baseline, fitted on the same split, is reported beside the run.
    baseline = result.metrics["baseline"]
    assert 0 <= baseline["val_accuracy"] <= 1 and baseline["val_size"] == result.metrics["val"]["count"]
    assert runs.read_meta(result.run_dir)["metrics"]["baseline_val_accuracy"] == baseline["val_accuracy"]


def test_run_folder_holds_everything(scratch_run):
    result, _ = scratch_run
    run_dir = result.run_dir
    for name in (runs.RUN_META, runs.MODEL_FILE, runs.CONFIG_FILE, runs.HISTORY_FILE, runs.METRICS_FILE,
                 runs.SPLIT_FILE):
        assert (run_dir / name).is_file(), name
    meta = runs.read_meta(run_dir)
    assert meta["status"] == runs.COMPLETE and meta["class_names"] == sorted(CLASSES)
    assert meta["metrics"]["val_accuracy"] == result.val_accuracy
    assert TrainConfig.from_dict(runs.read_json(run_dir, runs.CONFIG_FILE)).model == "small_cnn"
    split = runs.read_json(run_dir, runs.SPLIT_FILE)
    assert len(split["splits"]["val"]) == 30 and len(split["splits"]["train"]) == 90
    assert not set(map(tuple, split["splits"]["val"])) & set(map(tuple, split["splits"]["train"]))
    history = runs.read_json(run_dir, runs.HISTORY_FILE)
    assert history["batches"]["stage1"]
    assert len(history["stage1"]["val_loss"]) == history["stage1"]["epochs_run"]
    info = runs.get_run(run_dir.name, root=run_dir.parent)
    assert info.complete and info.base_model == "small_cnn" and info.owner is None


def test_saved_model_follows_the_model_contract(scratch_run):
    import keras

    model = keras.models.load_model(scratch_run[0].run_dir / runs.MODEL_FILE, compile=False, safe_mode=True)
    assert tuple(model.inputs[0].shape) == (None, 32, 32, 3)
    assert model.layers[-1].name == "probabilities"
    assert all(layer.trainable for layer in model.layers)
    probs = np.asarray(model(np.full((2, 32, 32, 3), 128.0, np.float32)))
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_reload_reproduces_the_reported_metrics(scratch_run):
    from core.train.evaluate import evaluate_run
    from core.zoo import load_model

    result, _ = scratch_run
    again = evaluate_run(result.run_dir)
    reported = result.metrics["val"]
    assert again["count"] == reported["count"] == 30
    assert again["accuracy"] == reported["accuracy"]
    assert again["loss"] == pytest.approx(reported["loss"], abs=1e-4)
    assert again["confusion"] == reported["confusion"]
    loaded = load_model(str(result.run_dir))  # as every page and command loads a run
    assert loaded.class_names == sorted(CLASSES) and loaded.input_size == (32, 32)
    assert loaded.default_cam_layer == "conv3"


def test_the_same_seed_gives_the_same_model(colours, tmp_path):
    from core.train.engine import train
    from core.zoo.files import load_keras_file

    config = scratch_config(colours, epochs=1, augment="light")
    first = train(config, runs_root=tmp_path)
    second = train(config, runs_root=tmp_path)
    a = load_keras_file(first.run_dir / runs.MODEL_FILE).get_weights()
    b = load_keras_file(second.run_dir / runs.MODEL_FILE).get_weights()
    assert all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, b, strict=True))
    assert first.history["stage1"]["loss"] == pytest.approx(second.history["stage1"]["loss"], rel=1e-4)


def test_stop_button_ends_the_job_within_a_batch(colours, tmp_path, monkeypatch):
    """The engine's own stop, on a thread (tests/test_train_worker.py stops a job's child process)."""
    from core.jobs.local import STOPPED, JobQueue

    monkeypatch.setenv("GLASSWING_TRAIN_IN", "thread")

    queue = JobQueue(max_concurrent=1, runs_root=tmp_path)
    job = queue.submit(scratch_config(colours, epochs=200, early_stopping_patience=0), owner="session-1")
    deadline = time.monotonic() + 120
    while not [e for e in job.events() if e["kind"] == "batch"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.status == "running"
    seen = job.events()[-1]["seq"]
    job.stop()
    assert job.wait(60), "the job did not stop"
    assert job.status == STOPPED
    after = [e for e in job.events(since=seen) if e["kind"] == "batch"]
    assert len(after) <= 1, "more than one batch ran after the stop request"
    info = runs.get_run(job.run_dir.name, owner="session-1", root=tmp_path)
    assert info.status == runs.STOPPED and not info.complete
    assert not (job.run_dir / runs.MODEL_FILE).exists()
    assert runs.list_runs(None, root=tmp_path) == []  # a session's run is not shown to others


def test_nan_loss_ends_the_run_with_a_clear_message(colours, tmp_path, monkeypatch):
    import keras
    import tensorflow as tf

    from core.train.engine import train
    from core.train.loop import TrainingError

    real = keras.losses.categorical_crossentropy
    monkeypatch.setattr(keras.losses, "categorical_crossentropy",
                        lambda *args, **kwargs: real(*args, **kwargs) * tf.constant(float("nan")))
    with pytest.raises(TrainingError, match="loss became nan in stage1, epoch 1, batch 1.*learning rate"):
        train(scratch_config(colours, epochs=2), runs_root=tmp_path)
    (info,) = runs.list_runs(runs.EVERYONE, root=tmp_path)
    assert info.status == runs.FAILED and "became nan" in info.error
    assert runs.read_json(info.path, runs.CONFIG_FILE)["epochs"] == 2  # what was saved stays


def test_an_image_broken_during_training_fails_the_run_naming_it(colours, tmp_path):
    from core.train.engine import train

    data = make_colour_dataset(tmp_path / "data", per_class=8)
    split = {}

    class Breaker(Recorder):
        def on_batch(self, event: dict) -> None:
            if not split:  # the first batch: validation images are only read at the end of the epoch
                val = runs.read_json(next((tmp_path / "runs").iterdir()), runs.SPLIT_FILE)["splits"]["val"]
                split["victim"] = val[0][0]
                (data / split["victim"]).write_bytes(b"not an image any more")

    with pytest.raises(DataError) as info:
        train(scratch_config(data, epochs=2), runs_root=tmp_path / "runs", listener=Breaker())
    assert Path(split["victim"]).name in str(info.value)
    (run,) = runs.list_runs(runs.EVERYONE, root=tmp_path / "runs")
    assert run.status == runs.FAILED and Path(split["victim"]).name in run.error


def test_adversarial_training_mixes_attacked_images_in(colours, tmp_path, monkeypatch):
    import core.attacks
    from core.train.engine import train

    calls = []
    real = core.attacks.adversarial_batch

    def spy(model, images, labels, method, eps, **params):
        calls.append((int(images.shape[0]), method, eps))
        return real(model, images, labels, method=method, eps=eps, **params)

    monkeypatch.setattr(core.attacks, "adversarial_batch", spy)
    adversarial = AdversarialConfig(method="fgsm", eps=8.0, ratio=0.5)
    config = scratch_config(colours, epochs=1, adversarial=adversarial)
    result = train(config, runs_root=tmp_path)
    assert result.status == runs.COMPLETE
    training_calls = [c for c in calls if c[0] == 8]  # half of each full batch of 16
    assert len(training_calls) >= 5 and all(c[1:] == ("fgsm", 8.0) for c in training_calls)
    adversarial = result.metrics["val_adversarial"]
    assert adversarial["count"] == 30 and 0.0 <= adversarial["accuracy"] <= 1.0
    assert runs.read_meta(result.run_dir)["metrics"]["val_adversarial_accuracy"] == adversarial["accuracy"]


def test_exports_load_and_agree_with_the_keras_model(scratch_run, runs_root, tmp_path):
    from core.train.export import export_run

    heard = []
    report = export_run(scratch_run[0].run_dir, out_dir=tmp_path / "export", root=runs_root,
                        progress=lambda fraction, text: heard.append((fraction, text)))
    # Progress: each format's conversion is announced in turn, the fraction only grows, to 1 at the end.
    assert [t.split(" (")[0] for _, t in heard[1:-1]] == ["keras", "savedmodel", "tflite-float16", "tflite-int8"]
    assert [f for f, _ in heard] == sorted(f for f, _ in heard) and heard[-1] == (1.0, "Done")
    by_format = {item["format"]: item for item in report["exports"]}
    assert set(by_format) == {"keras", "savedmodel", "tflite-float16", "tflite-int8"}
    for item in by_format.values():
        assert Path(item["path"]).exists() and item["bytes"] > 0 and item["count"] == 30
    assert by_format["keras"]["top1_agreement"] == 1.0 and by_format["keras"]["max_abs_diff"] == 0.0
    assert by_format["savedmodel"]["top1_agreement"] == 1.0 and by_format["savedmodel"]["max_abs_diff"] < 1e-4
    assert by_format["tflite-float16"]["top1_agreement"] >= 0.95
    assert by_format["tflite-int8"]["top1_agreement"] >= 0.8
    assert by_format["tflite-int8"]["bytes"] < by_format["tflite-float16"]["bytes"]
    assert json.loads((tmp_path / "export" / "export.json").read_text()) == report
    # Each export's own accuracy on the labelled images beside the Keras model's; a drop is one sentence.
    keras_accuracy = by_format["keras"]["keras_accuracy"]
    assert 0 <= keras_accuracy <= 1 and by_format["keras"]["accuracy"] == keras_accuracy
    for item in by_format.values():
        assert item["keras_accuracy"] == keras_accuracy
        assert (item["warning"] is None) == (item["top1_agreement"] >= 0.95)
    assert not list((tmp_path / "export").glob(".*")), "no temporary files are left behind"


def test_a_large_export_drop_is_a_warning_with_the_accuracies():
    from core.train.export import parity_warning

    drop = {"format": "tflite-int8", "count": 60, "top1_agreement": 0.83, "accuracy": 0.7,
            "keras_accuracy": 0.9}
    assert parity_warning(drop) == ("This tflite-int8 model changes the top class of 17% of 60 validation "
                                    "images. Its accuracy on them is 70.0%, the Keras model's 90.0%. Prefer "
                                    "the float16 or Keras export, or calibrate int8 on more training images.")
    assert parity_warning({**drop, "top1_agreement": 0.97}) is None


def test_cli_train_prints_json_and_runs_can_be_managed(colours, tmp_path):
    from core.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["train", "--data", str(colours), "--model", "lenet5", "--epochs", "2", "--lr", "0.003",
                     "--batch-size", "16", "--val-fraction", "0.25", "--out", str(tmp_path), "--json"])
    assert code == 0
    result = json.loads(out.getvalue())
    assert {"run_dir", "val_accuracy", "history"} <= set(result)
    assert 0.0 <= result["val_accuracy"] <= 1.0 and len(result["history"]["stage1"]["loss"]) == 2
    run_id = Path(result["run_dir"]).name

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["runs", "--root", str(tmp_path), "rename", run_id, "LeNet on colours"]) == 0
        assert main(["runs", "--root", str(tmp_path), "list", "--json"]) == 0
    listed = json.loads(out.getvalue().split("\n", 1)[1])
    assert [(r["id"], r["name"], r["status"]) for r in listed] == [(run_id, "LeNet on colours", "complete")]
    with redirect_stdout(io.StringIO()):
        assert main(["runs", "--root", str(tmp_path), "delete", run_id, "--yes"]) == 0
    assert runs.list_runs(runs.EVERYONE, root=tmp_path) == []


def test_cli_train_refuses_nonsense_with_one_sentence(colours, capsys):
    from core.cli import main

    assert main(["train", "--data", str(colours), "--model", "small_cnn", "--fine-tune-layers", "2"]) == 2
    assert "fine_tune_layers only applies to pretrained models" in capsys.readouterr().err
    assert main(["train", "--data", str(colours / "missing"), "--model", "small_cnn"]) == 2
    assert "No such dataset" in capsys.readouterr().err


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_run_killed_at_a_random_moment_leaves_no_half_model(scratch_run, colours, tmp_path):
    from core.zoo.files import load_keras_file

    root = tmp_path / "runs"
    earlier = root / scratch_run[0].run_dir.name
    shutil.copytree(scratch_run[0].run_dir, earlier)
    before = _digest(earlier)
    config = scratch_config(colours, epochs=6, augment="light")
    script = ("import sys; from core.train import TrainConfig, train; "
              f"train(TrainConfig.from_dict({config.to_dict()!r}), runs_root={str(root)!r})")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len([p for p in root.iterdir() if not p.name.startswith(".")]) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "the training process never created its run folder"
            time.sleep(0.02)
        delay = random.uniform(0.0, 8.0)  # anywhere from folder creation to (about) the end of the run
        print(f"killing {delay:.2f} s after the run folder appeared")
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode in (-signal.SIGKILL, 0), process.stderr.read().decode()[-2000:]

    listed = {info.id: info for info in runs.list_runs(runs.EVERYONE, root=root)}
    assert listed[earlier.name].status == runs.COMPLETE and _digest(earlier) == before
    load_keras_file(earlier / runs.MODEL_FILE)
    (killed,) = [info for name, info in listed.items() if name != earlier.name]
    if process.returncode == 0:  # finished before the kill: then it must be complete and whole
        assert killed.status == runs.COMPLETE
    else:
        assert killed.status in (runs.INTERRUPTED, runs.INCOMPLETE, runs.COMPLETE), killed.status
    for info in listed.values():  # every model file that exists loads, and every complete run has one
        if (info.path / runs.MODEL_FILE).exists():
            load_keras_file(info.path / runs.MODEL_FILE)
        if info.status == runs.COMPLETE:
            assert (info.path / runs.MODEL_FILE).exists() and (info.path / runs.METRICS_FILE).exists()


def test_a_run_can_be_the_backbone_of_a_new_run(scratch_run, colours, tmp_path):
    from core.train.engine import train
    from core.zoo.files import load_keras_file

    base = scratch_run[0].run_dir
    config = TrainConfig(data=str(colours), model=str(base), epochs=2, batch_size=16, val_fraction=0.25,
                         hidden_units=8, fine_tune_layers=1, fine_tune_epochs=1)
    result = train(config, runs_root=tmp_path)
    meta = runs.read_meta(result.run_dir)
    assert meta["base_model"] == "small_cnn" and meta["unfrozen_layers"] == ["fc1"]
    before, after = load_keras_file(base / runs.MODEL_FILE), load_keras_file(result.run_dir / runs.MODEL_FILE)
    def weights(model, name):
        return model.get_layer(name).get_weights()

    for name in ("conv1", "conv2", "conv3"):  # frozen in both stages
        pairs = zip(weights(before, name), weights(after, name), strict=True)
        assert all(np.array_equal(a, b) for a, b in pairs), name
    assert not np.array_equal(weights(before, "fc1")[0], weights(after, "fc1")[0])
    names = [layer.name for layer in after.layers[-4:]]
    assert names == ["head_hidden", "head_dropout", "logits", "probabilities"]


def test_an_export_killed_at_a_random_moment_leaves_only_whole_files(scratch_run, tmp_path):
    """SIGKILL during export: the run stays complete, every visible export file is whole, and a new
    export over the leftovers succeeds."""
    import tensorflow as tf

    from core.train.export import export_run
    from core.zoo.files import load_keras_file

    run_dir = tmp_path / "runs" / scratch_run[0].run_dir.name
    shutil.copytree(scratch_run[0].run_dir, run_dir)
    before = _digest(run_dir)
    out = tmp_path / "export"
    script = ("from core.train.export import export_run; "
              f"export_run({str(run_dir)!r}, out_dir={str(out)!r}, root={str(run_dir.parent)!r})")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and process.poll() is None:
            assert time.monotonic() < deadline, "the export process never created its folder"
            time.sleep(0.02)
        delay = random.uniform(0.0, 6.0)  # from the folder's creation to (about) the end of the export
        print(f"killing {delay:.2f} s after the export folder appeared")
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode in (-signal.SIGKILL, 0), process.stderr.read().decode()[-2000:]

    assert _digest(run_dir) == before, "exporting never touches the run itself"
    visible = {p.name for p in out.iterdir() if not p.name.startswith(".")} if out.exists() else set()
    if "model.keras" in visible:
        load_keras_file(out / "model.keras")
    if "saved_model" in visible:
        tf.saved_model.load(str(out / "saved_model"))
    for tflite in out.glob("*.tflite") if out.exists() else []:
        tf.lite.Interpreter(model_path=str(tflite)).allocate_tensors()
    if "export.json" in visible:
        assert len(json.loads((out / "export.json").read_text())["exports"]) == 4
    if process.returncode == 0:
        assert {"model.keras", "saved_model", "export.json"} <= visible

    report = export_run(run_dir, out_dir=out, root=run_dir.parent)  # a restart goes through the leftovers
    assert [item["format"] for item in report["exports"]] == ["keras", "savedmodel", "tflite-float16",
                                                              "tflite-int8"]
