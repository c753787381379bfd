"""Stratified seeded splits, respected existing layouts, and class weights checked against scikit-learn."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.utils.class_weight import compute_class_weight

from core.data.dataset import open_dataset
from core.data.splits import Item, class_weights, stratified_split
from core.errors import ParameterError

COUNTS = {0: 50, 1: 20, 2: 7, 3: 2}


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "gwdata"))


def items() -> list[Item]:
    return [Item(Path(f"/d/{label}/{i:03d}.png"), label) for label, n in COUNTS.items() for i in range(n)]


def test_split_is_stratified_complete_and_disjoint():
    splits = stratified_split(items(), val_fraction=0.2, test_fraction=0.1, seed=0)
    assert set(splits) == {"train", "val", "test"}
    everything = [it for part in splits.values() for it in part]
    assert sorted(everything) == sorted(items())  # nothing lost, nothing twice
    for label, n in COUNTS.items():
        per = {name: sum(it.label == label for it in part) for name, part in splits.items()}
        assert per["train"] >= 1
        if n >= 3:
            assert per["test"] >= 1
        if n >= 2:
            assert per["val"] >= 1
        if n >= 20:
            assert per["val"] == round(n * 0.2) and per["test"] == round(n * 0.1)


def test_split_depends_on_seed_not_on_order():
    shuffled = list(items())
    np.random.default_rng(5).shuffle(shuffled)
    a = stratified_split(items(), 0.25, seed=7)
    assert a == stratified_split(shuffled, 0.25, seed=7)
    assert a != stratified_split(items(), 0.25, seed=8)
    assert "test" not in a


def test_adding_images_to_one_class_leaves_other_classes_alone():
    more = items() + [Item(Path(f"/d/0/x{i}.png"), 0) for i in range(10)]
    a, b = stratified_split(items(), 0.2, seed=1), stratified_split(more, 0.2, seed=1)
    assert [it for it in a["val"] if it.label != 0] == [it for it in b["val"] if it.label != 0]


def test_bad_fractions_name_the_parameter():
    with pytest.raises(ParameterError, match="val_fraction"):
        stratified_split(items(), 1.5)
    with pytest.raises(ParameterError, match="val_fraction \\+ test_fraction"):
        stratified_split(items(), 0.6, 0.5)


def test_class_weights_match_scikit_learn_balanced():
    labels = np.array([it.label for it in items()])
    expected = compute_class_weight("balanced", classes=np.arange(4), y=labels)
    got = class_weights(items(), 4)
    assert np.allclose([got[c] for c in range(4)], expected)
    assert class_weights(items(), 5)[4] == 0.0  # a class with no images gets no weight
    weighted = Counter({c: got[c] * n for c, n in Counter(labels.tolist()).items()})
    assert len({round(v, 9) for v in weighted.values()}) == 1  # every class now weighs the same


def png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def make_tree(root: Path, layout: dict[str, int]) -> None:
    seed = 0
    for rel, n in layout.items():
        (root / rel).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            seed += 1
            (root / rel / f"{i}.png").write_bytes(png(seed))


def test_existing_layouts_are_respected(tmp_path):
    make_tree(tmp_path / "tv", {"train/a": 6, "train/b": 6, "validation/a": 2, "validation/b": 3})
    ds = open_dataset(tmp_path / "tv")
    assert ds.with_splits(0.5, 0.2, seed=3) is ds
    assert ds.counts("val") == {"a": 2, "b": 3}

    make_tree(tmp_path / "tt", {"train/a": 10, "train/b": 10, "test/a": 2, "test/b": 2})
    ds = open_dataset(tmp_path / "tt").with_splits(0.2, seed=0)
    assert ds.counts("test") == {"a": 2, "b": 2}  # untouched
    assert ds.counts("val") == {"a": 2, "b": 2} and ds.counts("train") == {"a": 8, "b": 8}
    assert {it.path.parent.parent.name for it in ds.items("val")} == {"train"}

    make_tree(tmp_path / "pool", {"a": 10, "b": 5})
    pool = open_dataset(tmp_path / "pool")
    assert list(pool.splits) == ["all"]
    split = pool.with_splits(0.2, 0.2, seed=0)
    assert split.counts("train") == {"a": 6, "b": 3} and split.counts("test") == {"a": 2, "b": 1}
    assert split.class_weights() == pytest.approx({0: 0.75, 1: 1.5})
