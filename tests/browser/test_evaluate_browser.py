"""A student opens /evaluate on a classroom server, presses Evaluate and sees the confusion matrix of the
class model on its own test split, the images of its most frequent mistake and their Grad-CAMs.

The shared ``server`` fixture keeps its folders to itself, so this module starts its own server, set
up as a classroom whose preloaded run is a tiny colour classifier (see tests/test_app_evaluate.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["blue", "green", "red"]
COLOURS = {"red": [(255, 0, 0), (200, 20, 10)], "green": [(0, 255, 0), (20, 180, 10)],
           "blue": [(0, 0, 255), (10, 30, 170)]}
GREENISH_REDS = [(100, 150, 0), (50, 250, 0)]  # labelled red, predicted green
HOME: list[Path] = []  # the server's folders, for tests that look at what it wrote


def _write(path: Path, rgb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 12, 3), rgb, np.uint8)).save(path)


def _make_run(runs: Path, data: Path) -> None:
    import keras

    for split in ("train", "val", "test"):
        for name, colours in COLOURS.items():
            for i, rgb in enumerate(colours):
                _write(data / split / name / f"{name}{i}.png", rgb)
    for i, rgb in enumerate(GREENISH_REDS):
        _write(data / "test" / "red" / f"greenish{i}.png", rgb)
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(3, 1, use_bias=False, name="conv")
    logits = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits))
    conv.set_weights([np.eye(3, dtype=np.float32)[None, None]])
    kernel = np.zeros((3, 3), np.float32)
    kernel[0, 2] = kernel[1, 1] = kernel[2, 0] = 0.02  # red -> column 2, green -> 1, blue -> 0
    model.get_layer("logits").set_weights([kernel, np.zeros(3, np.float32)])
    run = runs / "colour-run"
    run.mkdir(parents=True)
    model.save(run / "model.keras")
    (run / "run.json").write_text(json.dumps({"id": "colour-run", "name": "colour-run", "status": "complete",
                                              "class_names": CLASSES, "base_model": "tiny colour model",
                                              "created": "2026-01-01T00:00:00+00:00"}))
    (run / "config.json").write_text(json.dumps({"data": str(data), "seed": 0}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """``streamlit run`` on a free port, with a runs folder holding the colour run."""
    home = Path(tempfile.mkdtemp(prefix="glasswing-evaluate-browser-"))
    HOME.append(home)
    _make_run(home / "runs", home / "colours")
    port = _free_port()
    log = home / "streamlit.log"
    # A classroom whose class model is the run: it is the picker's default, so no zoo model is loaded.
    env = {**os.environ, "GLASSWING_DATA": str(home / "data"), "GLASSWING_RUNS": str(home / "runs"),
           "PYTHONPATH": str(ROOT), "GLASSWING_PRELOADED_RUN": str(home / "runs" / "colour-run"),
           "GLASSWING_MODELS": "efficientnet_lite1", "GLASSWING_DATASETS": "shapes"}
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(home, ignore_errors=True)


def test_run_on_its_own_test_split_shows_the_confusion_matrix(page):
    page.goto(page.base_url + "/evaluate")
    expect(page.get_by_text("Evaluate a model")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("combobox", name="Model")).to_have_value("Class model: colour-run")
    expect(sidebar.get_by_role("combobox", name="Split")).to_have_value("test (8 images)")
    sidebar.get_by_role("button", name="Evaluate").click()
    matrix = page.get_by_test_id("stPlotlyChart").first
    expect(matrix).to_be_visible()
    expect(matrix.locator(".heatmaplayer, .hm")).not_to_have_count(0)  # the heatmap trace is drawn
    cell = page.get_by_role("combobox", name="Cell (true class → predicted class)")
    expect(cell).to_have_value("red → predicted green · 2 images")  # the most frequent mistake
    expect(page.get_by_text("Grad-CAM · predicted: green").first).to_be_visible()
    expect(page.get_by_text("Grad-CAM · true class: red").first).to_be_visible()
    # Clicking the top-left cell (blue images predicted blue) lists that cell instead.
    box = matrix.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 6, box["y"] + box["height"] / 6)
    expect(cell).to_have_value("blue (correct) · 2 images")
    expect(page.get_by_role("button", name="Predictions (CSV)")).to_be_visible()


def _colours_zip(path: Path) -> None:
    """A pool of the run's three classes (5 shades each, no splits) that the run never trained on."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for name, (r, g, b) in {"red": (230, 10, 20), "green": (15, 210, 30), "blue": (20, 25, 220)}.items():
            for i in range(5):
                buf = io.BytesIO()
                rgb = (max(r - 9 * i, 0), max(g - 9 * i, 0), max(b - 9 * i, 0))
                Image.fromarray(np.full((12, 12, 3), rgb, np.uint8)).save(buf, "PNG")
                zf.writestr(f"colours/{name}/{name}{i}.png", buf.getvalue())


