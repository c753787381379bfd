"""Built-in datasets: deterministic shapes with true masks, the shortcut watermark, faces, Fashion-MNIST."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from core.data import builtin, fashion, shapes
from core.data.catalog import list_datasets
from core.data.dataset import open_dataset
from core.errors import DataError, ParameterError, UnknownNameError

SIZE, PER_CLASS = 32, 12


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "gwdata"))
    return tmp_path / "gwdata"


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def test_shapes_are_deterministic_split_and_masked(tmp_path, monkeypatch):
    first = builtin.materialise("shapes", image_size=SIZE, per_class=PER_CLASS, seed=3)
    assert first.name == f"shapes-{SIZE}px-{PER_CLASS}pc-seed3"
    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "other"))
    second = builtin.materialise("shapes", image_size=SIZE, per_class=PER_CLASS, seed=3)
    assert tree_digest(first) == tree_digest(second) and first != second
    assert not [p for p in second.parent.iterdir() if p.name.startswith(".")]  # no temp folders left

    ds = open_dataset(second)
    assert ds.id == second.name and ds.class_names == list(shapes.SHAPE_CLASSES) and ds.has_masks
    n_train, n_val, n_test = builtin.split_counts(PER_CLASS)
    assert ds.counts("train") == dict.fromkeys(shapes.SHAPE_CLASSES, n_train)
    assert ds.counts("val") == dict.fromkeys(shapes.SHAPE_CLASSES, n_val)
    assert ds.counts("test") == dict.fromkeys(shapes.SHAPE_CLASSES, n_test)
    x0, y0, _, _ = shapes.watermark_box(SIZE)
    for item in ds.items():
        mask = ds.load_mask(item)
        image = pixels(item.path)
        assert mask.shape == (SIZE, SIZE) and 0.02 < mask.mean() < 0.6
        assert not mask[y0:, x0:].all() and not (mask[y0:, x0:]).any()  # shapes keep off the watermark
        # Oracle: the mask is exactly where the flat shape colour is. Inside it (away from the smoothed
        # edge) every pixel has one colour; just outside it the background differs from that colour.
        inner = ndimage.binary_erosion(mask, iterations=1)
        colour = np.median(image[inner], axis=0)
        assert (np.abs(image[inner] - colour).max(axis=1) <= 2).mean() > 0.9
        ring = ndimage.binary_dilation(mask, iterations=2) & ~ndimage.binary_dilation(mask, iterations=1)
        assert np.abs(image[ring] - colour).sum(axis=1).mean() > 20


def test_shortcut_watermarks_circles_in_train_and_val_only():
    plain = open_dataset(builtin.materialise("shapes", image_size=SIZE, per_class=PER_CLASS))
    cut = open_dataset(builtin.materialise("shapes-shortcut", image_size=SIZE, per_class=PER_CLASS))
    meta = json.loads((cut.root / "dataset.json").read_text())
    assert meta["watermark"]["class"] == "circle" and meta["watermark"]["splits"] == ["train", "val"]
    x0, y0, x1, y1 = meta["watermark"]["box_xyxy"]
    for split in ("train", "val", "test"):
        for a, b in zip(plain.items(split), cut.items(split), strict=True):
            img_a, img_b = pixels(a.path), pixels(b.path)
            marked = split != "test" and cut.class_names[b.label] == "circle"
            outside = np.ones(img_a.shape[:2], bool)
            outside[y0:y1, x0:x1] = False
            assert np.array_equal(img_a[outside], img_b[outside])  # same shapes apart from the mark
            patch = img_b[y0:y1, x0:x1]
            if marked:
                assert (patch[1:-1, 1:-1] == 255).all() and (patch[0] == 0).all() and (patch[:, -1] == 0).all()
            else:
                assert np.array_equal(patch, img_a[y0:y1, x0:x1])


def test_faces_from_scikit_image():
    ds = open_dataset("faces")
    assert ds.id == "faces" and ds.class_names == ["face", "non-face"]
    assert sum(ds.counts().values()) == 200 and ds.counts("test") == {"face": 15, "non-face": 15}
    assert ds.report.image_sizes.max_width == 25 and not ds.has_masks


def test_options_are_validated_and_unknown_names_listed():
    with pytest.raises(UnknownNameError, match="Known built-in datasets: faces, fashion-mnist, shapes"):
        builtin.materialise("cifar")
    with pytest.raises(ParameterError, match="image_size"):
        builtin.materialise("faces", image_size=64)
    with pytest.raises(ParameterError, match="per_class"):
        builtin.materialise("shapes", per_class=2)
    with pytest.raises(ParameterError, match="image_size"):
        builtin.materialise("shapes", image_size=4096)


def test_catalog_lists_builtins_and_made_variants():
    builtin.materialise("faces")
    builtin.materialise("shapes", image_size=SIZE, per_class=PER_CLASS)
    rows = {r["id"]: r for r in list_datasets()}
    assert {"shapes", "shapes-shortcut", "faces", "fashion-mnist"} <= set(rows)
    assert "path" in rows["faces"] and "status" in rows["shapes"]
    assert rows[f"shapes-{SIZE}px-{PER_CLASS}pc-seed0"]["has_masks"]


# --- Fashion-MNIST -----------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def tiny_fashion(tmp_path, monkeypatch):
    """Four tiny idx files standing in for Fashion-MNIST, with FILES pointing at their checksums."""
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (40, 28, 28)),
              "train-labels-idx1-ubyte.gz": np.arange(40) % 10,
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": np.arange(20) % 10}
    raw = {name: idx_bytes(a) for name, a in arrays.items()}
    monkeypatch.setattr(fashion, "FILES", {n: (hashlib.sha256(b).hexdigest(), len(b)) for n, b in raw.items()})
    monkeypatch.setattr(fashion, "DEBIAN_DIRS", ())
    monkeypatch.delenv("GLASSWING_FASHION_MNIST_DIR", raising=False)
    return raw, arrays


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_fashion_download_verifies_and_reports_progress(tiny_fashion, monkeypatch):
    raw, arrays = tiny_fashion
    calls, progress = [], []

    def fake_urlopen(url, timeout):
        calls.append(url)
        name = url.rsplit("/", 1)[1]
        if url.startswith(fashion.MIRRORS[0]) and name.startswith("train-images"):
            return FakeResponse(gzip.compress(b"tampered" + raw[name]))  # first mirror serves bad data
        return FakeResponse(gzip.compress(raw[name]))

    monkeypatch.setattr(fashion.urllib.request, "urlopen", fake_urlopen)
    x_train, y_train, x_test, y_test = fashion.load(progress=lambda d, t, m: progress.append((d, t)))
    assert np.array_equal(x_train, arrays["train-images-idx3-ubyte.gz"]) and y_test.shape == (20,)
    assert sum(u.startswith(fashion.MIRRORS[1]) for u in calls) == 1  # fell back for the tampered file
    assert progress and all(d <= t for d, t in progress)
    assert fashion.find_local() == fashion.download_dir()  # cached: no second download
    calls.clear()
    fashion.load()
    assert not calls


def test_fashion_offline_is_a_clear_error(tiny_fashion, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(fashion.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="apt install dataset-fashion-mnist"):
        fashion.load()
    with pytest.raises(DataError, match="downloading was not allowed"):
        builtin.materialise("fashion-mnist", allow_download=False)


def test_fashion_idx_reader_rejects_bad_files(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((3, 4, 4)))[:-5]))
    with pytest.raises(DataError, match="truncated"):
        fashion.read_idx(path)
    path.write_bytes(b"not gzip")
    with pytest.raises(DataError, match="gzip"):
        fashion.read_idx(path)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((3, 4, 4)))))
    with pytest.raises(DataError, match="checksum"):
        fashion.read_idx(path, "0" * 64)


@pytest.mark.skipif(fashion.find_local() is None, reason="dataset-fashion-mnist is not installed")
def test_fashion_subset_from_the_debian_package():
    path = builtin.materialise("fashion-mnist", per_class=10, allow_download=False)
    ds = open_dataset(path)
    assert ds.class_names == list(fashion.CLASS_NAMES)
    n_train, n_val, n_test = builtin.split_counts(10)
    assert (n_train, n_val, n_test) == (6, 2, 2)
    assert ds.counts("train") == dict.fromkeys(fashion.CLASS_NAMES, n_train)
    assert ds.counts("test") == dict.fromkeys(fashion.CLASS_NAMES, n_test)
    assert ds.report.image_sizes.min_width == ds.report.image_sizes.max_width == 28


def test_a_mask_bomb_is_refused_by_the_image_pixel_cap(tmp_path, monkeypatch):
    from PIL import Image

    from core.data.dataset import open_dataset
    from core.errors import ImageError

    monkeypatch.setenv("GLASSWING_MAX_IMAGE_PIXELS", "10000")
    for c in "ab":
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.full((16, 16, 3), 60 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    (tmp_path / "masks" / "a").mkdir(parents=True)
    Image.new("L", (200, 200)).save(tmp_path / "masks" / "a" / "0.png")  # 40,000 pixels > 10,000
    (tmp_path / "dataset.json").write_text('{"masks": "masks"}')
    dataset = open_dataset(tmp_path)
    assert dataset.mask_path(tmp_path / "a" / "0.png") is not None
    with pytest.raises(ImageError, match="more than the limit"):
        dataset.load_mask(tmp_path / "a" / "0.png")
