"""Read a PyTorch ``.pth`` state dict into numpy arrays without importing torch.

A ``.pth`` file is a pickle, and unpickling runs whatever callables the file names, so a hostile
file could run code. This reader allows only the handful of globals a state dict needs (tensor
rebuild functions, typed storages, ``OrderedDict``) and refuses anything else by name before it
is called.

Two layouts exist:

* legacy (``torch.save(..., _use_new_zipfile_serialization=False)``, torch < 1.6): a magic number,
  a protocol version and a system-info dict, each pickled, then the main pickle, then the list of
  storage keys, then for each storage an int64 element count followed by its raw bytes;
* zip (torch >= 1.6): ``<dir>/data.pkl`` plus one raw file ``<dir>/data/<key>`` per storage.

In both, a tensor is ``_rebuild_tensor_v2(storage, offset, size, stride, ...)`` where ``storage``
comes from ``persistent_load(("storage", StorageType, key, location, numel, ...))``.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from core.errors import GlasswingError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def _bfloat16() -> np.dtype:
    import ml_dtypes  # installed with TensorFlow; only needed for bfloat16 checkpoints

    return np.dtype(ml_dtypes.bfloat16)


# torch.<Name>Storage -> numpy dtype (little-endian, the only byte order torch writes on x86/ARM).
_STORAGE_DTYPES: dict[str, Any] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": _bfloat16,
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """Stands in for ``torch.<Name>Storage``: only records which dtype the storage holds."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def dtype(self) -> np.dtype:
        dtype = _STORAGE_DTYPES[self.name]
        return dtype() if callable(dtype) else dtype


@dataclass
class _Storage:
    """A flat storage whose bytes are filled in after the pickle has been read."""

    dtype: np.dtype
    key: str
    numel: int
    data: np.ndarray | None = None


@dataclass
class _LazyTensor:
    """A strided view into a storage, materialised once the storage bytes are known."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self, path_name: str) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise GlasswingError(f"{path_name}: storage {self.storage.key!r} has no data in the file.")
        # Bounds check before as_strided: a crafted file must not make us read outside the buffer.
        if self.offset < 0 or any(s < 0 for s in self.size) or any(s < 0 for s in self.stride):
            raise GlasswingError(f"{path_name}: a tensor has a negative offset, size or stride.")
        if len(self.size) != len(self.stride):
            raise GlasswingError(f"{path_name}: a tensor's size and stride disagree.")
        if 0 not in self.size:
            last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
            if last >= data.size:
                raise GlasswingError(f"{path_name}: a tensor reaches past the end of its storage.")
        strides = tuple(s * data.itemsize for s in self.stride)
        view = np.lib.stride_tricks.as_strided(data[self.offset :], shape=self.size, strides=strides)
        return np.array(view, copy=True)


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
) -> _LazyTensor:
    if not isinstance(storage, _Storage):
        raise GlasswingError("A tensor in the file does not point at a storage.")
    return _LazyTensor(
        storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride)
    )


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None) -> _LazyTensor:
    return data  # a Parameter is its tensor plus a flag we do not need


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in :data:`_ALLOWED_GLOBALS`; storages go into ``self.storages``."""

    def __init__(self, file: BinaryIO, path_name: str) -> None:
        super().__init__(file)
        self.path_name = path_name
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise GlasswingError(
                f"{self.path_name}: refusing to load {module}.{name}; a weights file may only contain "
                "tensors, so this file is not a plain state dict (or is hostile)."
            ) from None

    def persistent_load(self, pid: Any) -> _Storage:
        # ("storage", StorageType, key, location, numel[, view_metadata (legacy only)])
        if not (
            isinstance(pid, tuple)
            and len(pid) >= 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[4], int)
        ):
            raise GlasswingError(f"{self.path_name}: unexpected persistent id {str(pid)[:80]!r}.")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if len(pid) > 5 and pid[5] is not None:
            raise GlasswingError(f"{self.path_name}: storage views (torch < 0.4 files) are not supported.")
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(storage_type.dtype, key, numel)
        return storage


