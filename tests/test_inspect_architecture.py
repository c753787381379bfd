"""The layer table against Keras's own summary, for ResNet50, VGG16 and a fine-tuned run."""

from __future__ import annotations

import json
import math
import re

import keras
import pytest

from core.inspect.architecture import LayerRow, block_summary, layer_table, stages, totals


@pytest.fixture(scope="module")
def resnet50():
    from core.zoo.keras_apps import APPS, build_flat

    return build_flat(next(a for a in APPS if a.name == "resnet50"), None)


@pytest.fixture(scope="module")
def vgg16():
    from core.zoo.keras_apps import APPS, build_flat

    return build_flat(next(a for a in APPS if a.name == "vgg16"), None)


def _finetuned(nested: bool) -> keras.Model:
    """MobileNetV2 backbone, frozen, with a new 3-class head: the usual fine-tuning recipe."""
    pixels = keras.Input((96, 96, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(pixels)
    if nested:
        backbone = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(96, 96, 3))
        backbone.trainable = False
        x = backbone(x, training=False)
    else:
        backbone = keras.applications.MobileNetV2(weights=None, include_top=False, input_tensor=x)
        for layer in backbone.layers[:-20]:
            layer.trainable = False
        x = backbone.output
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    x = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(pixels, keras.layers.Activation("softmax", name="probabilities")(x), name="flowers")


@pytest.fixture(scope="module")
def finetuned_run(tmp_path_factory):
    """A run folder as the training engine writes it, loaded back through the zoo."""
    from core.zoo import load_model

    run_dir = tmp_path_factory.mktemp("runs") / "flowers-mnv2"
    run_dir.mkdir()
    _finetuned(nested=False).save(run_dir / "model.keras")
    (run_dir / "run.json").write_text(json.dumps({"name": "flowers-mnv2", "class_names": ["a", "b", "c"]}))
    return load_model(str(run_dir))


def _summary(model: keras.Model, monkeypatch) -> tuple[list[tuple[str, str, tuple, int]], dict[str, int]]:
    """Rows ``(name, type, shape, params)`` and totals parsed from ``model.summary()``'s text."""
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps the table to the console width
    chunks: list[str] = []
    model.summary(print_fn=lambda text, **_: chunks.append(text), line_length=400)
    text = "".join(chunks)
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        match = re.fullmatch(r"(\S+) \((\w+)\)", cells[0]) if cells else None
        if match:
            shape = tuple(None if d == "None" else int(d) for d in re.findall(r"None|\d+", cells[1]))
            rows.append((match[1], match[2], shape[1:], int(cells[2].replace(",", ""))))
    found = {k: int(v.replace(",", "")) for k, v in
             re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+)", text)}
    return rows, found


def _check_against_summary(model: keras.Model, rows: list[LayerRow], monkeypatch) -> None:
    summary_rows, summary_totals = _summary(model, monkeypatch)
    assert [(r.name, r.type, r.output_shape, r.params) for r in rows] == summary_rows
    t = totals(rows)
    assert (t.total, t.trainable, t.non_trainable) == (
        summary_totals["Total"], summary_totals["Trainable"], summary_totals["Non-trainable"])
    # ... and against the weights themselves.
    assert t.total == model.count_params() == sum(math.prod(w.shape) for w in model.weights)
    assert t.trainable == sum(math.prod(w.shape) for w in model.trainable_weights)


def test_resnet50_matches_summary(resnet50, monkeypatch):
    rows = layer_table(resnet50)
    _check_against_summary(resnet50, rows, monkeypatch)
    assert totals(rows).total == 25_636_712  # the published ResNet50 count
    conv1 = next(r for r in rows if r.name == "conv1_conv")
    assert (conv1.kernel, conv1.stride, conv1.units, conv1.padding) == ("7x7", "2", 64, "valid")
    assert conv1.output_shape == (112, 112, 64) and conv1.trainable
    add = next(r for r in rows if r.name == "conv2_block1_add")
    assert set(add.connected_to) == {"conv2_block1_0_bn", "conv2_block1_3_bn"}
    bn = next(r for r in rows if r.name == "conv1_bn")
    assert (bn.params, bn.trainable_params) == (256, 128)  # the other 128: moving mean and variance


def test_resnet50_blocks_and_stages(resnet50):
    rows = layer_table(resnet50)
    blocks = block_summary(rows)
    names = [b.name for b in blocks]
    assert names[:4] == ["input", "conv1", "pool1", "conv2_block1"] and names[-1] == "head"
    assert len([n for n in names if "_block" in n]) == 3 + 4 + 6 + 3  # ResNet50's bottleneck blocks
    assert sum(b.params for b in blocks) == resnet50.count_params()
    assert next(b for b in blocks if b.name == "conv5_block3").output_shape == (7, 7, 2048)
    got = [(s.height, s.channels_out, s.downsampling) for s in stages(resnet50, rows)]
    assert got == [(224, 3, 1), (112, 64, 2), (56, 256, 4), (28, 512, 8), (14, 1024, 16), (7, 2048, 32)]


def test_vgg16_matches_summary(vgg16, monkeypatch):
    rows = layer_table(vgg16)
    _check_against_summary(vgg16, rows, monkeypatch)
    assert totals(rows).total == 138_357_544
    blocks = {b.name: b for b in block_summary(rows)}
    assert list(blocks) == ["input", "block1", "block2", "block3", "block4", "block5", "head"]
    assert blocks["block3"].layers == 4 and blocks["block3"].output_shape == (28, 28, 256)
    assert blocks["head"].params == 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    conv = next(r for r in rows if r.name == "block1_conv1")
    assert (conv.kernel, conv.stride, conv.units, conv.activation) == ("3x3", "1", 64, "relu")
    assert conv.params == 3 * 3 * 3 * 64 + 64
    pool = next(r for r in rows if r.name == "block5_pool")
    assert (pool.kernel, pool.stride, pool.params, pool.trainable) == ("2x2", "2", 0, False)
    assert [(s.height, s.channels_out) for s in stages(vgg16, rows)] == [
        (224, 64), (112, 128), (56, 256), (28, 512), (14, 512), (7, 512)]


def test_finetuned_run_matches_summary(finetuned_run, monkeypatch):
    model = finetuned_run.model
    rows = layer_table(model)
    _check_against_summary(model, rows, monkeypatch)
    t = totals(rows)
    assert 0 < t.trainable < t.total  # the frozen backbone shows as non-trainable
    frozen = next(r for r in rows if r.name == "Conv1")
    assert not frozen.trainable and frozen.trainable_params == 0
    head = next(r for r in rows if r.name == "logits")
    assert head.block == "head" and head.trainable and head.params == 1280 * 3 + 3


def test_nested_backbone_is_expanded():
    model = _finetuned(nested=True)
    rows = layer_table(model)
    t = totals(rows)
    assert t.total == model.count_params()
    assert t.trainable == sum(math.prod(w.shape) for w in model.trainable_weights) == 1280 * 3 + 3
    inner = [r for r in rows if "/" in r.name]
    assert inner and all(r.name.startswith("mobilenetv2_1.00_96/") for r in inner)
    assert any(r.block == "mobilenetv2_1.00_96/block_1" for r in inner)
    assert not any(r.type in ("Functional", "InputLayer") and "/" in r.name for r in rows)


def test_small_cnn_groups_by_resolution():
    from core.zoo.scratch import small_cnn

    rows = layer_table(small_cnn(3))
    assert [(r.name, r.block) for r in rows] == [
        ("pixels", "input"), ("preprocess", "input"), ("conv1", "conv1"), ("pool1", "conv1"),
        ("conv2", "conv2"), ("pool2", "conv2"), ("conv3", "conv3"), ("pool3", "conv3"),
        ("flatten", "head"), ("fc1", "head"), ("logits", "head"), ("probabilities", "head")]
    assert rows[0].to_dict()["output_shape"] == [64, 64, 3]
