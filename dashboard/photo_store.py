"""The session's photos kept in its folder on disk, so that reloading the page finds them again.

Streamlit starts a new session state on a reload; the signed address keeps the session id (see
``state.init_session``), and this module gives back what the person had chosen: the source, the sample
photos, their uploads and camera shot (the uploaded bytes, re-decoded by the same safe loader) and the
photo the pages work on. Only outside classroom mode, where a reload keeps the session at all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from core.atomic import write_bytes, write_json
from core.data import sessions
from core.errors import GlasswingError
from core.images import load_image
from core.smallfiles import read_small_text

_FOLDER = "photos"
_CHOICE = "choice.json"
_DIGEST = re.compile(r"^[0-9a-f]{16}$")
_FIELDS = ("source", "samples", "uploads", "chosen", "camera", "current")


def _folder(session_id: str, create: bool) -> Path | None:
    root = sessions.session_dir(session_id, create=create)
    if not root.is_dir():
        return None
    folder = root / _FOLDER
    if create:
        folder.mkdir(exist_ok=True)
    return folder if folder.is_dir() and not folder.is_symlink() else None


def keep_upload(session_id: str, digest: str, data: bytes) -> None:
    """Keep an uploaded photo's bytes (already within the upload limit) under its digest."""
    folder = _folder(session_id, create=True)
    if folder is not None and _DIGEST.match(digest) and not (folder / digest).exists():
        write_bytes(folder / digest, data)


def save_choice(session_id: str, choice, names: dict[str, str]) -> None:
    """Write the choice (a ``state.PhotoChoice``) and drop kept uploads it no longer names."""
    folder = _folder(session_id, create=True)
    if folder is None:
        return
    record = {f: getattr(choice, f) for f in _FIELDS}
    kept = set(choice.uploads) | ({choice.camera} if choice.camera else set())
    record["names"] = {d: names[d] for d in kept if d in names}
    write_json(folder / _CHOICE, record)
    for path in folder.iterdir():
        if _DIGEST.match(path.name) and path.name not in kept:
            path.unlink(missing_ok=True)


def restore(session_id: str, choice, add_image) -> bool:
    """Fill ``choice`` from the session's folder and decode its photos with ``add_image(name, pixels)``.

    False when nothing was kept. A kept file that no longer decodes to its digest is skipped, as is a
    malformed record: a reload then starts from the defaults, never from an error.
    """
    folder = _folder(session_id, create=False)
    if folder is None or not (folder / _CHOICE).is_file():
        return False
    try:
        record = json.loads(read_small_text(folder / _CHOICE, 256 * 1024, "The kept photo choice"))
        names = dict(record.get("names", {}))
    except (GlasswingError, ValueError, TypeError, AttributeError):
        return False
    decoded: set[str] = set()
    for digest, name in names.items():
        path = folder / str(digest)
        if not _DIGEST.match(str(digest)) or not path.is_file() or path.is_symlink():
            continue
        try:
            item = add_image(str(name), load_image(path.read_bytes(), name=str(name)))
        except (GlasswingError, OSError):
            continue
        if item.digest == digest:
            decoded.add(digest)
    for field in _FIELDS:
        value = record.get(field, getattr(choice, field))
        if field in ("uploads", "chosen"):
            value = [d for d in value if d in decoded] if isinstance(value, list) else []
        elif field == "camera":
            value = value if value in decoded else None
        elif field == "samples":
            value = [str(n) for n in value] if isinstance(value, list) else getattr(choice, field)
        elif not isinstance(value, str) and value is not None:
            continue
        setattr(choice, field, value)
    return True
