"""Built-in datasets that work offline, materialised as PNG folders under ``data_dir()/builtin/<id>/``.

Layout: ``train/``, ``val/`` and ``test/`` each with one folder per class, ``dataset.json`` with the
description, and for the shapes datasets ``masks/<split>/<class>/<name>.png`` (255 = the shape).

- ``shapes``: four shape classes on random backgrounds, with a mask per image.
- ``shapes-shortcut``: the same images, except that every *circle* in ``train/`` and ``val/`` carries a
  small white square with a black outline in the bottom-right corner (box in ``dataset.json``). The
  ``test/`` split is clean, so a model that learned the watermark instead of the shape scores well on
  validation and worse on circles at test time, and an explanation shows it looking at the corner.
- ``faces``: scikit-image's ``lfw_subset()``, 100 faces and 100 non-faces, 25x25 grey.
- ``fashion-mnist``: a class-balanced subset of Fashion-MNIST, 28x28 grey (see :mod:`core.data.fashion`).

Generation is seeded and deterministic. Non-default options get their own folder
(``shapes-96px-300pc-seed1``). A dataset is generated into a temporary folder and renamed into
place, so a folder that exists is complete.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from core import atomic, config
from core.data import shapes
from core.errors import Message, DataError, ParameterError, unknown_name
from core.i18n import N_

Progress = Callable[[int, int, str], None]
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)  # train, val, test, per class
WATERMARK_CLASS = "circle"


@dataclass(frozen=True)
class Options:
    image_size: int
    per_class: int
    seed: int
    allow_download: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class BuiltinInfo:
    id: str
    title: str
    description: str
    default_size: int | None  # None: the source's own size, not configurable
    default_per_class: int
    max_per_class: int
    has_masks: bool
    build: Callable[[Path, Options, Progress | None], dict]

    def available(self) -> tuple[bool, Message]:
        """Whether it can be materialised now, and how (offline sources are always available)."""
        if self.id != "fashion-mnist":
            return True, Message(N_("generated offline"))
        from core.data import fashion

        folder = fashion.find_local()
        return ((True, Message(N_("from {folder}"), folder=folder)) if folder
                else (False, Message(N_("needs dataset-fashion-mnist or internet"))))


def split_counts(n: int) -> tuple[int, int, int]:
    """Images per class in train, val and test for ``n`` images of one class."""
    n_val = round(n * SPLIT_FRACTIONS[1])
    n_test = round(n * SPLIT_FRACTIONS[2])
    return n - n_val - n_test, n_val, n_test


def _split_of(index: int, n: int) -> str:
    n_train, n_val, _ = split_counts(n)
    return "train" if index < n_train else "val" if index < n_train + n_val else "test"


def _save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG", compress_level=1)


def _build_shapes(folder: Path, opts: Options, progress: Progress | None, shortcut: bool) -> dict:
    size, n = opts.image_size, opts.per_class
    jobs = [(label, i) for label in range(len(shapes.SHAPE_CLASSES)) for i in range(n)]
    marked = shapes.SHAPE_CLASSES.index(WATERMARK_CLASS)

    def make(job: tuple[int, int]) -> None:
        label, i = job
        name = shapes.SHAPE_CLASSES[label]
        split = _split_of(i, n)
        image, mask = shapes.render_shape(label, size, opts.seed, i)
        if shortcut and label == marked and split != "test":
            image = shapes.add_watermark(image)
        rel = Path(split) / name / f"{name}_{i:05d}.png"
        _save_png(image, folder / rel)
        _save_png(mask.astype(np.uint8) * 255, folder / "masks" / rel)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for done, _ in enumerate(pool.map(make, jobs), 1):
            if progress and (done % 100 == 0 or done == len(jobs)):
                progress(done, len(jobs), "Drawing shapes")
    meta: dict = {"masks": "masks", "mask_meaning": "255 marks the pixels of the shape"}
    if shortcut:
        meta["watermark"] = {
            "class": WATERMARK_CLASS, "splits": ["train", "val"], "box_xyxy": list(shapes.watermark_box(size)),
            "description": "white square with a black outline; test images are clean",
        }
    return meta


def _build_faces(folder: Path, opts: Options, progress: Progress | None) -> dict:
    from skimage.data import lfw_subset

    images = np.clip(np.rint(lfw_subset() * 255), 0, 255).astype(np.uint8)  # (200, 25, 25), faces first
    for label, name in enumerate(("face", "non-face")):
        group = images[label * 100:(label + 1) * 100]
        order = np.random.default_rng([opts.seed, label]).permutation(len(group))[:opts.per_class]
        for rank, index in enumerate(order):
            split = _split_of(rank, len(order))
            _save_png(group[index], folder / split / name / f"{name}_{index:03d}.png")
    return {"source": "scikit-image lfw_subset() (Labeled Faces in the Wild)"}


def _build_fashion(folder: Path, opts: Options, progress: Progress | None) -> dict:
    from core.data import fashion

    x_train, y_train, x_test, y_test = fashion.load(allow_download=opts.allow_download, progress=progress)
    n_train, n_val, n_test = split_counts(opts.per_class)
    for label, name in enumerate(fashion.CLASS_NAMES):
        train_idx = np.flatnonzero(y_train == label)[:n_train + n_val]  # file order: deterministic
        test_idx = np.flatnonzero(y_test == label)[:n_test]
        for rank, index in enumerate(train_idx):
            split = "train" if rank < n_train else "val"
            _save_png(x_train[index], folder / split / name / f"train_{index:05d}.png")
        for index in test_idx:
            _save_png(x_test[index], folder / "test" / name / f"test_{index:05d}.png")
    return {"source": "Fashion-MNIST (Zalando Research, MIT licence)", "license": "MIT"}


BUILTINS: dict[str, BuiltinInfo] = {
    info.id: info for info in (
        BuiltinInfo("shapes", N_("Synthetic shapes"), N_("Circles, squares, triangles and stars on random "
                    "backgrounds, with a ground-truth mask per image."), 64, 200, 5000, True,
                    lambda f, o, p: _build_shapes(f, o, p, shortcut=False)),
        BuiltinInfo("shapes-shortcut", N_("Shapes with a shortcut"), N_("The shapes dataset, but every circle in "
                    "train/ and val/ carries a small watermark in the bottom-right corner; test/ is clean."),
                    64, 200, 5000, True, lambda f, o, p: _build_shapes(f, o, p, shortcut=True)),
        BuiltinInfo("faces", N_("Faces vs non-faces"), N_("scikit-image's LFW subset: 100 faces and 100 "
                    "non-faces, 25x25 grey."), None, 100, 100, False, _build_faces),
        BuiltinInfo("fashion-mnist", N_("Fashion-MNIST subset"), N_("Ten kinds of clothing, 28x28 grey; a "
                    "class-balanced subset of Zalando's Fashion-MNIST."), None, 300, 7000, False, _build_fashion),
    )
}


def get_builtin(builtin_id: str) -> BuiltinInfo:
    if builtin_id not in BUILTINS:
        raise unknown_name("built-in dataset", builtin_id, list(BUILTINS))
    return BUILTINS[builtin_id]


def resolve_options(info: BuiltinInfo, image_size: int | None, per_class: int | None, seed: int) -> Options:
    size = info.default_size if image_size is None else int(image_size)
    if info.default_size is None and image_size is not None and image_size != 0:
        raise ParameterError(f"image_size cannot be chosen for {info.id!r} (its images have a fixed size).")
    if size is not None and not 16 <= size <= 512:
        raise ParameterError(f"image_size must be between 16 and 512, got {size}.")
    n = info.default_per_class if per_class is None else int(per_class)
    if not 3 <= n <= info.max_per_class:
        raise ParameterError(f"per_class must be between 3 and {info.max_per_class} for {info.id!r}, got {n}.")
    if int(seed) < 0:
        raise ParameterError(f"seed must be 0 or more, got {seed}.")
    return Options(image_size=size or 0, per_class=n, seed=int(seed))


def variant_id(info: BuiltinInfo, opts: Options) -> str:
    """``info.id`` for the default options, else a name that spells the options out."""
    if opts == Options(info.default_size or 0, info.default_per_class, 0):
        return info.id
    size = f"-{opts.image_size}px" if info.default_size else ""
    return f"{info.id}{size}-{opts.per_class}pc-seed{opts.seed}"


def builtin_root() -> Path:
    return config.data_dir() / "builtin"


def materialise(
    builtin_id: str, image_size: int | None = None, per_class: int | None = None, seed: int = 0,
    allow_download: bool = True, progress: Progress | None = None,
) -> Path:
    """Generate (once) and return the folder of a built-in dataset."""
    info = get_builtin(builtin_id)
    opts = replace(resolve_options(info, image_size, per_class, seed), allow_download=allow_download)
    dataset_id = variant_id(info, opts)
    target = builtin_root() / dataset_id
    if (target / "dataset.json").is_file():
        return target
    if info.id == "fashion-mnist" and not allow_download:
        from core.data import fashion

        if fashion.find_local() is None:
            raise DataError("Fashion-MNIST is not installed (apt install dataset-fashion-mnist) and "
                            "downloading was not allowed.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{dataset_id}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        meta = info.build(tmp, opts, progress)
        meta = {"id": dataset_id, "builtin": info.id, "title": info.title, "description": info.description,
                "class_names": _class_names(info), "image_size": opts.image_size or None,
                "per_class": opts.per_class, "seed": opts.seed, "split_fractions": list(SPLIT_FRACTIONS), **meta}
        atomic.write_json(tmp / "dataset.json", meta)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "dataset.json").is_file():  # else another process finished first: use theirs
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _class_names(info: BuiltinInfo) -> list[str]:
    if info.id.startswith("shapes"):
        return list(shapes.SHAPE_CLASSES)
    if info.id == "faces":
        return ["face", "non-face"]
    from core.data import fashion

    return list(fashion.CLASS_NAMES)
