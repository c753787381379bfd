"""Hostile and broken input through every entry point (issue 9).

Each item of the corpus in ``tests/hostile.py`` goes through the shared image loader, ``python -m core
predict / explain / attack``, dataset import (the dashboard's zip upload, ``open_dataset`` behind
``train --data``, ``inspect_dataset``), ``python -m core data inspect``, training's dataset check and
config validation, and the Explain page's uploader. Each must end in one specific sentence (never a
traceback) and write nothing outside its own place. Every value-taking CLI option refuses nonsense
with a message naming the option, and a test keeps that table complete as commands grow.

The CLI runs in-process (``core.cli.main``, the code behind ``python -m core``) against a tiny model,
so the whole corpus costs seconds; a few real ``python -m core`` processes check the last mile.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hostile as H  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402  (imported early: it makes a temporary folder)

from core.cli import build_parser, main  # noqa: E402
from core.errors import DataError, ImageError, ParameterError  # noqa: E402
from core.images import load_image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
LIMIT_MB = 3  # GLASSWING_MAX_UPLOAD_MB during these tests (the over-limit files are built to exceed it)
LIMIT = LIMIT_MB * 2**20
SIZE = 16  # the tiny model's input side
SESSION = "hostile-session"
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")


# -- fixtures --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("hostile-corpus")
    return {"root": root, "images": H.write_images(root / "images"),
            "archives": H.write_archives(root / "archives", LIMIT),
            "datasets": {case.name: H.write_dataset(root / "datasets", case) for case in H.DATASETS},
            "models": H.write_models(root / "models")}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """A 16x16 three-class CNN obeying the model contract (raw pixels in, softmax out)."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    x = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(x))
    path = tmp_path_factory.mktemp("tiny-model") / "tiny.keras"
    model.save(path)
    return str(path)


