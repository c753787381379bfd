"""Transfer learning from EfficientNet-Lite0: the new head, the fast feature path and stage 2.

One small run (a few dozen images) shows that stage 2 changes only the unfrozen layers, that
BatchNorm statistics stay as they were, and that the shared zoo model is never touched.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from test_train_engine import Recorder, make_colour_dataset  # tests/ is on sys.path under pytest

from core.train import heads, runs
from core.train.config import TrainConfig


def _fingerprint(model) -> str:
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def test_head_goes_on_the_pooled_features(lite0):
    import keras

    copy = heads.fresh_copy(lite0.model)
    features = heads.pooled_features(copy)
    assert features._keras_history.operation.name == "avg_pool" and features.shape[-1] == 1280
    head = heads.build_head(3, dropout=0.2, hidden_units=16, seed=0)
    full = heads.assemble(copy, features, head, name="lite0_test")
    names = [layer.name for layer in full.layers[-4:]]
    assert names == ["head_hidden", "head_dropout", "logits", "probabilities"]
    assert full.get_layer("top_activation") is copy.get_layer("top_activation")  # flat: conv layers reachable
    assert copy.get_layer("stem_conv") is not lite0.model.get_layer("stem_conv")
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    probs = np.asarray(full(x, training=False))
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert isinstance(full.layers[-1], keras.layers.Activation)


def test_head_input_is_block5_pooled_to_2x2(lite0):
    """Oracle: the head's input equals block5c_add's map averaged over its four 7x7 quadrants (numpy)."""
    import keras

    copy = heads.fresh_copy(lite0.model)
    features = heads.head_input(copy)
    assert heads.mid_level_layer(copy) == "block5c_add" and features.shape[-1] == 4 * 112
    x = np.random.default_rng(1).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    got = np.asarray(keras.Model(copy.inputs[0], features)(x, training=False))
    maps = np.asarray(keras.Model(copy.inputs[0], copy.get_layer("block5c_add").output)(x, training=False))
    cells = maps.reshape(2, 2, 7, 2, 7, 112).mean(axis=(2, 4))  # (n, row, col, channel), Flatten's order
    assert np.allclose(got, cells.reshape(2, -1), atol=1e-4)
    assert heads.layout(features) != heads.layout(heads.pooled_features(copy))  # distinct cache keys


def test_fine_tune_units_count_layers_or_blocks(lite0):
    copy = heads.fresh_copy(lite0.model)
    head = heads.build_head(2, seed=0)
    full = heads.assemble(copy, heads.pooled_features(copy), head, name="units")
    head_names = {layer.name for layer in head} | {"probabilities"}
    assert heads.block_key("block6d_expand_conv") == "block6d"
    assert heads.block_key("conv5_block3_1_conv") == "conv5_block3"
    assert heads.block_key("block_16_project") == "block_16"
    assert heads.block_key("top_conv") == "top_conv"
    layers = heads.unfreeze_top(full, head_names, 2, "layers")
    assert layers == ["block7a_project_conv", "top_conv"]
    blocks = heads.unfreeze_top(full, head_names, 2, "blocks")
    assert blocks == ["block7a_expand_conv", "block7a_dwconv", "block7a_project_conv", "top_conv"]
    assert not full.get_layer("top_bn").trainable and full.get_layer("logits").trainable
    assert heads.count_units(full, head_names, "blocks") == 18  # stem, 16 MBConv blocks, top
    # a new head reads block 5 (heads.head_input): only the stem and blocks 1a-5c lie below it
    below = heads.assemble(copy, heads.head_input(copy), heads.build_head(2, seed=0), name="below")
    assert heads.tunable_units(lite0.model) == {"layers": heads.count_units(below, head_names, "layers"),
                                                "blocks": 12}
    with pytest.raises(Exception, match="fine_tune_layers is 99"):
        heads.unfreeze_top(full, head_names, 99, "blocks")


def test_stage2_changes_only_the_unfrozen_layers(lite0, tmp_path):
    from core.train.engine import train
    from core.zoo.files import load_keras_file

    shared_before = _fingerprint(lite0.model)
    data = make_colour_dataset(tmp_path / "colours", per_class=10)
    config = TrainConfig(data=str(data), model="efficientnet_lite0", epochs=6, learning_rate=0.01,
                         batch_size=8, val_fraction=0.3, augment="light", augment_views=1, fine_tune_layers=2,
                         fine_tune_unit="blocks", fine_tune_epochs=1, fine_tune_learning_rate=1e-3,
                         early_stopping_patience=0)
    recorder = Recorder()
    result = train(config, runs_root=tmp_path / "runs", listener=recorder)
    assert result.status == runs.COMPLETE

    statuses = [e["status"] for e in recorder.events if e["kind"] == "status"]
    assert statuses == ["loading", "features", "stage1", "saving", "stage2", "evaluating", "saving",
                        "complete"]
    feature_batches = [e for e in recorder.events if e["kind"] == "batch" and e["phase"] == "features"]
    assert feature_batches[0]["views"] == 2  # the clean image and one augmented view
    # ImageNet features tell colours apart at once; the best stage-1 epoch (9 validation images) shows it,
    # while one stage-2 epoch on 21 images may move a couple of borderline images either way.
    assert max(result.history["stage1"]["val_accuracy"]) >= 0.6
    assert len(result.history["stage2"]["loss"]) == 1

    meta = runs.read_meta(result.run_dir)
    unfrozen = set(meta["unfrozen_layers"])
    # the head reads block 5 (heads.head_input), so the top 2 blocks below it are 5b and 5c
    assert unfrozen == {f"block5{b}_{conv}" for b in "bc" for conv in ("expand_conv", "dwconv", "project_conv")}
    trained = load_keras_file(result.run_dir / runs.MODEL_FILE)
    changed, unchanged = set(), set()
    for layer in trained.layers:
        if not layer.weights or layer.name in ("logits", "probabilities") or layer.name.startswith("head_"):
            continue
        original = lite0.model.get_layer(layer.name).get_weights()
        same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), original, strict=True))
        (unchanged if same else changed).add(layer.name)
    assert changed == unfrozen, "exactly the unfrozen layers changed (BatchNorm statistics included)"
    assert "block5c_project_bn" in unchanged and "block4c_project_conv" in unchanged
    assert "top_conv" not in {layer.name for layer in trained.layers}, "blocks above block 5 are left out"
    assert _fingerprint(lite0.model) == shared_before, "the shared zoo model was modified"


def test_backbone_features_are_cached_across_runs(lite0, tmp_path):
    """A second run on the same images, model and augmentation reads the features from the cache: no
    feature batch goes through the backbone, and the head, trained on the same features, ends the same."""
    from core.train import feature_cache
    from core.train.engine import train

    data = make_colour_dataset(tmp_path / "cached", per_class=6)
    config = TrainConfig(data=str(data), model="efficientnet_lite0", epochs=3, batch_size=8, val_fraction=0.3,
                         augment="light", augment_views=1, early_stopping_patience=0, seed=3)
    runs_before = len(list(feature_cache.cache_root().glob("*.npz")))
    first, again = Recorder(), Recorder()
    one = train(config, runs_root=tmp_path / "runs", listener=first)
    two = train(config.with_changes(name="again"), runs_root=tmp_path / "runs", listener=again)
    assert [e for e in first.events if e["kind"] == "batch" and e["phase"] == "features"]
    assert not [e for e in again.events if e["kind"] == "batch" and e["phase"] in ("features", "evaluating")]
    assert two.timings["features_train_cached"] and two.timings["features_val_cached"]
    assert two.metrics["val"]["accuracy"] == one.metrics["val"]["accuracy"]
    assert two.history["stage1"]["loss"] == pytest.approx(one.history["stage1"]["loss"], rel=1e-5)
    assert len(list(feature_cache.cache_root().glob("*.npz"))) == runs_before + 2  # train (2 views), val
    # Other augmentation: other features, computed again.
    other = Recorder()
    train(config.with_changes(augment="strong"), runs_root=tmp_path / "runs", listener=other)
    assert [e for e in other.events if e["kind"] == "batch" and e["phase"] == "features"]


def test_the_feature_cache_is_bounded(tmp_path):
    import os

    from core.train import feature_cache

    for i in range(4):
        feature_cache.store(f"bound{i}", np.zeros((1, 100, 64), np.float32), np.zeros(100, np.int32),
                            max_bytes=10**9)
        os.utime(feature_cache.cache_root() / f"bound{i}.npz", (1000 + i, 1000 + i))
    size = (feature_cache.cache_root() / "bound0.npz").stat().st_size
    feature_cache.prune(max_bytes=2 * size + sum(
        p.stat().st_size for p in feature_cache.cache_root().glob("*.npz") if not p.name.startswith("bound")))
    left = sorted(p.name for p in feature_cache.cache_root().glob("bound*.npz"))
    assert left == ["bound2.npz", "bound3.npz"]  # the least recently used went first
    assert feature_cache.load("bound3")[0].shape == (1, 100, 64)
    assert feature_cache.load("missing") is None


def test_keras_applications_get_a_head_too():
    """MobileNetV2 (random weights: no download needed) through freeze and unfreeze."""
    from core.zoo.keras_apps import APPS, build_flat

    model = build_flat(next(app for app in APPS if app.name == "mobilenet_v2"), None)
    features = heads.pooled_features(model)
    assert features.shape[-1] == 1280
    head = heads.build_head(3, seed=0)
    full = heads.assemble(model, features, head, name="mobilenet_v2_finetuned")
    head_names = {layer.name for layer in head} | {"probabilities"}
    heads.freeze_backbone(full, head_names)
    assert len(full.trainable_variables) == 2  # the new logits layer's kernel and bias
    unfrozen = heads.unfreeze_top(full, head_names, 2, "blocks")  # frozen layers can still be found
    assert unfrozen == ["block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1"]
    assert len(full.trainable_variables) == 6
