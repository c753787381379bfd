"""What counts as an image, a hidden/system file or an archive, and the record of a skipped file."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.images import IMAGE_SUFFIXES

# Also accepted as images: common alternative JPEG suffixes.
IMAGE_EXTENSIONS = frozenset(IMAGE_SUFFIXES) | {".jpe", ".jfif"}
ARCHIVE_EXTENSIONS = frozenset({
    ".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz", ".xz", ".txz", ".7z", ".rar", ".zst", ".lz", ".lzma",
    ".cab", ".jar", ".apk", ".iso", ".dmg",
})
SYSTEM_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r", "__macosx", "$recycle.bin"})
# Files we write ourselves at a dataset's root; never reported as skipped.
METADATA_NAMES = frozenset({"dataset.json"})
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test", "testing": "test"}

# Short machine-readable codes for skip reasons (the sentence in ``reason`` is for people).
HIDDEN = "hidden"
NOT_IMAGE = "not-image"
EMPTY = "empty"
TRUNCATED = "truncated"
TOO_MANY_PIXELS = "too-many-pixels"
UNSUPPORTED_MODE = "unsupported-mode"
UNSUPPORTED_FORMAT = "unsupported-format"
NESTED_ARCHIVE = "nested-archive"
OUTSIDE_CLASS = "outside-class-folder"
LINK = "link"
SPECIAL_FILE = "special-file"
UNSAFE_PATH = "unsafe-path"
ENCRYPTED = "encrypted"
ZIP_BOMB = "zip-bomb"
TOO_LARGE = "too-large"
DUPLICATE_ENTRY = "duplicate-entry"
BAD_ENTRY = "bad-entry"
UNREADABLE = "unreadable"
TOO_DEEP = "too-deep"
IGNORED_FOLDER = "ignored-folder"
TOO_SMALL = "too-small"


@dataclass(frozen=True)
class SkippedFile:
    """One file (or archive entry) left out, with a sentence saying why and a short code."""

    path: str
    reason: str
    code: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def is_hidden_or_system(name: str) -> bool:
    """True for dot-files (``.DS_Store``, AppleDouble ``._x``), ``__MACOSX``, ``Thumbs.db`` and friends."""
    return name.startswith(".") or name.lower() in SYSTEM_NAMES or name.startswith("~$")


def suffix_of(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def is_image_name(name: str) -> bool:
    return suffix_of(name) in IMAGE_EXTENSIONS


def is_archive_name(name: str) -> bool:
    return suffix_of(name) in ARCHIVE_EXTENSIONS


def printable_path(path: str) -> str:
    """A path for reports: control characters and lone surrogates escaped, so JSON and terminals stay sane."""
    out = []
    for ch in path:
        code = ord(ch)
        if code < 32 or code == 127 or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
