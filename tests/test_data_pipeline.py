"""The tf.data pipeline: shapes, labels from folders, same pixels as prediction, seeded shuffling, and
the first augmented training batch equal to the preview."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import builtin
from core.data.augment import AugmentSpec, augment, preset
from core.data.dataset import open_dataset
from core.data.pipeline import dataset_pipeline, load_batch, make_tf_dataset
from core.errors import ParameterError
from core.images import load_image, resize_for_model

SIZE = (24, 20)  # not square and not the files' size, so the resize is exercised


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GLASSWING_DATA", str(tmp_path_factory.mktemp("gwdata")))
    try:
        yield open_dataset(builtin.materialise("shapes", image_size=32, per_class=10))
    finally:
        mp.undo()


def batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_batches_have_the_right_shape_and_labels_follow_folders(dataset):
    items = dataset.items("train")
    out = batches(make_tf_dataset(items, SIZE, batch_size=8))
    sizes = [min(8, len(items) - start) for start in range(0, len(items), 8)]
    assert [x.shape for x, _ in out] == [(n, 24, 20, 3) for n in sizes]
    assert all(x.dtype == np.float32 and y.dtype == np.int32 for x, y in out)
    labels = np.concatenate([y for _, y in out])
    assert [dataset.class_names[i] for i in labels] == [it.path.parent.name for it in items]
    # Pixels are exactly what prediction would see for the same file.
    first = resize_for_model(load_image(items[0].path), SIZE)
    assert np.array_equal(out[0][0][0], first)


def test_shuffling_is_seeded_and_reshuffles_each_epoch(dataset):
    items = dataset.items("train")

    def order(ds):
        return [np.concatenate([y for _, y in batches(ds)]) for _ in range(2)]

    a = order(make_tf_dataset(items, SIZE, batch_size=16, shuffle=True, seed=5))
    b = order(make_tf_dataset(items, SIZE, batch_size=16, shuffle=True, seed=5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], a[1])  # a new order every epoch
    assert sorted(a[0]) == sorted(y.label for y in items)


def test_first_training_batch_equals_the_preview(dataset):
    items = dataset.items("train")[:12]
    spec = preset("strong")
    out = batches(make_tf_dataset(items, SIZE, batch_size=6, augment=spec, seed=9, cache=False))
    images, labels = load_batch(items[:6], SIZE)
    assert np.allclose(out[0][0], augment(images, spec, seed=9), atol=1e-3)
    assert np.array_equal(out[0][1], labels)
    assert not np.allclose(out[1][0], augment(load_batch(items[6:], SIZE)[0], spec, seed=9))  # state moves on
    again = batches(make_tf_dataset(items, SIZE, batch_size=6, augment=spec, seed=9, cache=False))
    assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(out, again, strict=True))


def test_dataset_pipeline_augments_only_training(dataset):
    spec = AugmentSpec(flip="both", noise=0.1)
    val = batches(dataset_pipeline(dataset, "val", SIZE, batch_size=64, augment=spec))
    images, _ = load_batch(dataset.items("val"), SIZE)
    assert np.array_equal(val[0][0], images)
    train = batches(dataset_pipeline(dataset, "train", SIZE, batch_size=64, augment=spec, seed=1))
    assert sum(len(y) for _, y in train) == len(dataset.items("train"))


def test_bad_arguments_are_parameter_errors(dataset):
    with pytest.raises(ParameterError, match="batch_size"):
        make_tf_dataset(dataset.items("train"), SIZE, batch_size=0)
    with pytest.raises(ParameterError, match="items"):
        make_tf_dataset([], SIZE)
