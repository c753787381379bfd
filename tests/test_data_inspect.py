"""Inspection reports: a corpus of bad and awkward image files, layouts, duplicates, errors and the CLI."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile import encode, exif_rotated_jpeg, noise, png_with_claimed_size
from PIL import Image

from core.data import files as F
from core.data.dataset import open_dataset
from core.data.inspect import inspect_dataset
from core.data.labels import display_label, safe_filename
from core.data.scan import classify_image_error, scan_folder
from core.errors import DataError, ImageError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "gwdata"))
    return tmp_path / "gwdata"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def build_corpus(root: Path) -> dict[str, str | None]:
    """Write the corpus; returns relative path -> expected skip code (None: usable)."""
    good = lambda seed, size=24: encode(Image.fromarray(noise(size, size, seed)), "PNG")  # noqa: E731
    jpeg = encode(Image.fromarray(noise(64, 64, 1)), "JPEG", quality=90)
    png = good(2, 48)
    frames = [Image.fromarray(noise(16, 16, s)).convert("P") for s in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    expected: dict[str, str | None] = {
        "cats/ok1.png": None, "cats/ok2.png": None, "cats/ok3.png": None,
        "cats/photo.jpg": None,
        "cats/sixteen_bit.png": None, "cats/cmyk.jpg": None, "cats/rgba.png": None, "cats/palette.png": None,
        "cats/animated.gif": None, "cats/exif_rotated.jpg": None, "cats/sub/deeper.png": None,
        "dogs/ok1.png": None, "dogs/ok2.png": None, "dogs/ok3.png": None,
        "cats/empty.jpg": F.EMPTY,
        "cats/truncated.jpg": F.TRUNCATED,
        "cats/truncated.png": F.TRUNCATED,
        "cats/text.jpg": F.NOT_IMAGE,
        "dogs/page.png": F.NOT_IMAGE,
        "dogs/notes.txt": F.NOT_IMAGE,
        "dogs/tiff_named.png": F.UNSUPPORTED_FORMAT,
        "dogs/one_pixel.png": F.TOO_SMALL,
        "dogs/bomb.png": F.TOO_MANY_PIXELS,
        "dogs/.DS_Store": F.HIDDEN,
        "dogs/._ok1.png": F.HIDDEN,
        "dogs/Thumbs.db": F.HIDDEN,
        "dogs/more.zip": F.NESTED_ARCHIVE,
        "README.txt": F.OUTSIDE_CLASS,
    }
    files = {
        "cats/ok1.png": good(10), "cats/ok2.png": good(11), "cats/ok3.png": good(12), "cats/photo.jpg": jpeg,
        "cats/sixteen_bit.png": encode(Image.fromarray(noise(20, 20, 3, 1).astype(np.uint16) * 257), "PNG"),
        "cats/cmyk.jpg": encode(Image.fromarray(noise(20, 20, 4)).convert("CMYK"), "JPEG"),
        "cats/rgba.png": encode(Image.fromarray(noise(20, 20, 6, 4), "RGBA"), "PNG"),
        "cats/palette.png": encode(Image.fromarray(noise(20, 20, 7)).convert("P"), "PNG"),
        "cats/animated.gif": gif.getvalue(), "cats/exif_rotated.jpg": exif_rotated_jpeg(),
        "cats/sub/deeper.png": good(13),
        "dogs/ok1.png": good(20), "dogs/ok2.png": good(21), "dogs/ok3.png": good(22),
        "cats/empty.jpg": b"", "cats/truncated.jpg": jpeg[: len(jpeg) * 2 // 3],
        "cats/truncated.png": png[: len(png) // 2],
        "cats/text.jpg": b"just some text, not a JPEG\n", "dogs/page.png": b"<html><body>hi</body></html>",
        "dogs/notes.txt": b"notes", "dogs/tiff_named.png": encode(Image.fromarray(noise(20, 20, 8)), "TIFF"),
        "dogs/one_pixel.png": encode(Image.new("RGB", (1, 1), (255, 0, 0)), "PNG"),
        "dogs/bomb.png": png_with_claimed_size(100_000, 100_000),
        "dogs/.DS_Store": b"\0\0\0\1Bud1", "dogs/._ok1.png": b"\0\5\26\7", "dogs/Thumbs.db": b"\xd0\xcf",
        "dogs/more.zip": b"PK\x05\x06" + bytes(18), "README.txt": b"read me",
    }
    for rel, data in files.items():
        write(root / rel, data)
    return expected


def test_corpus_report_lists_every_skipped_file_with_its_reason(tmp_path):
    root = tmp_path / "corpus"
    expected = build_corpus(root)
    os.symlink("/etc/hostname", root / "dogs" / "link.png")
    expected["dogs/link.png"] = F.LINK
    report = inspect_dataset(root)
    usable = [rel for rel, code in expected.items() if code is None]
    assert report.classes == {"cats": sum(r.startswith("cats") for r in usable),
                              "dogs": sum(r.startswith("dogs") for r in usable)}
    assert {s.path: s.code for s in report.skipped} == {r: c for r, c in expected.items() if c}
    by_path = {s.path: s.reason for s in report.skipped}
    assert "0 bytes" in by_path["cats/empty.jpg"] and "100000x100000" in by_path["dogs/bomb.png"]
    assert by_path["dogs/notes.txt"] == "not an image file (.txt)"
    assert not report.errors and report.usable
    assert report.layout == "class-folders" and report.splits == {"all": report.classes}
    assert report.image_sizes.min_width == 16 and report.image_sizes.max_width == 64  # GIF 16, JPEG 64
    json.loads(report.to_json())  # serialisable


def test_exif_rotation_is_applied_before_measuring(tmp_path):
    write(tmp_path / "a" / "x" / "rot.jpg", exif_rotated_jpeg())
    scan = scan_folder(tmp_path / "a")
    assert [(i.width, i.height) for i in scan.images] == [(20, 40)]


def test_pixel_limit_comes_from_config(tmp_path, monkeypatch):
    for cls in ("a", "b"):
        for i in range(2):
            write(tmp_path / "d" / cls / f"{i}.png", encode(Image.fromarray(noise(40, 40, i)), "PNG"))
    write(tmp_path / "d" / "a" / "big.png", encode(Image.fromarray(noise(120, 120, 9)), "PNG"))
    monkeypatch.setenv("GLASSWING_MAX_IMAGE_PIXELS", "10000")
    report = inspect_dataset(tmp_path / "d")
    assert {s.path: s.code for s in report.skipped} == {"a/big.png": F.TOO_MANY_PIXELS}
    assert report.classes == {"a": 2, "b": 2}


def test_unsupported_mode_and_unknown_errors_are_classified():
    from core.images import _to_rgb

    with pytest.raises(ImageError) as info:
        _to_rgb(Image.new("RGBa", (4, 4)), "x.png")
    assert classify_image_error(str(info.value)) == F.UNSUPPORTED_MODE
    assert classify_image_error("x: something new went wrong") == F.UNREADABLE


def test_duplicates_cross_split_duplicates_label_conflicts_and_imbalance(tmp_path):
    root = tmp_path / "split"
    images = {f"{c}{i}": encode(Image.fromarray(noise(20, 20, 100 * k + i)), "PNG")
              for k, c in enumerate("ab") for i in range(12)}
    for i in range(10):
        write(root / "train" / "a" / f"a{i}.png", images[f"a{i}"])
    for i in range(3):
        write(root / "train" / "b" / f"b{i}.png", images[f"b{i}"])
    write(root / "train" / "a" / "a0_copy.png", images["a0"])  # duplicate within train
    write(root / "val" / "a" / "leak.png", images["a1"])  # the same image in train and val
    write(root / "val" / "b" / "b10.png", images["b10"])
    write(root / "val" / "b" / "mislabelled.png", images["a2"])  # also in class a
    write(root / "extra" / "a" / "x.png", images["a11"])
    report = inspect_dataset(root)
    assert report.layout == "splits"
    assert report.splits == {"train": {"a": 11, "b": 3}, "val": {"a": 1, "b": 2}}
    groups = sorted(sorted(g) for g in report.duplicates)
    assert groups == [["train/a/a0.png", "train/a/a0_copy.png"], ["train/a/a1.png", "val/a/leak.png"],
                      ["train/a/a2.png", "val/b/mislabelled.png"]]
    assert sorted(sorted(g) for g in report.cross_split_duplicates) == groups[1:]
    assert [sorted(g) for g in report.label_conflicts] == [groups[2]]
    assert report.imbalance["ratio"] == pytest.approx(12 / 5) and report.imbalance["largest"] == "a"
    assert {s.path: s.code for s in report.skipped} == {"extra/": F.IGNORED_FOLDER}
    assert any("more than one split" in w for w in report.warnings)


def test_too_few_images_or_classes_are_clear_errors(tmp_path):
    one_class = tmp_path / "one"
    for i in range(3):
        write(one_class / "cats" / f"{i}.png", encode(Image.fromarray(noise(20, 20, i)), "PNG"))
    report = inspect_dataset(one_class)
    assert not report.usable and "at least two class folders" in report.errors[0]
    with pytest.raises(DataError, match="Only one class"):
        open_dataset(one_class)

    few = tmp_path / "few"
    shutil.copytree(one_class / "cats", few / "cats")
    write(few / "dogs" / "0.png", encode(Image.fromarray(noise(20, 20, 9)), "PNG"))
    write(few / "dogs" / "bad.jpg", b"not an image")
    (few / "empty").mkdir()
    report = inspect_dataset(few)
    assert report.classes == {"cats": 3, "dogs": 1, "empty": 0}
    assert any("'dogs' has 1 usable image;" in e for e in report.errors)
    assert any("'empty' has 0 usable images" in e for e in report.errors)
    with pytest.raises(DataError, match="usable image"):
        open_dataset(few)
    assert open_dataset(few, min_per_class=1, strict=False).class_names == ["cats", "dogs", "empty"]
    with pytest.raises(DataError, match="No such dataset"):
        inspect_dataset(tmp_path / "missing")


def test_markup_class_names_stay_labels_and_never_break_json(tmp_path):
    evil = "<img src=x onerror=alert(1)> & **bold** \u202e"  # a folder name cannot hold '/'

    for cls in (evil, "plain"):
        for i in range(2):
            write(tmp_path / "m" / cls / f"{i}.png", encode(Image.fromarray(noise(20, 20, i + len(cls))), "PNG"))
    ds = open_dataset(tmp_path / "m")
    assert evil in ds.class_names
    assert json.loads(ds.report.to_json())["classes"][evil] == 2
    assert "\u202e" not in display_label(evil) and "<img" in display_label(evil)  # escaping is the renderer's
    name = safe_filename(evil)
    assert "/" not in name and "<" not in name and not name.startswith(".") and name != safe_filename("plain")
    assert safe_filename("plain") == "plain" and safe_filename("..") != ".." and safe_filename("CON") != "CON"


def test_cli_inspect_json_and_exit_codes(tmp_path):
    root = tmp_path / "corpus"
    build_corpus(root)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GLASSWING_DATA": str(tmp_path / "gwdata")}
    proc = subprocess.run([sys.executable, "-m", "core", "data", "inspect", str(root), "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["classes"] == {"cats": 11, "dogs": 3}
    assert {"path": "cats/empty.jpg", "reason": "the file is empty (0 bytes).", "code": F.EMPTY} in out["skipped"]
    assert all(set(s) == {"path", "reason", "code"} for s in out["skipped"])
    proc = subprocess.run([sys.executable, "-m", "core", "data", "inspect", str(tmp_path / "nope")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith("error: No such dataset")
    shutil.rmtree(root / "dogs")
    proc = subprocess.run([sys.executable, "-m", "core", "data", "inspect", str(root), "--strict"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "Usable: NO" in proc.stdout and "error: Only one class" in proc.stderr


def test_rescans_only_when_the_folder_changes(tmp_path):
    root = tmp_path / "c"
    for cls in ("a", "b"):
        for i in range(2):
            write(root / cls / f"{i}.png", encode(Image.fromarray(noise(20, 20, i)), "PNG"))
    first = inspect_dataset(root)
    assert inspect_dataset(root).to_dict() == first.to_dict()
    write(root / "b" / "2.png", b"broken")
    second = inspect_dataset(root)
    assert second.classes == first.classes and [s.path for s in second.skipped] == ["b/2.png"]


def test_cli_builtin_and_list(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GLASSWING_DATA": str(tmp_path / "gwdata")}
    proc = subprocess.run([sys.executable, "-m", "core", "data", "builtin", "shapes", "--image-size", "16",
                           "--per-class", "4"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip())
    assert path == tmp_path / "gwdata" / "builtin" / "shapes-16px-4pc-seed0" and (path / "dataset.json").is_file()
    proc = subprocess.run([sys.executable, "-m", "core", "data", "list", "--json"], capture_output=True, text=True,
                          env=env, timeout=300)
    rows = {r["id"]: r for r in json.loads(proc.stdout)}
    assert rows["shapes-16px-4pc-seed0"]["path"] == str(path) and "status" in rows["faces"]
    proc = subprocess.run([sys.executable, "-m", "core", "data", "builtin", "shapes", "--per-class", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith("error: per_class must be between")


def test_undecodable_file_names_on_disk_are_handled(tmp_path):
    root = tmp_path / "bytes"
    for cls in (b"caf\xe9", b"plain"):
        folder = os.path.join(os.fsencode(root), cls)
        os.makedirs(folder)
        for i in range(2):
            with open(os.path.join(folder, b"img\xff%d.png" % i), "wb") as fh:
                fh.write(encode(Image.fromarray(noise(20, 20, i + len(cls))), "PNG"))
    ds = open_dataset(root)
    assert ds.class_names == ["caf\ufffd", "plain"] and ds.counts() == {"caf\ufffd": 2, "plain": 2}
    out = json.loads(ds.report.to_json())
    assert out["classes"]["caf\ufffd"] == 2
    from core.data.pipeline import load_batch

    images, labels = load_batch(ds.items(), (8, 8))
    assert images.shape == (4, 8, 8, 3) and labels.tolist() == [0, 0, 1, 1]


def _tiny_classes(root: Path, classes: str = "ab", per_class: int = 3) -> Path:
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(root / c / f"{i}.png")
    return root


def test_a_folder_that_cannot_be_listed_is_skipped_by_name(tmp_path, monkeypatch):
    """As root every folder is readable, so the refusal the OS gives others is simulated."""
    from core.data import scan

    root = _tiny_classes(tmp_path / "d", "abc")
    real = os.scandir

    def scandir(path):
        if Path(path).name == "c":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(scan.os, "scandir", scandir)
    result = scan_folder(root, use_cache=False)
    assert [s for s in result.skipped if s.code == F.UNREADABLE] == [
        F.SkippedFile("c/", "folder cannot be read (permissions)", F.UNREADABLE)]
    assert len(result.images) == 6
    def refused(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(scan.os, "scandir", refused)
    with pytest.raises(DataError, match="cannot be read"):
        scan_folder(tmp_path / "d", use_cache=False)


def test_a_tree_far_larger_than_a_dataset_is_refused_before_it_is_walked(tmp_path, monkeypatch):
    """`data inspect /` walked the whole disk; now the walk stops at the dataset limit."""
    from core.data import scan

    monkeypatch.setattr(scan, "MAX_FILES", 10)
    root = _tiny_classes(tmp_path / "big", "abcdefgh")  # 24 files
    with pytest.raises(DataError, match="more than"):
        scan_folder(root, use_cache=False)
    walked = []
    real_walk = os.walk
    monkeypatch.setattr(scan.os, "walk", lambda top: (walked.append(d) or (d, n, f) for d, n, f in real_walk(top)))
    deep = tmp_path / "deep"
    (deep / "a" / "b" / "c" / "d" / "e" / "f" / "g" / "h" / "i" / "j" / "k" / "l").mkdir(parents=True)
    scan.folder_signature(deep)
    assert max(len(Path(d).relative_to(deep).parts) for d in walked) <= scan.MAX_DEPTH + 5
