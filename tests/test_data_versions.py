"""Dataset versions (the feedback loop): corrections make a new dataset beside the old one, which stays
byte for byte as it was; the version holds the corrected labels, trains and evaluates like any dataset,
records what changed and by whom, and anything refused leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.data.dataset import open_dataset
from core.data.versions import Change, list_versions, make_version, versions_root
from core.errors import GlasswingError

COLOURS = {"blue": (0, 0, 220), "green": (0, 200, 0), "red": (210, 0, 0)}


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path, monkeypatch):
    """Versions made here (some by nobody's session, as the CLI makes them) stay out of other tests' pickers."""
    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "data"))


def _image(path: Path, rgb, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(rgb) + rng.integers(-20, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def split_dataset(tmp_path) -> Path:
    """train/val/test class folders, 4 images per class and split."""
    root = tmp_path / "colours"
    for s, split in enumerate(("train", "val", "test")):
        for c, (name, rgb) in enumerate(COLOURS.items()):
            for i in range(4):
                _image(root / split / name / f"{name}{i}.png", rgb, 100 * s + 10 * c + i)
    return root


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the SHA-256 of its bytes (and so its presence)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_version_holds_the_corrections_and_the_original_is_unchanged(split_dataset, tmp_path):
    before = _tree(split_dataset)
    stat_before = {p: os.stat(split_dataset / p).st_mtime_ns for p in before}
    photo = tmp_path / "my_red_mug.png"
    _image(photo, (230, 10, 10), 7)
    wrong = split_dataset / "test" / "red" / "red1.png"  # a red labelled red, said to be green
    dropped = split_dataset / "train" / "blue" / "blue0.png"
    version = make_version(split_dataset, [Change("relabel", str(wrong), "green"), Change("remove", str(dropped)),
                                           Change("add", str(photo), "red")], owner="session-a", note="mug")
    assert _tree(split_dataset) == before  # byte for byte, no file added or removed
    assert {p: os.stat(split_dataset / p).st_mtime_ns for p in before} == stat_before
    assert version.path.parent == versions_root() and version.number == 1 and version.owner == "session-a"
    files = _tree(version.path)
    assert files["test/green/red1.png"] == before["test/red/red1.png"]  # the same bytes, in its right class
    assert "test/red/red1.png" not in files and "train/blue/blue0.png" not in files
    assert files["train/red/my_red_mug.png"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    opened = open_dataset(version.path)
    assert opened.counts("test") == {"blue": 4, "green": 5, "red": 3}
    assert opened.counts("train") == {"blue": 3, "green": 4, "red": 5}
    relabelled = next(i for i in opened.items("test") if Path(i.path).name == "red1.png")
    assert opened.class_names[relabelled.label] == "green"  # what training and evaluation will see
    meta = json.loads((version.path / "version.json").read_text())
    assert meta["parent"] == str(split_dataset) and meta["origin"] == os.path.realpath(split_dataset)
    assert sorted((c["kind"], c["path"], c["label"], c["from"]) for c in meta["changes"]) == [
        ("add", "train/red/my_red_mug.png", "red", None), ("relabel", "test/green/red1.png", "green", "red"),
        ("remove", "train/blue/blue0.png", None, "blue")]
    assert version.summary() == {"relabel": 1, "remove": 1, "add": 1} and meta["note"] == "mug"


def test_a_version_of_a_version_continues_the_line_and_trains_like_any_dataset(split_dataset):
    from core.evaluate import open_split
    from core.train.config import TrainConfig

    first = make_version(split_dataset, [Change("remove", str(split_dataset / "val" / "red" / "red0.png"))])
    moved = first.path / "train" / "green" / "green2.png"
    second = make_version(first.path, [Change("relabel", str(moved), "blue")], owner="session-b")
    assert (second.number, second.origin) == (2, first.origin)
    assert first.id.startswith("colours-v1") and second.id.startswith("colours-v2")
    assert (first.path / "train" / "green" / "green2.png").is_file()  # the first version is untouched too
    train = open_split(str(second.path), "train")
    labels = {Path(i.path).name: train.class_names[i.label] for i in train.items}
    assert labels["green2.png"] == "blue" and len(train.items) == 12
    TrainConfig(data=str(second.path), model="small_cnn", image_size=32, epochs=1).validate()
    mine = [v.id for v in list_versions(owner="session-b")]  # its own and those nobody owns, newest first
    assert mine.index(second.id) < mine.index(first.id)
    theirs = [v.id for v in list_versions(owner="session-c")]
    assert first.id in theirs and second.id not in theirs


def test_a_pool_dataset_keeps_its_class_folders(tmp_path):
    root = tmp_path / "pool"
    for c, (name, rgb) in enumerate(COLOURS.items()):
        for i in range(5):
            _image(root / name / f"{i}.png", rgb, 10 * c + i)
    version = make_version(root, [Change("relabel", str(root / "red" / "0.png"), "blue")])
    assert sorted(_tree(version.path)) == sorted([*(f"{n}/{i}.png" for n in COLOURS for i in range(5)
                                                    if (n, i) != ("red", 0)), "blue/0-1.png",
                                                  "dataset.json", "version.json"])


@pytest.mark.parametrize("change,message", [
    (lambda d, t: [], "Nothing to change"),
    (lambda d, t: [Change("relabel", str(t / "elsewhere.png"), "red")], "is not an image of the dataset"),
    (lambda d, t: [Change("relabel", str(d / "test" / "red" / "red1.png"), "purple")], "Unknown class 'purple'"),
    (lambda d, t: [Change("remove", str(d / "test" / "red" / "red1.png")),
                   Change("relabel", str(d / "test" / "red" / "red1.png"), "blue")], "is changed twice"),
    (lambda d, t: [Change("add", str(t / "broken.png"), "red")], "broken.png"),
    (lambda d, t: [Change("add", str(t / "elsewhere.png"), "../up")], "cannot name a new class"),
    (lambda d, t: [Change("add", str(t / "elsewhere.png"), "a/b")], "cannot name a new class"),
    (lambda d, t: [Change("rename", str(d / "test" / "red" / "red1.png"), "red")], "Unknown change 'rename'"),
    (lambda d, t: [Change("remove", str(d / "train" / "red" / f"red{i}.png")) for i in range(4)],
     "leave no usable dataset"),
])
def test_nonsense_is_one_sentence_and_leaves_nothing(split_dataset, tmp_path, change, message):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    _image(tmp_path / "elsewhere.png", (1, 2, 3), 0)
    before = _tree(split_dataset)
    listed = list_versions()
    with pytest.raises(GlasswingError, match=message):
        make_version(split_dataset, change(split_dataset, tmp_path))
    assert _tree(split_dataset) == before and list_versions() == listed
    assert not list(versions_root().glob(".partial-*"))


def test_the_cli_makes_and_lists_versions(split_dataset, tmp_path, capsys):
    wrong = split_dataset / "val" / "blue" / "blue3.png"
    assert main(["data", "correct", str(split_dataset), "--relabel", f"{wrong}=red", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert (Path(made["path"]) / "val" / "red" / "blue3.png").is_file() and made["number"] == 1
    assert main(["data", "versions", "--json"]) == 0
    assert made["id"] in [v["id"] for v in json.loads(capsys.readouterr().out)]
    assert main(["data", "correct", str(split_dataset), "--relabel", str(wrong)]) == 2
    assert "--relabel takes IMAGE=CLASS" in capsys.readouterr().err
    assert main(["data", "correct", str(split_dataset)]) == 2
    assert "Nothing to change" in capsys.readouterr().err


def test_the_refusals_a_page_shows_read_in_chinese(split_dataset, tmp_path):
    from dashboard.i18n import catalogue

    zh = catalogue("zh").gettext
    _image(tmp_path / "elsewhere.png", (1, 2, 3), 0)
    with pytest.raises(GlasswingError) as outside:
        make_version(split_dataset, [Change("relabel", str(tmp_path / "elsewhere.png"), "red")])
    assert outside.value.translated(zh).startswith(f"{tmp_path / 'elsewhere.png'} 不是数据集 ")
    with pytest.raises(GlasswingError) as emptied:
        make_version(split_dataset, [Change("remove", str(split_dataset / "train" / "red" / f"red{i}.png"))
                                     for i in range(4)])
    assert emptied.value.translated(zh).startswith("这些更改之后，数据集就不能用了：")


def test_labels_that_are_not_folder_names_stay_labels_and_nothing_leaves_the_version(tmp_path):
    """An upload per class keeps folder names apart from labels ('T-shirt/top', '../../escaped'): a version keeps
    each class's folder and its label, and a new class from a photo gets a safe folder; nothing is written
    outside the version's folder."""
    root = tmp_path / "upload"
    labels = {"00-shirt": "T-shirt/top", "01-esc": "../../escaped"}
    for c, folder in enumerate(labels):
        for i in range(3):
            _image(root / folder / f"{i}.png", (200 * c, 90, 40), i + 3 * c)
    (root / "dataset.json").write_text(json.dumps({"id": "upload", "source": "per class", "class_labels": labels}))
    assert set(open_dataset(root).class_names) == {"T-shirt/top", "../../escaped"}
    photos = [tmp_path / "photo.png", tmp_path / "photo2.png"]
    for i, photo in enumerate(photos):
        _image(photo, (10, 10, 10), 9 + i)
    version = make_version(root, [Change("relabel", str(root / "00-shirt" / "0.png"), "../../escaped"),
                                  *(Change("add", str(photo), "Mug 2") for photo in photos)])
    files = sorted(str(p.relative_to(version.path)) for p in version.path.rglob("*.png"))
    assert files == ["00-shirt/1.png", "00-shirt/2.png", "01-esc/0-1.png", "01-esc/0.png", "01-esc/1.png",
                     "01-esc/2.png", "Mug 2/photo.png", "Mug 2/photo2.png"], files
    assert not (tmp_path / "escaped").exists() and not (versions_root().parent / "escaped").exists()
    assert open_dataset(version.path).counts() == {"../../escaped": 4, "Mug 2": 2, "T-shirt/top": 2}


def test_two_saves_of_one_line_at_once_both_land_under_their_own_names(split_dataset, monkeypatch):
    """Two sessions correcting one dataset at the same moment pick the same next name; the second to finish
    finds it taken and lands beside it, its own files naming its own id, with nothing half-written left."""
    from core.data import versions

    real, raced = os.rename, []

    def rename(src, dst):
        if Path(dst).parent == versions_root() and not raced:  # the other session's version lands first
            raced.append(Path(dst))
            Path(dst).mkdir()
            (Path(dst) / "version.json").write_text("{}")
        return real(src, dst)

    monkeypatch.setattr(versions.os, "rename", rename)
    version = make_version(split_dataset, [Change("remove", str(split_dataset / "val" / "red" / "red0.png"))])
    assert raced and raced[0].name == "colours-v1" and (raced[0] / "version.json").read_text() == "{}"
    assert version.path != raced[0] and version.id.startswith("colours-v1-") and version.path.name == version.id
    assert json.loads((version.path / "dataset.json").read_text())["id"] == version.id
    assert json.loads((version.path / "version.json").read_text())["id"] == version.id
    assert open_dataset(version.path).counts("val")["red"] == 3
    assert not [p for p in versions_root().iterdir() if p.name.startswith(".partial")]


def test_a_sessions_versions_are_swept_with_it_and_others_stay(split_dataset):
    """A session's versions hold its photos (hard links keep an upload's bytes after its folder goes), so the
    idle sweep removes them with its uploads; another session's and the command line's stay."""
    import time

    from core.data.sessions import cleanup_idle_sessions, session_dir

    wrong, before = str(split_dataset / "val" / "red" / "red0.png"), _tree(split_dataset)
    idle = make_version(split_dataset, [Change("remove", wrong)], owner="idle-session")
    active = make_version(split_dataset, [Change("relabel", wrong, "green")], owner="active-session")
    nobodys = make_version(split_dataset, [Change("remove", wrong)])
    assert session_dir("idle-session", create=False).is_dir()  # making a version marks the session as used
    marker = session_dir("idle-session", create=False) / ".last-used"
    os.utime(marker, (time.time() - 7200, time.time() - 7200))
    assert cleanup_idle_sessions(3600) == ["idle-session"]
    assert not idle.path.exists() and active.path.is_dir() and nobodys.path.is_dir()
    assert [v.id for v in list_versions(owner="idle-session")] == [nobodys.id]
    assert _tree(split_dataset) == before  # the original is untouched: its hard-linked files keep their bytes
