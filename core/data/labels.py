"""Class names are user text: keep them as labels, but make safe versions for display and file names.

A class folder called ``<script>alert(1)</script>`` or ``Ü/ber\\x00`` is still the label the user chose;
these helpers give a printable form (no control characters, bounded length) and a file-name form that
cannot escape a folder or collide with another class.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_MAX_DISPLAY = 80
_MAX_FILENAME = 60
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ -]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def display_label(name: str) -> str:
    """Printable form of a label: control/format characters removed, whitespace collapsed, length capped.

    Markup is left as text: whoever renders the label must still escape it for HTML or Markdown.
    """
    cleaned = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in str(name))
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > _MAX_DISPLAY:
        cleaned = cleaned[: _MAX_DISPLAY - 1] + "…"
    return cleaned or "(unnamed)"


def safe_filename(name: str) -> str:
    """A file/folder name derived from ``name``: ASCII letters, digits, ``._ -`` only, never hidden.

    When anything had to change, a short hash of the original is appended, so two labels that only
    differ in unsafe characters still get different names.
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE_FILENAME.sub("_", text).strip(" ._")[:_MAX_FILENAME].strip(" ._")
    if text != name or text.lower() in _RESERVED or not text:
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        text = f"{text or 'class'}-{digest}"
    return text


def slug(name: str) -> str:
    """Lower-case identifier fragment (``[a-z0-9-]``) for dataset ids."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:40].strip("-") or "dataset"
