"""Walk a dataset folder, decide its layout, and validate every image with the shared loader.

Layouts understood (``root`` may also be wrapped in single folders, as zips often are):

- class folders: ``root/<class>/**/<image>``, one pool that is split later;
- split folders: ``root/train/<class>/...`` plus ``val/`` (or ``valid``/``validation``) and/or ``test/``.

Every file is looked at, nothing is followed through a symbolic link, and a bad file only adds a
:class:`SkippedFile` with its reason; one bad file never stops the rest.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import config
from core.data import files as F
from core.data.files import SkippedFile
from core.data.labels import slug
from core.errors import DataError, ImageError
from core.images import load_image
from core.progress import Progress, report

MIN_SIDE = 4  # images smaller than this on a side are skipped
MAX_DEPTH = 4  # folders below a class folder that are still searched
MAX_FILES = 200_000
ALL = "all"  # split name for a pool of class folders that has not been split yet


@dataclass(frozen=True)
class ScannedImage:
    path: Path
    rel: str  # path relative to the dataset root, '/'-separated, printable
    split: str
    class_name: str
    width: int
    height: int
    sha256: str


@dataclass
class ScanResult:
    root: Path
    layout: str
    class_names: list[str]
    split_names: list[str]
    images: list[ScannedImage]
    skipped: list[SkippedFile]
    meta: dict[str, Any] = field(default_factory=dict)
    masks_dir: Path | None = None
    dataset_id: str = ""


def _text(name: str) -> str:
    """File names may hold undecodable bytes (surrogate escapes); labels must be valid text."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _rel(path: Path, root: Path) -> str:
    return F.printable_path(path.relative_to(root).as_posix())