def test_the_sidebar_and_the_drilldown_show_what_is_scored(page, tmp_path):
    import re

    # The run's own test split first; a click on another cell names the image it shows.
    page.goto(page.base_url + "/evaluate")
    sidebar = page.get_by_test_id("stSidebar")
    split = sidebar.get_by_role("combobox", name="Split")
    expect(split).to_have_value("test (8 images)")
    sidebar.get_by_role("button", name="Evaluate").click()
    matrix = page.get_by_test_id("stPlotlyChart").first
    expect(matrix.locator(".heatmaplayer, .hm")).not_to_have_count(0)
    inspect = page.get_by_role("combobox", name="Image to inspect")
    expect(inspect).to_have_value(re.compile(r"^greenish"))
    box = matrix.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 6, box["y"] + box["height"] / 6)  # blue predicted blue
    expect(page.get_by_role("combobox", name="Cell (true class → predicted class)")).to_have_value(
        "blue (correct) · 2 images")
    expect(inspect).to_have_value(re.compile(r"^blue"))  # the image shown below, not the old cell's
    expect(page.get_by_text(re.compile(r"^blue\d\.png · true blue"))).to_be_visible()

    # A dataset the run never saw, uploaded on the Data page: all of it is scored, and the page says so.
    zipped = tmp_path / "colours.zip"
    _colours_zip(zipped)
    sidebar.get_by_role("link", name="Data").click()
    sidebar.get_by_text("Add your own images").click()
    sidebar.locator("input[type='file']").first.set_input_files(str(zipped))
    expect(sidebar.get_by_role("button", name="Remove colours.zip")).to_be_visible()  # uploaded, as a person sees
    sidebar.get_by_role("button", name="Import zip").click()
    expect(page.get_by_role("heading", name=re.compile("Your upload: colours.zip"))).to_be_visible()
    sidebar.get_by_role("link", name="Evaluate").click()
    # The Data page has a Dataset picker too: wait for the Evaluate page before opening its picker.
    expect(page.get_by_role("heading", name="Evaluate a model")).to_be_visible()
    expect(sidebar.get_by_role("button", name="Evaluate")).to_be_visible()
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name=re.compile(r"^Your upload: colours.zip")).click()
    expect(split).to_have_value("all (15 images)")  # not the run's "test (8 images)" left over
    sidebar.get_by_role("button", name="Evaluate").click()
    expect(page.get_by_text(re.compile(r"^Scored: all 15 images of"))).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Images")).to_contain_text("15")


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the main area's selectbox ``label`` as a keyboard user does: open it, type the
    option's name, Enter (a mouse click on the animating list can miss it)."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    combobox = box.get_by_role("combobox")
    for _ in range(5):
        box.click()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type(option)
        page.keyboard.press("Enter")
        try:
            expect(combobox).to_have_value(option, timeout=5000)
            return
        except AssertionError:
            page.keyboard.press("Escape")
    expect(combobox).to_have_value(option)


def test_a_wrong_label_is_corrected_into_a_new_version(page):
    """The feedback loop as a student clicks it: open the drill-down's first mistake, say its right class,
    save; the page confirms and offers the version, and the class model's dataset is unchanged on disk."""
    import hashlib
    import re

    data = HOME[0] / "colours"
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(data.rglob("*")) if p.is_file()}
    page.goto(page.base_url + "/evaluate")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="Evaluate").click()
    expect(page.get_by_role("combobox", name="Cell (true class → predicted class)")).to_have_value(
        "red → predicted green · 2 images")
    page.get_by_text("Is this label wrong? Correct the dataset").click()
    _choose(page, "Its right class", "green")
    page.get_by_role("button", name="Relabel").click()
    expect(page.get_by_text("relabel as green").first).to_be_visible()
    page.get_by_role("button", name="Save as a new version (1 changes)").click()
    expect(page.get_by_text(re.compile(r"^Saved as colours-v1 \(1 relabelled\); the original dataset is "
                                       "unchanged"))).to_be_visible()
    versions = list((HOME[0] / "data" / "versions").glob("colours-v1/test/green/greenish*.png"))
    assert len(versions) == 1
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(data.rglob("*")) if p.is_file()} == before
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    expect(page.get_by_role("option", name=re.compile(r"^Version: colours v1 \(1 relabelled\)"))).to_be_visible()
