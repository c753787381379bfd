"""Hostile inputs, second round (issue 16): settings, special files, damaged runs, huge numbers, a full disk.

Each case goes in the way a person gives it (``python -m core ...`` in-process, or a real process where
the environment or a resource limit matters) and must end in one sentence naming what is wrong, never a
traceback, a hang or gigabytes of memory. Image chunk bombs and model-contract cases live in the
corpus (``tests/hostile.py``) and run through ``test_hostile_inputs.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hostile as H  # noqa: E402
import pytest  # noqa: E402

from core import config  # noqa: E402
from core.cli import main  # noqa: E402
from core.errors import ParameterError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZE = 16


def cli(*args) -> tuple[int, str, str]:
    """``python -m core ARGS`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def sentence(code: int, stderr: str) -> str:
    """The one error line of a refused command (exit code 2, no traceback)."""
    assert "Traceback" not in stderr, stderr
    assert code == 2, (code, stderr[-800:])
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") or ": error: " in line, stderr
    return line


def process(*args, env: dict | None = None, preexec=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                          preexec_fn=preexec)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(x))
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ds")
    H.write_dataset(root, H.dataset_case("markup_class"))
    return root / "markup_class"


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(H.png(20, 20, 1))
    return path


@pytest.fixture(autouse=True)
def _places(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GLASSWING_RUNS", str(tmp_path / "runs"))


# -- settings from the environment (issue 18: one helper, one sentence) ----------------------------------
def _settings():
    from core.jobs.local import max_training_jobs
    from core.train.worker import train_nice
    from dashboard.memory import cleanup_interval

    return [("GLASSWING_MAX_IMAGE_PIXELS", config.max_image_pixels, "a whole number from 1 to 1,000,000,000"),
            ("GLASSWING_MAX_UPLOAD_MB", config.max_upload_bytes, "a whole number from 1 to 100,000"),
            ("GLASSWING_MAX_TRAINING_JOBS", max_training_jobs, "a whole number from 1 to 64"),
            ("GLASSWING_TRAIN_NICE", train_nice, "a whole number from 0 to 19"),
            ("GLASSWING_IDLE_CLEANUP_SECONDS", cleanup_interval, "a number of seconds from 0.1 to 86,400")]


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-5", "1e400", "9" * 5000, "0x10"])
def test_every_numeric_setting_refuses_nonsense_naming_itself_and_its_range(value, monkeypatch):
    for var, read, allowed in _settings():
        monkeypatch.setenv(var, value)
        with pytest.raises(ParameterError) as info:
            read()
        message = str(info.value)
        assert message.startswith(f"{var} must be {allowed}, got ") and len(message) < 5200, message
        monkeypatch.delenv(var)
        read()  # unset: the default


def test_numeric_settings_accept_their_range(monkeypatch):
    monkeypatch.setenv("GLASSWING_MAX_UPLOAD_MB", " 5 ")
    assert config.max_upload_bytes() == 5 * 2**20
    monkeypatch.setenv("GLASSWING_MAX_IMAGE_PIXELS", "1000000000")
    assert config.max_image_pixels() == 10**9
    config.check_settings()
    for var, bad in (("GLASSWING_MAX_IMAGE_PIXELS", "1000000001"), ("GLASSWING_TRAIN_NICE", "20"),
                     ("GLASSWING_MAX_TRAINING_JOBS", "0")):
        monkeypatch.setenv(var, bad)
        with pytest.raises(ParameterError, match=var):
            config.check_settings()
        monkeypatch.delenv(var)


@pytest.mark.parametrize("var, args", [
    ("GLASSWING_MAX_IMAGE_PIXELS", ["predict", "--model", "{model}", "{photo}"]),
    ("GLASSWING_MAX_UPLOAD_MB", ["data", "inspect", "{zip}"]),
])
def test_the_cli_answers_a_nonsense_limit_in_one_sentence(var, args, tiny_model, photo, tmp_path, monkeypatch):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(H.make_zip(H.good_entries()))
    values = {"{model}": tiny_model, "{photo}": photo, "{zip}": archive}
    monkeypatch.setenv(var, "abc")
    line = sentence(*cli(*[values.get(a, a) for a in args])[::2])
    assert f"{var} must be a whole number from 1 to" in line and "'abc'" in line


# -- special files given as files -------------------------------------------------------------------------
@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_pipe_or_device_given_as_an_image_is_named_for_what_it_is(special, fifo, tiny_model):
    path = fifo if special == "fifo" else Path(special)
    line = sentence(*cli("predict", "--model", tiny_model, path)[::2])
    assert line == f"error: {path.name}: is a pipe, a device or a socket, not an image file."


def _limit_memory() -> None:  # in the child: a reader without a cap dies quickly instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/urandom"])
def test_train_config_and_augment_files_that_never_end_are_refused_at_once(special, fifo, dataset):
    path = fifo if special == "fifo" else Path(special)
    for option in ("--config", "--augment"):  # a real process, bounded: unfixed, these hang or eat memory
        proc = process("train", "--data", dataset, "--model", "small_cnn", option, path, preexec=_limit_memory,
                       timeout=60)
        line = sentence(proc.returncode, proc.stderr)
        assert f"{path} is a pipe, a device or a socket, not a file" in line, line


def test_a_train_config_file_over_its_cap_is_refused_unread(tmp_path, dataset):
    big = tmp_path / "big.json"
    big.write_bytes(b"{" + b" " * (2 * 2**20) + b"}")
    line = sentence(*cli("train", "--data", dataset, "--config", big)[::2])
    assert "--config" in line and "larger than 1,048,576 bytes" in line


DEEP = "[" * 50_000 + "]" * 50_000  # 100 kB: json.loads recurses once per bracket


@pytest.mark.parametrize("option, text, needle", [
    ("--config", json.dumps({"learning_rate": 10**500}), "learning_rate must be above 0 and at most 10, got 1000"),
    ("--config", json.dumps({"seed": -(10**500)}), "seed must be between 0 and"),
    ("--config", '{"epochs": ' + DEEP + "}", "nests its JSON too deeply"),
    ("--augment", json.dumps({"rotation": 10**500}), "rotation must be between 0 and 180, got 1000"),
    ("--augment", '{"rotation": ' + "[" * 20_000 + "]" * 20_000 + "}", "nest their JSON too deeply"),
    ("--augment", json.dumps({"zoom": [[[[1]]]]}), "zoom must be a number"),
])
def test_huge_numbers_and_deep_nesting_in_settings_files_get_one_short_sentence(option, text, needle, tmp_path,
                                                                                  dataset):
    path = tmp_path / "settings.json"
    path.write_text(text)
    line = sentence(*cli("train", "--data", dataset, "--model", "small_cnn", "--image-size", SIZE, option, path,
                         "--out", tmp_path / "runs")[::2])
    assert needle in line and len(line) < 300, line
    assert not (tmp_path / "runs").exists() or not os.listdir(tmp_path / "runs")


# -- a run whose run.json is damaged or lies ---------------------------------------------------------------
def _run_folder(root: Path, tiny_model: Path, meta: str | None) -> Path:
    run = root / "runs" / "damaged-run"
    run.mkdir(parents=True)
    shutil.copy(tiny_model, run / "model.keras")
    if meta is not None:
        (run / "run.json").write_text(meta)
    return run


DAMAGED_META = [
    ("{nope", "run.json is damaged"),
    ("[1, 2, 3]", "run.json is damaged"),
    ('{"class_names": "abc"}', "class_names that do not match the model's 3 classes"),
    ('{"class_names": ["a", "b"]}', "class_names that do not match the model's 3 classes"),
    ('{"class_names": [1, 2, 3]}', "class_names that do not match"),
    ('{"class_names": null, "name": ' + "[" * 30_000 + "]" * 30_000 + "}", "run.json is damaged"),
]


@pytest.mark.parametrize("meta, needle", DAMAGED_META, ids=[m[:20] for m, _ in DAMAGED_META])
def test_a_run_with_a_damaged_run_json_is_refused_in_one_sentence(meta, needle, tmp_path, tiny_model, photo,
                                                                 dataset):
    from core.zoo import clear_cache

    clear_cache()
    run = _run_folder(tmp_path, tiny_model, meta)
    for args in (["predict", "--model", run, photo], ["explain", "--model", run, "--out", tmp_path / "o", photo],
                 ["evaluate", "--model", run, "--data", dataset, "--out", tmp_path / "report"]):
        line = sentence(*cli(*args)[::2])
        assert line.startswith("error: Run damaged-run: ") and needle in line, (args[0], line)


def test_wrong_hints_in_run_json_fall_back_to_the_model(tmp_path, tiny_model, photo):
    from core.zoo import clear_cache

    clear_cache()
    run = _run_folder(tmp_path, tiny_model, json.dumps({"name": 5, "default_cam_layer": ["x"],
                                                        "class_names": ["cat", "dog", "owl"]}))
    code, stdout, stderr = cli("explain", "--model", run, "--out", tmp_path / "o", "--json", photo)
    assert code == 0, stderr
    assert json.loads(stdout)[0]["layer"] == "conv"


def test_export_takes_the_input_size_from_the_model_not_from_run_json(tmp_path, tiny_model, dataset):
    from core.train import runs

    run = runs.create_run({"name": "x", "base_model": "small_cnn"}, tmp_path / "runs", "export-run")
    shutil.copy(tiny_model, run / runs.MODEL_FILE)
    images = sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*.png"))
    runs.write_json(run, runs.SPLIT_FILE, {"root": str(dataset), "splits": {"val": [[p, 0] for p in images]}})
    runs.update_meta(run, status=runs.COMPLETE, class_names=["a", "b", "c"], input_size=["huge", {}])
    code, stdout, stderr = cli("runs", "export", run, "--formats", "keras", "--parity-images", 2, "--json")
    assert code == 0, stderr
    (result,) = json.loads(stdout)["exports"]
    assert result["count"] == 2 and result["top1_agreement"] == 1.0


# -- the layer to explain ------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["explain", "trust"])
def test_the_input_layer_as_layer_is_refused_naming_a_real_one(command, tiny_model, photo, tmp_path):
    extra = ["--out", tmp_path / "o"] if command == "explain" else []
    line = sentence(*cli(command, "--model", tiny_model, "--layer", "pixels", *extra, photo)[::2])
    assert "'pixels' is the model's input" in line and "'conv'" in line, line


# -- a full disk -------------------------------------------------------------------------------------------
def _limit_file_size(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail with EFBIG instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@contextlib.contextmanager
def _small_disk(folder: Path):
    """A real filesystem of its own at ``folder`` (a 1 MB tmpfs; mounting needs root, else skip)."""
    folder.mkdir(parents=True)
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root); the file-size-limit tests cover the path")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(disk: Path) -> None:
    with contextlib.suppress(OSError), open(disk / "filler", "wb") as fh:
        while True:
            fh.write(bytes(4096))
            fh.flush()


def test_runs_rename_on_a_full_disk_says_so_and_keeps_the_run(tmp_path):
    from core.train import runs

    with _small_disk(tmp_path / "disk") as disk:
        run = runs.create_run({"name": "before", "base_model": "small_cnn"}, disk / "runs", "full-run")
        _fill(disk)
        line = sentence(*cli("runs", "--root", disk / "runs", "rename", run, "x" * 100)[::2])
        assert line == f"error: Could not save run.json in {run}: the disk is full."
        assert runs.read_meta(run)["name"] == "before"
        assert [p.name for p in run.iterdir()] == ["run.json"]  # no temporary file left


def test_a_write_past_the_file_size_limit_is_one_sentence(tmp_path, tiny_model):
    from core.train import runs

    run = runs.create_run({"name": "before", "base_model": "small_cnn"}, tmp_path / "runs", "limited-run")
    proc = process("runs", "--root", tmp_path / "runs", "rename", run, "y" * 200,
                   preexec=_limit_file_size(150))
    line = sentence(proc.returncode, proc.stderr)
    assert line == f"error: Could not save run.json in {run}: the file is larger than this system allows."
    assert runs.read_meta(run)["name"] == "before"


def test_training_onto_a_full_disk_fails_in_one_sentence(tmp_path, dataset):
    proc = process("train", "--data", dataset, "--model", "small_cnn", "--image-size", SIZE, "--epochs", 1,
                   "--batch-size", 4, "--out", tmp_path / "runs", preexec=_limit_file_size(100_000))
    line = sentence(proc.returncode, proc.stderr)
    assert line.startswith("error: Could not save model.keras in ") and "larger than this system allows" in line
    (run,) = (tmp_path / "runs").iterdir()
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "failed" and meta["error"] == line.removeprefix("error: ")
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]


def test_a_disk_that_fills_at_the_first_write_leaves_a_failed_run(tmp_path, dataset, monkeypatch):
    """split.json is written right after run.json says 'running': a failure there marks the run failed."""
    from core.atomic import StorageError
    from core.train import engine, runs
    from core.train.config import TrainConfig

    real = runs.write_json

    def full_at_split(run_dir, name, obj):
        if name == runs.SPLIT_FILE:
            raise StorageError(f"Could not save {name} in {run_dir}: the disk is full.")
        real(run_dir, name, obj)

    monkeypatch.setattr(engine.runs, "write_json", full_at_split)
    config = TrainConfig(data=str(dataset), model="small_cnn", image_size=SIZE, epochs=1, batch_size=4)
    with pytest.raises(StorageError, match="the disk is full"):
        engine.train(config, runs_root=tmp_path / "runs")
    (run,) = (tmp_path / "runs").iterdir()
    assert runs.get_run(run.name, root=tmp_path / "runs").status == runs.FAILED
    assert "the disk is full" in runs.read_meta(run)["error"]


# -- the last resort -----------------------------------------------------------------------------------------
def test_a_bug_reaches_the_user_as_one_sentence_asking_for_a_report(monkeypatch):
    import core.cli.models_cmd as models_cmd

    def broken(args):  # a fault injected where no real one is known: every known one is fixed above
        raise RuntimeError("boom\non two lines")

    monkeypatch.setattr(models_cmd, "run", broken)
    monkeypatch.delenv("GLASSWING_DEBUG", raising=False)
    code, stdout, stderr = cli("models")
    assert code == 70 and stdout == "" and "Traceback" not in stderr
    assert stderr == ("error: unexpected RuntimeError: boom on two lines - this is a bug in Glasswing; please "
                      "report it with the command you ran (GLASSWING_DEBUG=1 shows the traceback).\n")
    monkeypatch.setenv("GLASSWING_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["models"])