@pytest.fixture(autouse=True)
def sandbox(tmp_path, monkeypatch, corpus):
    """Data, runs, temporary files and the working folder all in one box that each test inspects.

    After every test: the corpus is unchanged, no temporary file is left, nothing landed in the working
    folder, no symbolic link was created, and no traversal target exists.
    """
    home = tmp_path / "box"
    for sub in ("cwd", "data", "runs", "tmp"):
        (home / sub).mkdir(parents=True)
    monkeypatch.chdir(home / "cwd")
    monkeypatch.setenv("GLASSWING_DATA", str(home / "data"))
    monkeypatch.setenv("GLASSWING_RUNS", str(home / "runs"))
    monkeypatch.setenv("GLASSWING_MAX_UPLOAD_MB", str(LIMIT_MB))
    monkeypatch.setenv("TMPDIR", str(home / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(home / "tmp"))
    corpus_before = H.tree(corpus["root"])
    yield home
    assert H.tree(corpus["root"]) == corpus_before, "an entry point changed its input"
    left = [name for name in os.listdir(home / "tmp") if not _tensorflow_own(name)]
    assert not left, f"temporary files left behind: {left}"
    assert not os.listdir(home / "cwd"), f"written into the working folder: {os.listdir(home / 'cwd')}"
    links = [p for p in home.rglob("*") if p.is_symlink()]
    assert not links, f"symbolic links created: {links}"
    assert not H.escaped_evil_files()


def cli(*args: str) -> tuple[int, str, str]:
    """``python -m core ARGS`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse refusing an option
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def last_line(err: str) -> str:
    """The error sentence (progress lines may come first); never a traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines, "no message at all"
    assert lines[-1].startswith("error: ") or ": error: " in lines[-1], err
    return lines[-1]


def _tensorflow_own(name: str) -> bool:
    """TensorFlow's autograph keeps the sources it generates in the temporary folder; not ours to judge."""
    return os.path.basename(name).startswith("__autograph_generated_file")


def new_paths(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {path: size for path, size in after.items() if path not in before and not _tensorflow_own(path)}


# -- images ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", H.IMAGES, ids=lambda c: c.name)
def test_load_image_gives_rgb_or_one_specific_sentence(case, corpus):
    path = corpus["images"][case.name]
    for source in (path, path.read_bytes()):  # the CLI reads paths, the dashboard reads uploaded bytes
        if case.expect is None:
            image = load_image(source, name=case.name)
            assert image.dtype == np.uint8 and image.shape == (*case.shape, 3) and image.flags.c_contiguous
            continue
        with pytest.raises(ImageError) as info:
            load_image(source, name=case.name)
        message = str(info.value)
        assert message.startswith(f"{case.name}: ") and case.expect in message, message
        assert message.endswith(".") and "\n" not in message and "Traceback" not in message


def test_converted_images_keep_what_a_person_sees(corpus):
    images = corpus["images"]
    rgba = load_image(images["rgba.png"])
    assert (rgba[:, :10] == (255, 0, 0)).all() and (rgba[:, 10:] == 255).all()  # transparent -> white
    assert (load_image(images["animated.gif"]) == (255, 0, 0)).all()  # the first frame, not the last
    grey16 = load_image(images["sixteen_bit.png"])
    assert np.array_equal(grey16[..., 0], H.noise(20, 30, 3, 1))  # 16 bits scaled back down exactly
    assert np.array_equal(grey16[..., 0], grey16[..., 2])
    palette = np.asarray(Image.open(images["palette_transparent.png"]))
    assert (load_image(images["palette_transparent.png"])[palette == 0] == 255).all()
    assert load_image(images["one_pixel.png"]).tolist() == [[[255, 0, 0]]]


def test_the_pixel_limit_is_the_configured_one(corpus, monkeypatch):
    monkeypatch.setenv("GLASSWING_MAX_IMAGE_PIXELS", "500")
    with pytest.raises(ImageError, match="24x24 is 576 pixels, more than the limit of 500"):
        load_image(H.png(24, 24))
    monkeypatch.setenv("GLASSWING_MAX_IMAGE_PIXELS", str(60_000_000))
    assert load_image(corpus["images"]["bomb_real.png"]).shape == (6000, 8000, 3)  # an honest big image


@pytest.mark.parametrize("case", H.IMAGES, ids=lambda c: c.name)
def test_predict_explain_and_attack_on_each_file(case, corpus, tiny_model, sandbox):
    path = str(corpus["images"][case.name])
    out = sandbox / "out"
    commands = {
        "predict": ["predict", "--model", tiny_model, "--json", path],
        "explain": ["explain", "--model", tiny_model, "--out", out / "explain", "--json", path],
        "attack": ["attack", "--model", tiny_model, "--method", "fgsm", "--eps", "4", "--out", out / "attack",
                   "--json", path],
    }
    for command, args in commands.items():
        before = H.tree(sandbox)
        code, stdout, stderr = cli(*args)
        written = new_paths(before, H.tree(sandbox))
        if case.expect is not None:
            assert code == 2 and stdout == "", (command, stderr)
            line = last_line(stderr)
            assert line.startswith(f"error: {case.name}: ") and case.expect in line, (command, line)
            assert all(size == -1 for size in written.values()), f"{command} wrote {written}"  # folders only
            continue
        assert code == 0, (command, stderr)
        assert all(p.startswith(f"out{os.sep}{command}") or p == "out" for p in written), (command, written)
        (row,) = json.loads(stdout)
        if command == "predict":
            assert len(row["top"]) == 3 and sum(t["prob"] for t in row["top"]) == pytest.approx(1, abs=1e-4)
        elif command == "explain":
            heat = np.load(row["heatmap_npy"])
            assert heat.shape == (SIZE, SIZE) and np.isfinite(heat).all()
            assert 0 <= heat.min() <= heat.max() <= 1
            height, width = case.shape
            assert Image.open(row["overlay_png"]).size == (width, height)  # drawn over the photo itself
        else:
            assert Image.open(row["adversarial_png"]).size == (SIZE, SIZE) and row["linf"] <= 4 + 1e-4


def test_python_m_core_answers_a_disguised_file_in_one_line(corpus, tiny_model, sandbox):
    """The real process (explain and attack share its entry point and error handling, tested in-process)."""
    page = corpus["images"]["page.jpg"]
    proc = subprocess.run([sys.executable, "-m", "core", "predict", "--model", tiny_model, str(page)],
                          cwd=sandbox / "cwd", capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and proc.stdout == ""
    assert last_line(proc.stderr) == ("error: page.jpg: not an image Glasswing can read (supported: JPEG, "
                                      "PNG, WebP, BMP, GIF).")


def test_same_named_photos_get_separate_explanations(corpus, tiny_model, sandbox):
    images = corpus["images"]
    code, stdout, stderr = cli("explain", "--model", tiny_model, "--out", sandbox / "out", "--json",
                               images["cmyk.jpg"], images["trailing_garbage.jpg"], images["cmyk.jpg"])
    assert code == 0, stderr
    pngs = [row["overlay_png"] for row in json.loads(stdout)]
    assert len(set(pngs)) == 3 and all(Path(p).is_file() for p in pngs)


@pytest.mark.parametrize("case", H.MODELS, ids=lambda c: c.name)
def test_hostile_model_files_are_refused_with_the_reason(case, corpus, sandbox):
    image = corpus["images"]["cmyk.jpg"]
    for args in (["predict"], ["explain", "--out", sandbox / "out"]):
        code, stdout, stderr = cli(*args, "--model", corpus["models"][case.name], image)
        assert code == 2 and stdout == ""
        assert case.expect in last_line(stderr), stderr


# -- archives --------------------------------------------------------------------------------------------
ENTRIES = ("upload", "open", "inspect", "cli")
# Where each entry point may write: the dashboard's session folder, the CLI's import cache, or nowhere.
PLACES = {"upload": f"data{os.sep}sessions{os.sep}{SESSION}", "open": f"data{os.sep}imports", "inspect": None,
          "cli": None}


def _import(entry: str, path: Path) -> tuple[dict[str, int], dict[str, str], list[str], Path | None]:
    """(classes, skipped path -> code, errors, extracted folder) from one entry point; DataError goes up."""
    from core.data.dataset import open_dataset
    from core.data.inspect import inspect_dataset
    from core.data.uploads import import_zip_bytes

    if entry == "upload":
        root = import_zip_bytes(path.read_bytes(), SESSION, filename=path.name)
        report = inspect_dataset(root)
    elif entry == "open":
        dataset = open_dataset(path)
        root, report = dataset.root, dataset.report
    elif entry == "inspect":
        root, report = None, inspect_dataset(path)
    else:
        code, stdout, stderr = cli("data", "inspect", path, "--json")
        if code != 0:
            raise DataError(last_line(stderr).removeprefix("error: "))
        data = json.loads(stdout)
        return data["classes"], {s["path"]: s["code"] for s in data["skipped"]}, data["errors"], None
    return report.classes, {s.path: s.code for s in report.skipped}, list(report.errors), root


_SLOW = {"many_tiny.zip"}  # 2,000 files: checked through two entry points, not four
ARCHIVE_PARAMS = [pytest.param(case, entry, id=f"{case.name}-{entry}")
                  for case in H.ARCHIVES for entry in ENTRIES
                  if case.name not in _SLOW or entry in ("upload", "cli")]


@pytest.mark.parametrize("case, entry", ARCHIVE_PARAMS)
def test_archive_import_refuses_what_is_hostile_and_writes_only_in_its_place(case, entry, corpus, sandbox):
    path = corpus["archives"][case.name]
    before = H.tree(sandbox)
    try:
        classes, skipped, errors, root = _import(entry, path)
        raised = None
    except DataError as exc:
        raised, root = str(exc), None
    written = new_paths(before, H.tree(sandbox))
    place = PLACES[entry]
    outside = [p for p in written if place is None or not (p.startswith(place) or place.startswith(p))]
    assert not outside, f"{entry} wrote outside {place}: {outside}"
    if case.expect is not None:
        message = raised or (errors[0] if errors else "")
        assert case.expect in message, (entry, raised, errors)
        if raised and "No usable images" not in raised:  # refused unread: nothing kept but the session marker
            assert [p for p, size in written.items() if size >= 0 and not p.endswith(".last-used")] == []
        return
    assert raised is None, raised
    assert classes == case.classes
    assert {p: skipped.get(p) for p in case.skipped} == case.skipped, skipped
    assert not errors
    if root is not None:
        for rel in case.present:
            assert (root / rel).is_file(), sorted(p.name for p in root.rglob("*"))
        assert all(p.resolve().is_relative_to(root.resolve()) for p in root.rglob("*"))


def test_upload_limit_is_enforced_for_zips_and_per_class_images(corpus, sandbox):
    from core.data.uploads import import_class_images, import_zip_bytes

    big = H.over_limit_png(LIMIT)
    with pytest.raises(DataError, match=f"more than the upload limit of {LIMIT_MB} MB "):
        import_zip_bytes(corpus["archives"]["over_limit.zip"].read_bytes(), SESSION)
    with pytest.raises(DataError, match="add up to"):
        import_class_images({"cats": [("big.png", big)], "dogs": [("0.png", H.png())]}, SESSION)
    assert not [p for p in (sandbox / "data").rglob("*") if p.is_file() and p.name != ".last-used"]


def test_images_uploaded_per_class_cannot_escape_or_break_names(sandbox):
    from core.data.inspect import inspect_dataset
    from core.data.uploads import import_class_images

    classes = {
        H.MARKUP_CLASS: [(f"../../{H.EVIL_NAME}-1.png", H.png(seed=1)), ("a.png", H.png(seed=2)),
                         ("b.png", H.png(seed=3))],
        "../../escape": [("/etc/passwd.png", H.png(seed=4)), ("C:\\x\\y.png", H.png(seed=5)),
                         (".hidden.png", H.png(seed=6)), ("notes.txt", b"hi"),
                         ("page.png", b"<html></html>")],
    }
    root = import_class_images(classes, SESSION)
    assert root.parent == sandbox / "data" / "sessions" / SESSION
    files = [p for p in root.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(root.resolve()) for p in files)
    report = inspect_dataset(root)
    assert report.classes == {H.MARKUP_CLASS: 3, "../../escape": 2}  # labels kept exactly as typed
    codes = {s.code for s in report.skipped}
    assert codes == {"hidden", "not-image"}, report.skipped
    with pytest.raises(ParameterError, match="class name"):
        import_class_images({"  ": [("a.png", H.png())]}, SESSION)


# -- datasets --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", H.DATASETS, ids=lambda c: c.name)
def test_data_inspect_reports_each_dataset(case, corpus, sandbox):
    root = corpus["datasets"][case.name]
    code, stdout, stderr = cli("data", "inspect", root, "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["classes"] == case.classes
    assert report["usable"] == (case.expect is None)
    if case.expect is not None:
        assert case.expect in report["errors"][0]
    code, stdout, stderr = cli("data", "inspect", root, "--strict")
    assert "Usable: " in stdout
    if case.expect is None:
        assert code == 0 and stderr == ""
    else:
        assert code == 2 and case.expect in last_line(stderr)


def test_python_m_core_data_inspect_end_to_end(corpus, sandbox):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "core", "data", "inspect", *args], cwd=sandbox / "cwd",
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    proc = run(str(corpus["archives"]["traversal.zip"]), "--json")
    assert proc.returncode == 0, proc.stderr
    skipped = {s["path"]: s["code"] for s in json.loads(proc.stdout)["skipped"]}
    assert set(skipped.values()) == {"unsafe-path"} and len(skipped) == 4
    proc = run(str(corpus["datasets"]["markup_class"]), "--strict")
    assert proc.returncode == 0 and H.MARKUP_CLASS.replace("/", "_")[:40] in proc.stdout
    proc = run(str(corpus["datasets"]["empty_class"]), "--strict")
    assert proc.returncode == 2 and last_line(proc.stderr) == (
        "error: Class 'empty' has 0 usable images; at least 2 are needed.")


TRAIN = ["train", "--model", "small_cnn", "--image-size", "16", "--epochs", "1", "--batch-size", "4"]
UNUSABLE = [(f"datasets/{c.name}", c.expect) for c in H.DATASETS if c.expect] + [
    (f"archives/{c.name}", c.expect) for c in H.ARCHIVES if c.expect and not c.needs_small_upload_limit]


@pytest.mark.parametrize("source, expect", UNUSABLE, ids=[s for s, _ in UNUSABLE])
def test_training_refuses_an_unusable_dataset_before_creating_a_run(source, expect, corpus, sandbox):
    kind, name = source.split("/")
    path = corpus[kind][name]
    code, stdout, stderr = cli(*TRAIN, "--data", path, "--out", sandbox / "runs")
    assert code == 2 and expect in last_line(stderr), stderr
    assert not os.listdir(sandbox / "runs"), "a run folder was created for data that cannot be trained on"


@pytest.mark.parametrize("source", ["datasets/markup_class", "datasets/hostile_beside_good",
                                    "archives/links.zip"])
def test_training_config_and_dataset_check_accept_awkward_but_usable_data(source, corpus, sandbox):
    from core.cli.train_cmd import build_config
    from core.data.dataset import open_dataset

    kind, name = source.split("/")
    args = build_parser().parse_args([*TRAIN, "--data", str(corpus[kind][name])])
    config = build_config(args)
    dataset = open_dataset(config.data).with_splits(config.val_fraction, config.test_fraction, config.seed)
    assert dataset.num_classes >= 2 and dataset.items("train") and dataset.items("val")
    if name == "markup_class":
        assert H.MARKUP_CLASS.replace("/", "_") in dataset.class_names  # exactly as the folder says


HOSTILE_CONFIGS = [
    ({"epochs": "10"}, "epochs"), ({"epochs": True}, "epochs"), ({"epochs": 1e9}, "epochs"),
    ({"epochs": None}, "epochs"), ({"data": 5}, "data"), ({"data": ["a"]}, "data"), ({"model": ""}, "model"),
    ({"model": 5}, "model"), ({"name": "x" * 1000}, "name"), ({"name": 5}, "name"),
    ({"adversarial": "fgsm"}, "adversarial"), ({"adversarial": [1]}, "adversarial"),
    ({"adversarial": {"method": 3}}, "adversarial.method"),
    ({"adversarial": {"eps": "4"}}, "adversarial.eps"),
    ({"adversarial": {"params": "x"}}, "adversarial.params"), ({"adversarial": {"epsilon": 4}}, "epsilon"),
    ({"adversarial": {"method": "zzz"}}, "zzz"), ({"augment": 7}, "augment"),
    ({"augment": {"bogus": 1}}, "bogus"),
    ({"augment": {"rotation": 1e9}}, "rotation"), ({"augment": "{bad json"}, "JSON"),
    ({"image_size": 10**9}, "image_size"), ({"val_fraction": "0.2"}, "val_fraction"),
    ({"learning_rate": 1e308}, "learning_rate"), ({"batch_size": -1}, "batch_size"),
    ({"fast_features": "no"}, "fast_features"), ({"hidden_units": 10**7}, "hidden_units"),
    ({"seed": 2**40}, "seed"), ({"fine_tune_unit": None}, "fine_tune_unit"),
    ({"early_stopping_patience": 1.5}, "early_stopping_patience"), ({"dropout": -0.1}, "dropout"),
    ({"unknown_setting": 1}, "unknown_setting"),
]


@pytest.mark.parametrize("change, needle", HOSTILE_CONFIGS, ids=[str(c)[:40] for c, _ in HOSTILE_CONFIGS])
def test_train_config_file_with_nonsense_is_refused_naming_the_setting(change, needle, corpus, sandbox):
    base = {"data": str(corpus["datasets"]["markup_class"]), "model": "small_cnn", "image_size": 16,
            "epochs": 1, "val_fraction": 0.34}
    if "adversarial" in change and isinstance(change["adversarial"], dict):
        change = {"adversarial": {"method": "fgsm", "eps": 4, **change["adversarial"]}}
    config = sandbox / "config.json"
    config.write_text(json.dumps({**base, **change}))
    code, _, stderr = cli("train", "--config", config, "--out", sandbox / "runs")
    assert code == 2 and needle in last_line(stderr), stderr
    assert not os.listdir(sandbox / "runs")
    config.unlink()


@pytest.mark.parametrize("content", ["[1, 2]", "null", '"shapes"', "5", "{nope", ""])
def test_train_config_file_that_is_not_an_object_is_refused(content, sandbox):
    config = sandbox / "config.json"
    config.write_text(content)
    code, _, stderr = cli("train", "--config", config)
    assert code == 2 and "--config" in last_line(stderr)
    config.unlink()


# -- every CLI option refuses nonsense, naming itself -----------------------------------------------------
# {model} a tiny .keras, {img} a good photo, {ds} a usable dataset, {file} an existing plain file,
# {missing} a path that does not exist, {run} a complete run folder (see the fixture below).
NONSENSE: list[tuple[list[str], str]] = [
    (["predict", "--model", "nope", "{img}"], "Unknown model 'nope'"),
    (["predict", "--model", "{missing}.keras", "{img}"], "missing.keras"),
    (["predict", "--model", "{model}", "--weights", "{file}", "{img}"], "--weights"),
    (["predict", "--model", "resnet50", "--weights", "{missing}", "{img}"], "--weights"),
    (["predict", "--model", "{model}", "--top", "0", "{img}"], "--top"),
    (["predict", "--model", "{model}", "--top", "-3", "{img}"], "--top"),
    (["predict", "--model", "{model}", "--top", "many", "{img}"], "--top"),
    (["predict", "--model", "{model}", "{missing}"], "no such file"),
    (["predict", "--model", "{model}", "{ds}"], "is a folder, not an image file"),
    (["explain", "--model", "nope", "{img}"], "Unknown model 'nope'"),
    (["explain", "--model", "{model}", "--weights", "{file}", "{img}"], "--weights"),
    (["explain", "--model", "{model}", "--method", "magic", "{img}"], "Unknown explanation method 'magic'"),
    (["explain", "--model", "{model}", "--layer", "no_such_layer", "{img}"], "no_such_layer"),
    (["explain", "--model", "{model}", "--layer", "probabilities", "{img}"], "probabilities"),
    (["explain", "--model", "{model}", "--layer", "", "{img}"], "layer"),
    (["explain", "--model", "{model}", "--target", "unicorn", "{img}"], "--target"),
    (["explain", "--model", "{model}", "--target", "99", "{img}"], "--target"),
    (["explain", "--model", "{model}", "--target", "-1", "{img}"], "--target"),
    (["explain", "--model", "{model}", "--out", "{file}", "{img}"], "--out"),
    (["explain", "--model", "{model}", "--out", "{file}/sub", "{img}"], "--out"),
    (["attack", "--model", "nope", "--eps", "4", "{img}"], "Unknown model 'nope'"),
    (["attack", "--model", "{model}", "--weights", "{file}", "--eps", "4", "{img}"], "--weights"),
    (["attack", "--model", "{model}", "{img}"], "--eps"),
    (["attack", "--model", "{model}", "--eps", "-1", "{img}"], "eps"),
    (["attack", "--model", "{model}", "--eps", "300", "{img}"], "eps"),
    (["attack", "--model", "{model}", "--eps", "nan", "{img}"], "eps"),
    (["attack", "--model", "{model}", "--eps", "inf", "{img}"], "eps"),
    (["attack", "--model", "{model}", "--eps", "lots", "{img}"], "--eps"),
    (["attack", "--model", "{model}", "--eps", "4", "--method", "deepfool", "{img}"], "deepfool"),
    (["attack", "--model", "{model}", "--eps", "4", "--steps", "0", "{img}"], "steps"),
    (["attack", "--model", "{model}", "--eps", "4", "--steps", "-5", "{img}"], "steps"),
    (["attack", "--model", "{model}", "--eps", "4", "--steps", "x", "{img}"], "--steps"),
    (["attack", "--model", "{model}", "--eps", "4", "--method", "fgsm", "--steps", "5", "{img}"], "steps"),
    (["attack", "--model", "{model}", "--eps", "4", "--step-size", "-1", "{img}"], "--step-size"),
    (["attack", "--model", "{model}", "--eps", "4", "--step-size", "nan", "{img}"], "--step-size"),
    (["attack", "--model", "{model}", "--eps", "4", "--seed", "-1", "{img}"], "seed"),
    (["attack", "--model", "{model}", "--eps", "4", "--seed", "x", "{img}"], "--seed"),
    (["attack", "--model", "{model}", "--eps", "4", "--target", "giraffe", "{img}"], "giraffe"),
    (["attack", "--model", "{model}", "--eps", "4", "--target", "7", "{img}"], "--target"),
    (["attack", "--model", "{model}", "--eps", "4", "--defence", "blur", "{img}"], "blur"),
    (["attack", "--model", "{model}", "--eps", "4", "--out", "{file}", "{img}"], "--out"),
    (["data", "inspect", "{missing}"], "No such dataset"),
    (["data", "inspect", "{file}"], "not a readable zip"),
    (["data", "inspect", "--min-per-class", "0", "{ds}"], "--min-per-class"),
    (["data", "inspect", "--min-per-class", "two", "{ds}"], "--min-per-class"),
    (["data", "builtin", "cifar10"], "cifar10"),
    (["data", "builtin", "shapes", "--image-size", "0"], "--image-size"),
    (["data", "builtin", "shapes", "--image-size", "3"], "image_size"),
    (["data", "builtin", "shapes", "--per-class", "0"], "--per-class"),
    (["data", "builtin", "shapes", "--per-class", "1"], "per_class"),
    (["data", "builtin", "shapes", "--seed", "x"], "--seed"),
    (["train", "--data", "{missing}", "--model", "small_cnn"], "No such dataset"),
    (["train", "--model", "small_cnn"], "--data"),
    (["train", "--data", "{ds}", "--model", "nope"], "Unknown model 'nope'"),
    (["train", "--data", "{ds}", "--config", "{missing}"], "--config"),
    (["train", "--data", "{ds}", "--out", "{file}"], "runs folder"),
    (["train", "--data", "{ds}", "--name", "x" * 300], "name"),
    (["train", "--data", "{ds}", "--epochs", "0"], "--epochs"),
    (["train", "--data", "{ds}", "--epochs", "-2"], "--epochs"),
    (["train", "--data", "{ds}", "--batch-size", "0"], "--batch-size"),
    (["train", "--data", "{ds}", "--lr", "0"], "--lr"),
    (["train", "--data", "{ds}", "--lr", "-1"], "--lr"),
    (["train", "--data", "{ds}", "--lr", "nan"], "--lr"),
    (["train", "--data", "{ds}", "--lr", "100"], "learning_rate"),
    (["train", "--data", "{ds}", "--fine-tune-layers", "-1"], "--fine-tune-layers"),
    (["train", "--data", "{ds}", "--model", "small_cnn", "--fine-tune-layers", "2"], "fine_tune_layers"),
    (["train", "--data", "{ds}", "--fine-tune-unit", "stages"], "--fine-tune-unit"),
    (["train", "--data", "{ds}", "--fine-tune-epochs", "0"], "--fine-tune-epochs"),
    (["train", "--data", "{ds}", "--fine-tune-lr", "0"], "--fine-tune-lr"),
    (["train", "--data", "{ds}", "--augment", "wild"], "augment"),
    (["train", "--data", "{ds}", "--augment", "{file}"], "JSON"),
    (["train", "--data", "{ds}", "--views", "0"], "--views"),
    (["train", "--data", "{ds}", "--views", "99"], "augment_views"),
    (["train", "--data", "{ds}", "--label-smoothing", "1"], "--label-smoothing"),
    (["train", "--data", "{ds}", "--label-smoothing", "-0.1"], "--label-smoothing"),
    (["train", "--data", "{ds}", "--patience", "-1"], "--patience"),
    (["train", "--data", "{ds}", "--dropout", "1"], "--dropout"),
    (["train", "--data", "{ds}", "--hidden-units", "-1"], "--hidden-units"),
    (["train", "--data", "{ds}", "--val-fraction", "0"], "--val-fraction"),
    (["train", "--data", "{ds}", "--val-fraction", "1"], "val_fraction"),
    (["train", "--data", "{ds}", "--test-fraction", "0.9"], "test_fraction"),
    (["train", "--data", "{ds}", "--test-fraction", "-0.5"], "--test-fraction"),
    (["train", "--data", "{ds}", "--image-size", "8"], "image_size"),
    (["train", "--data", "{ds}", "--model", "efficientnet_lite0", "--image-size", "64"], "image_size"),
    (["train", "--data", "{ds}", "--seed", "-1"], "--seed"),
    (["train", "--data", "{ds}", "--adversarial", "bogus"], "--adversarial"),
    (["train", "--data", "{ds}", "--adversarial", "fgsm:-1"], "adversarial.eps"),
    (["train", "--data", "{ds}", "--adversarial", "fgsm:4:2"], "adversarial.ratio"),
    (["train", "--data", "{ds}", "--adversarial", "magic:4"], "magic"),
    (["train", "--data", "{ds}", "--export", "onnx"], "--export"),
    (["runs", "show", "nope"], "No run 'nope'"),
    (["runs", "show", "{ds}"], "is not a run inside"),
    (["runs", "rename", "nope", "new"], "No run 'nope'"),
    (["runs", "rename", "{run}", "\x07"], "name"),
    (["runs", "delete", "nope", "--yes"], "No run 'nope'"),
    (["runs", "delete", "{ds}", "--yes"], "is not a run inside"),
    (["compress", "--model", "nope", "--variants", "int8"], "nope"),
    (["compress", "--model", "{run}", "--variants", "int9"], "int9"),
    (["compress", "--model", "{run}", "--variants", "prune:1.5"], "prune"),
    (["compress", "--model", "{run}", "--variants", "int8", "--eval-images", "0"], "--eval-images"),
    (["compress", "--model", "{run}", "--variants", "distil:small_cnn", "--temperature", "0"], "temperature"),
    (["compress", "--model", "{run}", "--variants", "distil:small_cnn", "--alpha", "2"], "alpha"),
    (["compress", "--model", "{run}", "--variants", "distil:small_cnn", "--distil-epochs", "0"], "epochs"),
    (["compress", "--model", "{run}", "--variants", "int8", "--data", "{missing}"], "missing"),
    (["compress", "--model", "{run}", "--variants", "int8", "--out", "{file}"], "plain.txt"),
    (["compress", "--model", "nope", "--variants", "int8", "--root", "{file}"], "plain.txt"),
    (["explain", "--model", "{model}", "--target", "0", "--contrast", "nope", "{img}"], "--contrast"),
    (["runs", "import", "{missing}"], "no such model file"),
    (["runs", "import", "{file}"], "saved as a .keras file"),
    (["runs", "import", "{model}", "--classes", "{missing}"], "class names file"),
    (["runs", "import", "{model}", "--classes", "{file}"], "lists 1 name but the model has"),
    (["runs", "import", "{model}", "--input-range", "0-9"], "--input-range"),
    (["runs", "export", "nope"], "No run 'nope'"),
    (["runs", "export", "{run}", "--formats", "onnx"], "--formats"),
    (["runs", "export", "{run}", "--formats", ","], "--formats"),
    (["runs", "export", "{run}", "--parity-images", "0"], "--parity-images"),
    (["runs", "export", "{run}", "--formats", "keras", "--out", "{file}"], "exports"),
    (["evaluate", "--model", "nope", "--data", "{ds}"], "Unknown model 'nope'"),
    (["evaluate", "--model", "{model}"], "--data"),
    (["evaluate", "--model", "{model}", "--data", "{missing}"], "No such dataset"),
    (["evaluate", "--model", "{model}", "--data", "{ds}", "--split", "bogus"], "bogus"),
    (["evaluate", "--model", "{model}", "--data", "{ds}", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "--model", "{model}", "--data", "{ds}", "--bins", "0"], "--bins"),
    (["evaluate", "--model", "{model}", "--data", "{ds}", "--out", "{file}"], "--out"),
    (["evaluate", "--model", "{model}", "--data", "{ds}", "--val-fraction", "2"], "--val-fraction"),
    (["evaluate", "--model", "{model}", "--data", "{ds}", "--test-fraction", "-1"], "--test-fraction"),
    (["evaluate", "--model", "{model}", "--data", "{ds}", "--val-fraction", "0.6", "--test-fraction", "0.6"],
     "val_fraction + test_fraction"),
    (["evaluate", "--model", "{model}", "--data", "{ds}", "--seed", "x"], "--seed"),
    (["compare", "nope", "{model}", "--data", "{ds}"], "Unknown model 'nope'"),
    (["compare", "{model}", "{model}"], "--data"),
    (["compare", "{model}", "{model}", "--data", "{missing}"], "No such dataset"),
    (["compare", "{model}", "{model}", "--data", "{ds}", "--split", "bogus"], "bogus"),
    (["compare", "{model}", "{model}", "--data", "{ds}", "--batch-size", "0"], "--batch-size"),
    (["compare", "{model}", "{model}", "--data", "{ds}", "--explained", "0"], "--explained"),
    (["compare", "{model}", "{model}", "--data", "{ds}", "--explained", "201"], "--explained"),
    (["compare", "{model}", "{model}", "--data", "{ds}", "--out", "{file}"], "--out"),
    (["data", "correct", "{ds}", "--relabel", "{file}"], "--relabel takes IMAGE=CLASS"),
    (["data", "correct", "{ds}", "--relabel", "{file}=nope"], "Unknown class 'nope'"),
    (["data", "correct", "{ds}", "--remove", "{missing}"], "is not an image of the dataset"),
    (["data", "correct", "{ds}", "--add", "{file}"], "--add takes IMAGE=CLASS"),
    (["models", "--prepare", "nope"], "Unknown model 'nope'"),
    (["trust", "--model", "nope", "{img}"], "Unknown model 'nope'"),
    (["trust", "--model", "{model}", "--method", "magic", "{img}"], "magic"),
    (["trust", "--model", "{model}", "--method", ",", "{img}"], "--method"),
    (["trust", "--model", "{model}", "--layer", "no_such_layer", "{img}"], "no_such_layer"),
    (["trust", "--model", "{model}", "--target", "unicorn", "{img}"], "--target"),
    (["trust", "--model", "{model}", "--baseline", "grey", "{img}"], "--baseline"),
    (["trust", "--model", "{model}", "--steps", "0", "{img}"], "--steps"),
    (["trust", "--model", "{model}", "--tolerance", "-1", "{img}"], "--tolerance"),
    (["trust", "--model", "{model}", "--tolerance", "x", "{img}"], "--tolerance"),
    (["trust", "--model", "{model}", "--limit", "0", "--data", "{ds}"], "--limit"),
    (["trust", "--model", "{model}", "--curves", "0", "--data", "{ds}"], "--curves"),
    (["trust", "--model", "{model}", "--data", "{ds}", "--split", "nope"], "Unknown split 'nope'"),
    (["trust", "--model", "{model}", "--data", "{missing}"], "No such dataset"),
    (["trust", "--model", "{model}", "--data", "{ds}", "{img}"], "not both"),
    # issue 16: names the system refuses, numbers Python refuses to parse, files that never end
    (["predict", "--model", "m" * 5000, "{img}"], "File name too long"),
    (["explain", "--model", "{model}", "--out", "o" * 5000, "{img}"], "--out"),
    (["attack", "--model", "{model}", "--eps", "4", "--out", "{file}/sub" + "o" * 300, "{img}"], "--out"),
    (["evaluate", "--model", "{model}", "--data", "{ds}", "--out", "o" * 5000], "--out"),
    (["explain", "--model", "{model}", "--target", "9" * 5000, "{img}"], "--target must be a class index"),
    (["attack", "--model", "{model}", "--eps", "4", "--target", "9" * 5000, "{img}"], "--target must be"),
    (["explain", "--model", "{model}", "--layer", "pixels", "{img}"], "is the model's input"),
    (["trust", "--model", "{model}", "--layer", "pixels", "{img}"], "is the model's input"),
    (["train", "--data", "{ds}", "--config", "/dev/zero"], "--config: /dev/zero is a pipe, a device"),
    (["train", "--data", "{ds}", "--config", "c" * 5000], "--config: cannot read ccc"),
    (["train", "--data", "{ds}", "--config", "~no-such-user-here/c.json"], "--config: cannot read ~no-such-user"),
    (["train", "--data", "{ds}", "--augment", "a" * 5000], "is neither a preset"),
    (["data", "inspect", "d" * 5000], "Cannot open the dataset ddd"),
    (["data", "inspect", "/proc/self/mem"], "Cannot open the dataset /proc/self/mem"),
    (["train", "--data", "d" * 5000], "Cannot open the dataset ddd"),
    (["train", "--data", "shapes", "--queue", "http://queue:6379"], "--queue must be a Redis URL"),
    (["worker", "--queue", "redis://h:port/0"], "--queue: the port in 'redis://h:port/0' is not a number"),
    (["worker", "--queue", "redis://127.0.0.1:9/0", "--jobs", "0"], "--jobs"),
    (["worker", "--queue", "redis://127.0.0.1:9/0", "--name", " "], "--name"),
    (["worker", "--queue", "redis://127.0.0.1:9/0", "--name", "w1", "--jobs", "2"], "--name names one worker"),
]
# Value-taking options with no nonsense case here, and why.
EXEMPT = {
    ("runs", "--root"): "any folder may hold runs; a file there lists none (reported, not an error yet)",
    ("data", "--note"): "free text kept with the version (cut at 500 characters)",
}


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory, tiny_model) -> Path:
    """A run folder that says it is complete (enough for every check before an export starts)."""
    import shutil

    from core.train import runs

    root = tmp_path_factory.mktemp("runs")
    run_dir = runs.create_run({"name": "tiny", "base_model": "small_cnn"}, root, "tiny-run")
    shutil.copy(tiny_model, run_dir / runs.MODEL_FILE)
    runs.update_meta(run_dir, status=runs.COMPLETE, class_names=["a", "b", "c"])
    return run_dir


@pytest.mark.parametrize("args, needle", NONSENSE, ids=[" ".join(a)[:60] for a, _ in NONSENSE])
def test_every_cli_option_rejects_nonsense_naming_it(args, needle, corpus, tiny_model, complete_run, sandbox):
    (sandbox / "plain.txt").write_text("just text")
    values = {"{model}": tiny_model, "{img}": str(corpus["images"]["cmyk.jpg"]),
              "{ds}": str(corpus["datasets"]["markup_class"]), "{file}": str(sandbox / "plain.txt"),
              "{missing}": str(sandbox / "missing"), "{run}": str(complete_run)}
    resolved = []
    for arg in args:
        for key, value in values.items():
            arg = arg.replace(key, value)
        resolved.append(arg)
    if resolved[0] in ("runs", "compress") and "{run}" in args:  # the run lives in its own runs folder
        resolved[1:1] = ["--root", str(complete_run.parent)]
    if resolved[0] == "train":  # if a nonsense value ever slipped through, train something tiny
        resolved += [] if "--out" in resolved else ["--out", str(sandbox / "runs")]
        resolved += [] if "--model" in resolved else ["--model", "small_cnn"]
        if "--image-size" not in resolved and "small_cnn" in resolved:
            resolved += ["--image-size", "16"]
    before = H.tree(sandbox)
    code, stdout, stderr = cli(*resolved)
    assert code == 2, (code, stdout[-500:], stderr[-500:])
    line = last_line(stderr)
    assert needle in line, line
    written = [p for p, size in new_paths(before, H.tree(sandbox)).items() if size >= 0]
    assert not written, f"refused, but wrote {written}"
    assert complete_run.is_dir() and (corpus["datasets"]["markup_class"]).is_dir()  # delete refused: intact


def _value_options(parser, path: tuple[str, ...] = ()) -> set[tuple[str, str]]:
    """(command path, option) for every option that takes a value, through nested sub-commands."""
    import argparse

    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _value_options(sub, (*path, name))
        elif action.option_strings and action.nargs != 0 and "--help" not in action.option_strings:
            found.add((" ".join(path), max(action.option_strings, key=len)))
    return found


def test_the_nonsense_table_covers_every_value_option():
    options = _value_options(build_parser())
    covered = set()
    for args, _ in NONSENSE:
        command = args[0] if args[0] not in ("data", "runs") else f"{args[0]} {args[1]}"
        for arg in args:
            if arg.startswith("--"):
                covered.add((command, arg))
                covered.add((args[0], arg))  # options of the parent (runs --root)
    missing = sorted(f"{cmd} {opt}" for cmd, opt in options - covered if (cmd.split()[0], opt) not in EXEMPT)
    assert not missing, f"add nonsense cases to NONSENSE for: {', '.join(missing)}"


# -- the dashboard's uploader ----------------------------------------------------------------------------
def test_explain_page_uploader_gives_each_bad_file_its_sentence_and_keeps_working(lite0, corpus, monkeypatch):
    monkeypatch.setenv("GLASSWING_MAX_UPLOAD_MB", "1")
    app = AppTest.from_file(APP, default_timeout=180)
    app.session_state["photo_source"] = "Upload"  # start on the uploader: no sample to explain
    app.run()
    assert not app.exception, app.exception
    bad = [case for case in H.IMAGES if case.expect is not None]
    files = [(c.name, corpus["images"][c.name].read_bytes(), "application/octet-stream") for c in bad]
    files += [("huge.png", H.over_limit_png(2**20), "image/png"),
              ("animated.gif", corpus["images"]["animated.gif"].read_bytes(), "image/gif")]
    app.get("file_uploader")[0].set_value(files).run()
    assert not app.exception, app.exception
    errors = [e.value for e in app.error]
    for case in bad:
        assert any(e.startswith(f"{case.name}: ") and case.expect in e for e in errors), (case.name, errors)
    assert any(e.startswith("huge.png: ") and "upload limit" in e for e in errors), errors
    assert len(errors) == len(bad) + 1
    # The one good file is still explained, beside all those errors.
    captions = [c for image in app.get("image") for c in image.captions]
    assert "animated.gif" in captions and any(c.startswith("Grad-CAM · ") for c in captions), captions


# -- runs given as paths ---------------------------------------------------------------------------------
def test_runs_commands_never_touch_a_folder_that_is_not_a_run(sandbox):
    precious = sandbox / "data" / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "sub" / "thesis.txt").write_text("years of work")
    for args in (["runs", "delete", precious, "--yes"], ["runs", "rename", precious, "x"],
                 ["runs", "show", precious], ["runs", "export", precious]):
        code, _, stderr = cli(*args)
        assert code == 2 and "is not a run inside" in last_line(stderr)
    assert (precious / "sub" / "thesis.txt").read_text() == "years of work"


def test_no_corpus_file_is_a_symlink_and_every_kind_is_present(corpus):
    """Guards the corpus itself: the issue's list, kind by kind."""
    names = {case.name for case in H.IMAGES}
    assert {"zero_byte.jpg", "truncated.jpg", "truncated.png", "text.jpg", "page.jpg", "sixteen_bit.png",
            "cmyk.jpg", "rgba.png", "palette.png", "animated.gif", "one_pixel.png", "bomb_real.png",
            "exif_rotated.jpg"} <= names
    assert {"traversal.zip", "absolute.zip", "links.zip", "bomb.zip", "nested.zip", "many_tiny.zip",
            "too_many_entries.zip", "non_utf8_names.zip", "over_limit.zip"} <= set(corpus["archives"])
    assert {"empty_class", "single_class", "markup_class"} <= set(corpus["datasets"])
    assert corpus["archives"]["over_limit.zip"].stat().st_size > LIMIT
    image_files = list((corpus["root"] / "images").iterdir())
    assert not [p for p in image_files if stat.S_ISLNK(os.lstat(p).st_mode)]