def _restricted_load(file: BinaryIO, path_name: str) -> _RestrictedUnpickler:
    """Run the restricted unpickler on ``file``; returns it with ``.result`` set."""
    unpickler = _RestrictedUnpickler(file, path_name)
    try:
        unpickler.result = unpickler.load()
    except GlasswingError:
        raise
    except Exception as exc:  # truncated or malformed pickle data
        raise GlasswingError(f"{path_name}: not a readable PyTorch weights file ({exc}).") from None
    return unpickler


def _read_legacy(f: BinaryIO, path_name: str) -> tuple[Any, dict[str, _Storage]]:
    header = _RestrictedUnpickler(f, path_name)
    if header.load() != LEGACY_MAGIC:
        raise GlasswingError(f"{path_name}: not a PyTorch weights file (bad magic number).")
    if header.load() != LEGACY_PROTOCOL:
        raise GlasswingError(f"{path_name}: unsupported PyTorch legacy protocol version.")
    sys_info = header.load()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise GlasswingError(f"{path_name}: big-endian weights files are not supported.")
    main = _restricted_load(f, path_name)
    keys = _restricted_load(f, path_name).result
    if not isinstance(keys, list):
        raise GlasswingError(f"{path_name}: the storage key list is missing.")
    for key in keys:
        storage = main.storages.get(str(key))
        if storage is None:
            raise GlasswingError(f"{path_name}: the file lists storage {key!r} that no tensor uses.")
        (count,) = struct.unpack("<q", f.read(8).ljust(8, b"\0"))
        if count != storage.numel:
            raise GlasswingError(
                f"{path_name}: storage {key!r} has {count} elements, expected {storage.numel}."
            )
        nbytes = count * storage.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise GlasswingError(f"{path_name}: the file is truncated (storage {key!r}).")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return main.result, main.storages


def _read_zip(path: Path, path_name: str) -> tuple[Any, dict[str, _Storage]]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise GlasswingError(f"{path_name}: a zip weights file must hold exactly one data.pkl.")
        root = pkl[0][: -len("data.pkl")]
        if f"{root}byteorder" in names and archive.read(f"{root}byteorder").strip() != b"little":
            raise GlasswingError(f"{path_name}: big-endian weights files are not supported.")
        with archive.open(pkl[0]) as f:
            main = _restricted_load(io.BytesIO(f.read()), path_name)
        for key, storage in main.storages.items():
            member = f"{root}data/{key}"
            if member not in names:
                raise GlasswingError(f"{path_name}: storage {key!r} is missing from the archive.")
            nbytes = storage.numel * storage.dtype.itemsize
            if archive.getinfo(member).file_size != nbytes:
                raise GlasswingError(f"{path_name}: storage {key!r} has the wrong size.")
            storage.data = np.frombuffer(archive.read(member), dtype=storage.dtype)
    return main.result, main.storages


def _state_dict_of(obj: Any, path_name: str) -> dict[str, _LazyTensor]:
    # Training checkpoints often wrap the weights: {"state_dict": {...}, "epoch": ...}.
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(wrapper)
            if isinstance(inner, dict):
                obj = inner
                break
    if not isinstance(obj, dict) or not obj:
        raise GlasswingError(f"{path_name}: the file does not hold a state dict (name -> tensor).")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, _LazyTensor)}
    others = [str(k) for k, v in obj.items() if not isinstance(v, _LazyTensor)]
    if others:
        raise GlasswingError(f"{path_name}: entries that are not tensors: {', '.join(others[:5])}.")
    return tensors


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a PyTorch state dict (legacy or zip ``.pth``) as ``{name: numpy array}``, torch-free.

    Raises :class:`GlasswingError` naming the offending global if the pickle references anything
    but tensors, storages and ``OrderedDict`` (nothing it names is ever called), and for truncated or
    malformed files.
    """
    path = Path(path)
    path_name = path.name
    if not path.is_file():
        raise GlasswingError(f"{path_name}: no such weights file.")
    if zipfile.is_zipfile(path):
        obj, _ = _read_zip(path, path_name)
    else:
        with open(path, "rb") as f:
            try:
                obj, _ = _read_legacy(f, path_name)
            except GlasswingError:
                raise
            except Exception as exc:  # header pickles malformed
                raise GlasswingError(f"{path_name}: not a readable PyTorch weights file ({exc}).") from None
    return {name: t.materialise(path_name) for name, t in _state_dict_of(obj, path_name).items()}
