"""Dataset versions: corrections (a wrong label, an image to drop, a photo to add) made beside a dataset,
never in it.

A version is a new dataset folder under ``data_dir()/versions/<id>/``: every image of its parent that is kept,
in the class folder its (corrected) label names and in the same split folder, plus the added photos
(copied in, into ``train/`` when the parent has split folders). Kept images are hard links to the parent's
files where the file system allows (no extra disk), copies otherwise; the parent is only read. The
folder is built hidden and renamed into place once whole, with ``version.json`` saying what changed, by
whom (the session) and from which parent; a version of a version continues the numbering. Any version is
a dataset like any other: ``open_dataset(version.path)`` trains and evaluates on it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core import config
from core.atomic import write_text
from core.data import files as F
from core.data.labels import safe_filename
from core.data.scan import ALL
from core.errors import DataError, GlasswingError, ParameterError, unknown_name
from core.i18n import N_
from core.paths import is_inside
from core.smallfiles import read_small_text

META = "version.json"
MAX_META_BYTES = 4_000_000
MAX_CHANGES = 10_000
KINDS = ("relabel", "remove", "add")
SPLIT_FOLDERS = set(F.SPLIT_NAMES)  # train/, val/, ... would turn a pool into a split layout
NEW_CLASS = re.compile(r"\w[\w .-]{0,63}")  # a photo may start a class: a folder name, nothing that leads out
EVERYONE = None  # list_versions(owner=EVERYONE): every version, whoever made it


@dataclass(frozen=True)
class Change:
    """One correction: ``relabel`` an image of the dataset to ``label``, ``remove`` it, or ``add`` the photo at
    ``path`` to class ``label`` (an existing class, or a new one it starts)."""

    kind: str
    path: str
    label: str | None = None


@dataclass
class Version:
    id: str
    path: Path
    number: int  # 1 for the first version of a dataset, then 2, 3, ... along its line
    parent: str  # the dataset it was made from (a folder, or a built-in id)
    origin: str  # the first dataset of the line
    owner: str | None
    created: str
    changes: list[dict]  # {kind, path (relative to the version), label, from}
    note: str = ""
    ancestors: list[str] | None = None  # the real folders it descends from, nearest first

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}

    def summary(self) -> dict[str, int]:
        """How many changes of each kind."""
        return {kind: sum(c["kind"] == kind for c in self.changes) for kind in KINDS}


def versions_root() -> Path:
    return config.data_dir() / "versions"


def _checked(changes: Sequence[Change], class_names: list[str]) -> list[Change]:
    if not changes:
        raise ParameterError.say(N_("Nothing to change: give at least one image to relabel, remove or add."))
    if len(changes) > MAX_CHANGES:
        raise ParameterError(f"At most {MAX_CHANGES:,} changes make one version, got {len(changes):,}.")
    seen: set[str] = set()
    for change in changes:
        if change.kind not in KINDS:
            raise unknown_name("change", change.kind, list(KINDS))
        if change.kind == "relabel" and change.label not in class_names:
            raise unknown_name("class", str(change.label), class_names)
        if change.kind == "add" and change.label not in class_names and (
                not NEW_CLASS.fullmatch(str(change.label)) or str(change.label).lower() in SPLIT_FOLDERS):
            raise ParameterError.say(N_("{name!r} cannot name a new class: use 1 to 64 letters, digits, spaces, '-', "
                                        "'_' or '.', starting with a letter or digit, and not a split's name."), name=str(change.label))
        key = os.path.realpath(change.path)
        if change.kind != "add" and key in seen:
            raise ParameterError.say(N_("{path} is changed twice in one version; keep one of the two changes."),
                                     path=change.path)
        seen.add(key)
    return list(changes)


def _place(rel_dir: Path, name: str, taken: set[Path]) -> Path:
    """``rel_dir/name``, numbered (``name-1``, ...) when a kept or added image already has that place."""
    stem, suffix = os.path.splitext(name)
    candidate, n = rel_dir / name, 0
    while candidate in taken:
        n += 1
        candidate = rel_dir / f"{stem}-{n}{suffix}"
    taken.add(candidate)
    return candidate


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: a copy
        shutil.copyfile(source, target)


def _line(parent_root: Path) -> tuple[str, int, str, list[str]]:
    """``(origin, number, id stem, ancestors)`` for a new version made from ``parent_root`` (a version or
    not); ancestors are the real folders it descends from, nearest first."""
    meta = read_version_meta(parent_root)
    if meta is not None:
        return (meta["origin"], int(meta["number"]) + 1, str(meta["id"]).rsplit("-v", 1)[0],
                [str(parent_root), *[str(p) for p in meta.get("ancestors") or []]])
    return str(parent_root), 1, parent_root.name, [str(parent_root)]


def lineage(folder: str | os.PathLike) -> list[str]:
    """``folder`` (real path) and, when it is a version, every dataset it descends from."""
    real = os.path.realpath(folder)
    meta = read_version_meta(Path(real))
    return [real, *[str(p) for p in (meta or {}).get("ancestors") or []]]


def related(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two dataset folders share a line (one descends from the other, or both from a third: two
    versions of one dataset): they may hold the same images."""
    return bool(set(lineage(a)) & set(lineage(b)))


