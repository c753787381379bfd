"""Getting a user's images in from the dashboard: a zip of class folders, or images per named class.

Both land in the session's folder (:func:`core.data.sessions.session_dir`) as
``<session>/<dataset id>/``; the id is derived from the content, so uploading the same thing twice
reuses the first copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from core import atomic, config
from core.data import files as F
from core.data.archive import ArchiveLimits, extract_zip
from core.data.files import SkippedFile
from core.data.labels import safe_filename
from core.data.sessions import session_dir
from core.i18n import N_
from core.errors import DataError, ParameterError
from core.i18n import N_
from core.progress import Progress


def import_zip_bytes(
    data: bytes, session_id: str, filename: str = "upload.zip", limits: ArchiveLimits | None = None,
    progress: Progress | None = None,
) -> Path:
    """Safely extract an uploaded zip into the session folder; returns the dataset folder."""
    limits = limits or ArchiveLimits.from_config()
    if len(data) > limits.max_archive_bytes:
        raise DataError.say(N_("The upload is {size}."), size=config.over_limit(len(data), limits.max_archive_bytes))
    dataset_id = f"upload-{hashlib.sha256(data).hexdigest()[:12]}"
    dest = session_dir(session_id) / dataset_id
    if not (dest / "dataset.json").is_file():
        extract_zip(data, dest, limits, metadata={"id": dataset_id, "source": F.printable_path(filename)},
                    progress=progress)
    return dest


def import_class_images(
    classes: Mapping[str, Sequence[tuple[str, bytes]]], session_id: str,
) -> Path:
    """Write images uploaded per named class (``{label: [(filename, bytes), ...]}``) to the session.

    Labels are kept as typed; folder and file names are made safe, so a label full of markup or
    slashes cannot break a path. Files that are not images by name are recorded as skipped (their
    content is checked later, by the scan, like every other dataset).
    """
    if not classes:
        raise ParameterError("classes must name at least one class with images.")
    total = sum(len(data) for files in classes.values() for _, data in files)
    if total > config.max_upload_bytes():
        raise DataError.say(N_("The uploaded images add up to {size}."),
                            size=config.over_limit(total, config.max_upload_bytes()))
    digest = hashlib.sha256()
    for label in sorted(classes):
        digest.update(label.encode("utf-8", "replace") + b"\0")
        for name, data in sorted(classes[label], key=lambda f: (f[0], hashlib.sha256(f[1]).digest())):
            digest.update(name.encode("utf-8", "replace") + b"\0" + hashlib.sha256(data).digest())
    dataset_id = f"classes-{digest.hexdigest()[:12]}"
    dest = session_dir(session_id) / dataset_id
    if (dest / "dataset.json").is_file():
        return dest

    tmp = dest.parent / f".{dataset_id}.tmp-{uuid.uuid4().hex[:8]}"
    skipped: list[SkippedFile] = []
    folders: dict[str, str] = {}
    try:
        for label in sorted(classes):
            if not label.strip():
                raise ParameterError("Every class needs a name (got an empty class name).")
            folder = safe_filename(label)
            folders[folder] = label
            for index, (name, data) in enumerate(classes[label]):
                shown = F.printable_path(f"{label}/{name}")
                name = name.replace("\\", "/").rsplit("/", 1)[-1]  # browsers send base names; be sure
                if F.is_hidden_or_system(name):
                    skipped.append(SkippedFile(shown, "hidden or system file", F.HIDDEN))
                    continue
                if not F.is_image_name(name):
                    skipped.append(SkippedFile(shown, f"not an image file ({F.suffix_of(name) or 'no suffix'})",
                                               F.NOT_IMAGE))
                    continue
                stem = safe_filename(Path(name).stem)[:60]
                file_name = f"{index:05d}-{stem}{F.suffix_of(name)}"
                target = tmp / folder / file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        atomic.write_json(tmp / "dataset.json", {
            "id": dataset_id, "source": N_("images uploaded per class"), "class_labels": folders,
            "archive_skipped": [s.to_dict() for s in skipped],
        })
        try:
            os.rename(tmp, dest)
        except OSError:
            if not (dest / "dataset.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