def load_meta(root: Path) -> dict[str, Any]:
    """``root/dataset.json`` (written by Glasswing for built-in and uploaded datasets), or ``{}``."""
    path = root / "dataset.json"
    if not path.is_file() or path.is_symlink():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _visible_entries(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder`` by name; a folder that cannot be listed is a DataError naming it."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"The folder {folder} cannot be read ({exc.strerror or exc}).") from None


def _readable_entries(folder: Path, root: Path, skipped: list[SkippedFile]) -> list[os.DirEntry]:
    """Like :func:`_visible_entries` inside a dataset, where a folder that cannot be read is skipped."""
    try:
        return _visible_entries(folder)
    except DataError:
        skipped.append(SkippedFile(_rel(folder, root) + "/", "folder cannot be read (permissions)",
                                   F.UNREADABLE))
        return []


def find_root(path: Path) -> Path:
    """Descend through wrapper folders (``upload/mydata/cats/...``) to the folder holding the classes."""
    current = path
    for _ in range(3):
        entries = [e for e in _visible_entries(current) if not F.is_hidden_or_system(e.name)]
        dirs = [e for e in entries if e.is_dir(follow_symlinks=False)]
        has_images = any(F.is_image_name(e.name) for e in entries if not e.is_dir(follow_symlinks=False))
        if len(dirs) != 1 or has_images:
            break
        inner = [e for e in _visible_entries(Path(dirs[0].path)) if not F.is_hidden_or_system(e.name)]
        if not any(e.is_dir(follow_symlinks=False) for e in inner):
            break  # a single class folder: keep it as a class (the report will say one class is too few)
        current = Path(dirs[0].path)
    return current


def _candidate_files(
    folder: Path, root: Path, depth: int, skipped: list[SkippedFile], out: list[Path],
) -> None:
    """Collect regular files below a class folder, recording links, hidden and special entries; a tree
    with more than MAX_FILES entries is refused as soon as it is seen to be one (``/`` is not a dataset)."""
    for entry in _readable_entries(folder, root, skipped):
        if len(out) + len(skipped) > MAX_FILES:
            raise DataError(f"The dataset has more than {MAX_FILES:,} files; use a smaller subset.")
        path = Path(entry.path)
        rel = _rel(path, root)
        if F.is_hidden_or_system(entry.name):
            skipped.append(SkippedFile(rel, "hidden or system file (e.g. .DS_Store, Thumbs.db)", F.HIDDEN))
        elif entry.is_symlink():
            skipped.append(SkippedFile(rel, "symbolic links are not followed", F.LINK))
        elif entry.is_dir(follow_symlinks=False):
            if depth >= MAX_DEPTH:
                skipped.append(SkippedFile(rel, f"more than {MAX_DEPTH} folders deep inside a class folder",
                                           F.TOO_DEEP))
            else:
                _candidate_files(path, root, depth + 1, skipped, out)
        elif entry.is_file(follow_symlinks=False):
            out.append(path)
        else:
            skipped.append(SkippedFile(rel, "not a regular file", F.SPECIAL_FILE))


# ImageError sentences from core.images mapped to short codes (first match wins).
_IMAGE_ERROR_CODES = (
    ("0 bytes", F.EMPTY),
    ("no pixels", F.EMPTY),
    ("decompression bomb", F.TOO_MANY_PIXELS),
    ("more than the limit", F.TOO_MANY_PIXELS),
    ("colour mode", F.UNSUPPORTED_MODE),
    ("converted to RGB", F.UNSUPPORTED_MODE),
    ("images are not supported", F.UNSUPPORTED_FORMAT),
    ("not an image", F.NOT_IMAGE),
    ("corrupt or truncated", F.TRUNCATED),
    ("cannot be opened", F.TRUNCATED),
)


def classify_image_error(message: str) -> str:
    """The skip code for an :class:`ImageError` message from :func:`core.images.load_image`."""
    for needle, code in _IMAGE_ERROR_CODES:
        if needle in message:
            return code
    return F.UNREADABLE


def check_file(path: Path, rel: str, split: str, class_name: str) -> ScannedImage | SkippedFile:
    """Validate one file: the same decode as training, so what passes here loads later."""
    name = path.name
    if F.is_archive_name(name):
        return SkippedFile(rel, "archives inside the dataset are not opened", F.NESTED_ARCHIVE)
    if not F.is_image_name(name):
        return SkippedFile(rel, f"not an image file ({F.suffix_of(name) or 'no suffix'})", F.NOT_IMAGE)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return SkippedFile(rel, f"cannot be read ({exc.strerror or exc})", F.UNREADABLE)
    try:
        image = load_image(data, name=rel)
    except ImageError as exc:
        message = str(exc)
        reason = message[len(rel) + 2:] if message.startswith(rel + ": ") else message
        return SkippedFile(rel, reason, classify_image_error(message))
    except Exception as exc:  # noqa: BLE001 - a hostile file may break a decoder in a new way; skip it
        return SkippedFile(rel, f"could not be decoded ({type(exc).__name__}: {exc})", F.UNREADABLE)
    height, width = image.shape[:2]
    if min(width, height) < MIN_SIDE:
        return SkippedFile(rel, f"{width}x{height} pixels is too small (at least {MIN_SIDE}x{MIN_SIDE})",
                           F.TOO_SMALL)
    return ScannedImage(path, rel, split, class_name, width, height, hashlib.sha256(data).hexdigest())


def _dataset_id(root: Path, meta: dict, images: list[ScannedImage]) -> str:
    if isinstance(meta.get("id"), str) and meta["id"]:
        return meta["id"]
    digest = hashlib.sha256()
    for img in sorted(images, key=lambda i: i.rel):
        digest.update(f"{img.rel}\0{img.class_name}\0{img.sha256}\n".encode("utf-8", "replace"))
    return f"{slug(root.name)}-{digest.hexdigest()[:10]}"


def folder_signature(folder: Path) -> str:
    """A cheap fingerprint of a folder tree (names, sizes, modification times; no file is read).

    Only as deep and as large as a scan looks (a split, a class and MAX_DEPTH folders below it); a tree
    with more entries than a dataset may have is refused before it is walked further.
    """
    digest = hashlib.sha256()
    seen = 0
    top = len(Path(folder).parts)
    for dirpath, dirnames, filenames in os.walk(folder):  # never follows links; unreadable folders are passed
        dirnames.sort()
        if len(Path(dirpath).parts) - top >= MAX_DEPTH + 5:  # wrappers (3), split, class, then MAX_DEPTH
            dirnames.clear()
        seen += len(filenames) + len(dirnames)
        if seen > 2 * MAX_FILES:
            raise DataError(f"{folder} holds more than {2 * MAX_FILES:,} files and folders; a dataset may have "
                            f"at most {MAX_FILES:,} files. Point at the dataset's own folder.")
        for name in sorted(filenames) + dirnames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            digest.update(f"{dirpath}/{name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n".encode(
                "utf-8", "surrogateescape"))
    return digest.hexdigest()


# Scans are slow (every image is decoded) and folders rarely change, so recent results are kept,
# keyed by the folder, its fingerprint and the pixel limit that decided what was skipped.
_CACHE: dict[tuple[Path, str, int], ScanResult] = {}
_CACHE_SIZE = 16


def scan_folder(path: str | os.PathLike, workers: int = 2, use_cache: bool = True,
                progress: Progress | None = None) -> ScanResult:
    """Scan ``path`` (a folder of class folders, or of train/val/test folders) and validate every file.

    An unchanged folder is not decoded again within a process (``use_cache=False`` forces it).
    ``progress(fraction, text)`` (:mod:`core.progress`) hears of the images as they are checked.
    """
    start = Path(path)
    if not start.is_dir():
        raise DataError(f"No such dataset folder: {start}.")
    base = start.resolve()
    key = (base, folder_signature(base), config.max_image_pixels())
    if use_cache and key in _CACHE:
        return copy.deepcopy(_CACHE[key])
    result = _scan(base, workers, progress)
    _CACHE[key] = result
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    return copy.deepcopy(result)


def _subfolders(folder: Path, base: Path, skipped: list[SkippedFile], reserved: frozenset[str]) -> list[Path]:
    """The real sub-folders of ``folder``; hidden entries, links and loose files are recorded as skipped."""
    out = []
    for entry in _readable_entries(folder, base, skipped):
        rel = _rel(Path(entry.path), base)
        if entry.name in reserved:
            continue
        if F.is_hidden_or_system(entry.name):
            skipped.append(SkippedFile(rel, "hidden or system file (e.g. __MACOSX, .DS_Store)", F.HIDDEN))
        elif entry.is_symlink():
            skipped.append(SkippedFile(rel, "symbolic links are not followed", F.LINK))
        elif not entry.is_dir(follow_symlinks=False):
            skipped.append(SkippedFile(rel, "file outside any class folder", F.OUTSIDE_CLASS))
        else:
            out.append(Path(entry.path))
    return out


def _layout(base: Path, skipped: list[SkippedFile]) -> tuple[Path, dict, bool, dict[str, list[Path]]]:
    """``(root, meta, is_split, {split: class folders})`` of a dataset folder, from its folders alone."""
    root = find_root(base)
    meta = load_meta(base)  # written by Glasswing at the top of what it extracted or generated
    masks_name = meta.get("masks") if isinstance(meta.get("masks"), str) else None
    reserved = F.METADATA_NAMES | ({masks_name} if masks_name else set())

    top = _subfolders(root, base, skipped, reserved)
    is_split = any(F.SPLIT_NAMES.get(folder.name.lower()) for folder in top)
    containers: dict[str, list[Path]] = {}  # split -> class folders
    if not is_split:
        containers[ALL] = top
    for folder in top if is_split else []:
        split = F.SPLIT_NAMES.get(folder.name.lower())
        rel = _rel(folder, base) + "/"
        if split is None:
            skipped.append(SkippedFile(rel, "folder is not train/, val/ or test/", F.IGNORED_FOLDER))
        elif split in containers:
            skipped.append(SkippedFile(rel, f"a second folder for the {split} split", F.IGNORED_FOLDER))
        else:
            containers[split] = _subfolders(folder, base, skipped, frozenset())
    return root, meta, is_split, containers


def _folder_label(meta: dict, folder: str) -> str:
    """A class folder's label: the one ``dataset.json`` gives it (an upload per class), else its name."""
    labels = meta.get("class_labels") if isinstance(meta.get("class_labels"), dict) else {}
    return labels.get(folder) or _text(folder)


def _ordered(meta: dict, class_set: set[str]) -> list[str]:
    declared = meta.get("class_names") if isinstance(meta.get("class_names"), list) else []
    order = [c for c in declared if c in class_set]
    return order + sorted(class_set - set(order))


def class_labels(base: str | os.PathLike) -> list[str]:
    """The classes of a dataset folder, in the order a scan gives them, from its folders and ``dataset.json``
    alone (no image is opened): for a picker that must not read every image."""
    _root, meta, _split, containers = _layout(Path(base), [])
    return _ordered(meta, {_folder_label(meta, f.name) for folders in containers.values() for f in folders})


def _scan(base: Path, workers: int, progress: Progress | None = None) -> ScanResult:
    # Reported paths are relative to the folder given (as in the user's zip), not to the class root.
    skipped: list[SkippedFile] = []
    root, meta, is_split, containers = _layout(base, skipped)
    skipped = [SkippedFile(**s) for s in meta.get("archive_skipped", []) if isinstance(s, dict)] + skipped
    masks_name = meta.get("masks") if isinstance(meta.get("masks"), str) else None

    candidates: list[tuple[Path, str, str]] = []  # (file, split, class label)
    class_set: set[str] = set()  # every class folder, even an empty one (the report says it is too small)
    for split, class_folders in containers.items():
        for folder in class_folders:
            label = _folder_label(meta, folder.name)
            class_set.add(label)
            found: list[Path] = []
            _candidate_files(folder, base, 1, skipped, found)
            candidates += [(f, split, label) for f in found]
            if len(candidates) > MAX_FILES:
                raise DataError(f"The dataset has more than {MAX_FILES:,} files; use a smaller subset.")
    class_names = _ordered(meta, class_set)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # PIL decodes without the GIL
        results = []
        step = max(1, len(candidates) // 100)  # about a hundred reports, however many files
        for n, r in enumerate(pool.map(lambda c: check_file(c[0], _rel(c[0], base), c[1], c[2]), candidates)):
            results.append(r)
            if (n + 1) % step == 0 or n + 1 == len(candidates):
                report(progress, (n + 1) / len(candidates), f"Checked {n + 1:,} of {len(candidates):,} images")
    images = [r for r in results if isinstance(r, ScannedImage)]
    skipped += [r for r in results if isinstance(r, SkippedFile)]
    split_names = [s for s in ("train", "val", "test", ALL) if s in containers]
    masks_dir = root / masks_name if masks_name and (root / masks_name).is_dir() else None
    return ScanResult(
        root=root, layout="splits" if is_split else "class-folders", class_names=class_names,
        split_names=split_names, images=images, skipped=skipped, meta=meta, masks_dir=masks_dir,
        dataset_id=_dataset_id(root, meta, images),
    )