def read_version_meta(folder: Path) -> dict | None:
    """``folder``'s ``version.json`` when it is a version (a small JSON object), else None."""
    path = Path(folder) / META
    if not path.is_file() or path.is_symlink():
        return None
    try:
        meta = json.loads(read_small_text(path, MAX_META_BYTES, META))
    except (ValueError, GlasswingError, OSError):
        return None
    return meta if isinstance(meta, dict) and {"id", "number", "origin"} <= set(meta) else None


def make_version(source: str | os.PathLike, changes: Sequence[Change], owner: str | None = None,
                 note: str = "") -> Version:
    """A new version of the dataset ``source`` with ``changes`` applied; ``source`` is never modified.

    Refused in one sentence, before anything is written: a change naming an image that is not in the
    dataset, a class it does not have, an image changed twice, a photo that does not decode; and after
    building, a version that is no longer a usable dataset (a class left with too few images).
    """
    from core.data.dataset import open_dataset
    from core.images import load_image

    dataset = open_dataset(source)
    checked = _checked(changes, dataset.class_names)
    root = Path(os.path.realpath(dataset.root))
    by_path = {os.path.realpath(item.path): (split, item) for split, items in dataset.splits.items()
               for item in items}
    edits: dict[str, Change] = {}
    for change in checked:
        if change.kind == "add":
            load_image(change.path)  # decodes, within the size limits, or says why not
            continue
        if os.path.realpath(change.path) not in by_path:
            raise ParameterError.say(N_("{path} is not an image of the dataset {dataset}; only its own images can be "
                                        "relabelled or removed."), path=change.path, dataset=dataset.id)
        edits[os.path.realpath(change.path)] = change
    origin, number, stem, ancestors = _line(root)
    version_id = f"{stem}-v{number}"
    versions = versions_root()
    versions.mkdir(parents=True, exist_ok=True)
    while (versions / version_id).exists():  # another line from the same name: keep both
        version_id = f"{stem}-v{number}-{uuid.uuid4().hex[:6]}"
    partial = versions / f".partial-{uuid.uuid4().hex}"
    # Class names are labels, not paths: each class keeps its own folder (an upload per class names folders
    # apart from its labels, which may hold '/' or '..'); a class a photo starts gets a safe folder name.
    folder_of = {dataset.class_names[item.label]: Path(item.path).parent.name for _, item in by_path.values()}
    for change in checked:
        if change.kind == "add" and change.label not in folder_of:
            folder_of[str(change.label)] = safe_filename(str(change.label))
    try:
        taken: set[Path] = set()
        recorded: list[dict] = []

        def placed(split_dir: Path, label: str, name: str) -> Path:
            target = _place(split_dir / folder_of[label], Path(name).name, taken)
            if not is_inside(partial / target, partial):  # never written outside the version's folder
                raise ParameterError.say(N_("{name} cannot be stored in a dataset version."), name=name)
            return target

        for real, (split, item) in by_path.items():
            change = edits.get(real)
            if change is not None and change.kind == "remove":
                recorded.append({"kind": "remove", "path": str(Path(item.path).relative_to(dataset.root)),
                                 "label": None, "from": dataset.class_names[item.label]})
                continue
            label = change.label if change is not None else dataset.class_names[item.label]
            target = placed(Path() if split == ALL else Path(split), label, Path(item.path).name)
            _link_or_copy(Path(real), partial / target)
            if change is not None:
                recorded.append({"kind": "relabel", "path": str(target), "label": label,
                                 "from": dataset.class_names[item.label]})
        for change in checked:
            if change.kind == "add":
                target = placed(Path() if ALL in dataset.splits else Path("train"), str(change.label),
                                Path(change.path).name)
                (partial / target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(change.path, partial / target)
                recorded.append({"kind": "add", "path": str(target), "label": change.label, "from": None})
        # Named after the first dataset of the line (its upload's name, else its folder): "flowers v2".
        base = str(dataset.meta.get("base_title") or dataset.meta.get("source") or dataset.meta.get("title")
                   or Path(origin).name)

        def described(version_id: str) -> Version:
            version = Version(id=version_id, path=versions / version_id, number=number, parent=str(source),
                              origin=origin, owner=owner, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              changes=recorded, note=str(note)[:500], ancestors=ancestors)
            write_text(partial / "dataset.json", json.dumps({
                "id": version_id, "source": f"{base} v{number}", "title": f"{base} v{number}", "base_title": base,
                "class_labels": {folder: label for label, folder in folder_of.items()}}))
            meta = {k: v for k, v in version.to_dict().items() if k != "path"}
            write_text(partial / META, json.dumps(meta, indent=1))
            return version

        version = described(version_id)
        try:
            open_dataset(partial)  # still a usable dataset (every class keeps enough images)
        except DataError as exc:
            raise DataError.say(N_("These changes leave no usable dataset: {reason}"), reason=exc) from None
        for _attempt in range(8):
            try:
                os.rename(partial, version.path)  # whole, or not there
                break
            except OSError as exc:
                if not version.path.exists():
                    raise DataError.say(N_("The version of {dataset} could not be written: {error}"),
                                        dataset=dataset.id, error=exc.strerror or exc) from None
            # Another save of the same line took this name meanwhile (two sessions correcting one dataset).
            version = described(f"{stem}-v{number}-{uuid.uuid4().hex[:6]}")
        else:
            raise DataError.say(N_("No free name was found for the version of {dataset}; try again."),
                                dataset=dataset.id)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    if owner is not None:  # a session's versions are swept with it: the sweep goes by its folder's use
        from core.data.sessions import touch_session

        try:
            touch_session(owner)
        except (ParameterError, OSError):
            pass  # best effort: an owner that names no session (a caller's label), or a disk that refuses
    return version


def remove_versions_of(owner: str) -> int:
    """Delete the versions ``owner`` (a session) made; how many. Called when the session is swept: its
    versions hold its photos (hard links keep an upload's bytes alive after its folder is gone)."""
    removed = 0
    for version in list_versions(owner):
        if version.owner == owner and is_inside(version.path, versions_root()):
            shutil.rmtree(version.path, ignore_errors=True)
            removed += not version.path.exists()
    return removed


def list_versions(owner: str | None = EVERYONE) -> list[Version]:
    """Versions, newest first: ``owner``'s and those nobody owns (made from the command line)."""
    root = versions_root()
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        meta = read_version_meta(folder)
        if meta is None or (owner is not EVERYONE and meta.get("owner") not in (owner, None)):
            continue
        fields = {k: meta.get(k) for k in ("id", "number", "parent", "origin", "owner", "created", "note",
                                           "ancestors")}
        found.append(Version(path=folder, changes=list(meta.get("changes") or []), **fields))
    return sorted(found, key=lambda v: (v.created or "", v.id), reverse=True)
