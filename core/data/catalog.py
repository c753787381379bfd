"""What datasets exist: built-in ones (made or not yet) and zips imported from the command line.

Session uploads are private to their browser session and are not listed here.
"""

from __future__ import annotations

from typing import Any

from core import config
from core.errors import Message
from core.data.builtin import BUILTINS, builtin_root
from core.data.scan import load_meta
from core.i18n import N_


def list_datasets() -> list[dict[str, Any]]:
    """One dict per dataset: ``id``, ``kind`` ("builtin" or "import"), ``title``, and ``path`` once it
    exists on disk (``status`` says how a built-in one would be made otherwise)."""
    out: list[dict[str, Any]] = []
    seen = set()
    for info in BUILTINS.values():
        path = builtin_root() / info.id
        entry: dict[str, Any] = {"id": info.id, "kind": "builtin", "title": info.title,
                                 "description": info.description, "has_masks": info.has_masks}
        if (path / "dataset.json").is_file():
            entry["path"] = str(path)
        else:
            available, how = info.available()
            status = (Message(N_("not created yet ({how})"), how=how) if available
                      else Message(N_("unavailable ({how})"), how=how))
            entry["status"], entry["status_message"] = str(status), status  # the CLI's words; the page's
        out.append(entry)
        seen.add(info.id)
    root = builtin_root()
    if root.is_dir():  # variants with non-default options
        for folder in sorted(root.iterdir()):
            meta = load_meta(folder)
            if folder.name not in seen and not folder.name.startswith(".") and meta:
                out.append({"id": folder.name, "kind": "builtin", "title": meta.get("title", folder.name),
                            "description": meta.get("description", ""), "path": str(folder),
                            "has_masks": bool(meta.get("masks"))})
    imports = config.data_dir() / "imports"
    if imports.is_dir():
        for folder in sorted(imports.iterdir()):
            meta = load_meta(folder)
            if meta and not folder.name.startswith("."):
                out.append({"id": folder.name, "kind": "import", "title": str(meta.get("source", folder.name)),
                            "description": N_("imported from a zip"), "path": str(folder), "has_masks": False})
    return out
