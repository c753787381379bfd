"""Safe extraction of an uploaded zip of class folders.

An archive is hostile until proven otherwise. Every entry is checked *before* anything is written:

- names are decoded (UTF-8 when flagged or when the bytes are valid UTF-8, else CP437), backslashes
  become slashes, and entries with ``..``, an absolute path, a drive letter or a NUL are rejected;
- symbolic links and other special files (by the Unix mode in ``external_attr``) are rejected;
- hidden/system files (``__MACOSX``, ``.DS_Store``, ``Thumbs.db``, dot-files), nested archives, files
  that are not images and encrypted entries are skipped, each with a reason;
- caps on the number of entries, the size of one entry, the total uncompressed size and the
  compression ratio (per entry and for the whole archive) stop zip bombs.

Only image files are written, into a temporary folder beside the destination that is renamed into
place at the end, so a reader never sees half an extraction and nothing is written outside it.
Only zip is supported (tar is not): browsers and operating systems all make zips.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from core import atomic, config
from core.data import files as F
from core.data.files import SkippedFile
from core.errors import DataError
from core.i18n import N_
from core.progress import Progress, report

_CHUNK = 1 << 16
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_MAX_COMPONENT_BYTES = 200


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps that keep an archive from filling the disk or the memory of a shared server."""

    max_archive_bytes: int = 200 * 1024 * 1024  # the compressed upload itself
    max_entries: int = 20_000  # entries of any kind, counted before anything is read
    max_entry_bytes: int = 100 * 1024 * 1024  # one uncompressed file
    max_total_bytes: int = 1024 * 1024 * 1024  # all extracted files together
    max_ratio: float = 100.0  # uncompressed / compressed; images barely compress, bombs do ~1000x
    ratio_min_bytes: int = 1024 * 1024  # the ratio is only judged for entries (or totals) this big

    @classmethod
    def from_config(cls) -> ArchiveLimits:
        upload = config.max_upload_bytes()
        return cls(max_archive_bytes=upload, max_total_bytes=max(5 * upload, 64 * 1024 * 1024))


@dataclass
class ExtractResult:
    """What :func:`extract_zip` wrote (relative paths) and what it refused, with reasons."""

    root: Path
    extracted: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def decode_entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as text. Zips without the UTF-8 flag are CP437 by the spec, but many tools write
    UTF-8 anyway, so valid UTF-8 bytes win; anything else stays CP437 (every byte decodes)."""
    name = info.orig_filename
    if info.flag_bits & _UTF8_FLAG:
        return name
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return name


def normalise_entry_name(name: str) -> tuple[str | None, str | None]:
    """Return ``(relative posix path, None)`` for a safe name or ``(None, reason)`` for a hostile one."""
    if "\x00" in name:
        return None, "the entry name contains a NUL character"
    text = name.replace("\\", "/")
    if text.startswith("/"):
        return None, "absolute paths are not allowed in an archive"
    if re.match(r"^[A-Za-z]:", text):
        return None, "paths with a drive letter are not allowed in an archive"
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None, "'..' in a path would write outside the dataset folder"
    clean = []
    for part in parts:
        part = "".join("_" if ord(ch) < 32 or ord(ch) == 127 else ch for ch in part)
        part = part.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be file names
        if len(part.encode("utf-8")) > _MAX_COMPONENT_BYTES:
            suffix = F.suffix_of(part)[:10]
            part = part.encode("utf-8")[: _MAX_COMPONENT_BYTES - len(suffix)].decode("utf-8", "ignore") + suffix
        clean.append(part)
    if not clean:
        return None, "the entry has an empty name"
    return "/".join(clean), None


def _entry_kind(info: zipfile.ZipInfo) -> str:
    """'dir', 'file', 'link' or 'special' from the name and the Unix mode bits in ``external_attr``."""
    mode = (info.external_attr >> 16) & 0xFFFF
    if stat.S_IFMT(mode):  # many writers store only permission bits: then it is a plain file
        if stat.S_ISLNK(mode):
            return "link"
        if stat.S_ISDIR(mode):
            return "dir"
        if not stat.S_ISREG(mode):
            return "special"
    return "dir" if info.orig_filename.endswith(("/", "\\")) else "file"


def _check_entry(info: zipfile.ZipInfo, rel: str, limits: ArchiveLimits) -> SkippedFile | None:
    """The reason to skip one well-named file entry, or None to extract it."""
    shown = F.printable_path(rel)
    parts = rel.split("/")
    kind = _entry_kind(info)
    if kind == "link":
        return SkippedFile(shown, "symbolic links are not extracted from archives", F.LINK)
    if kind == "special":
        return SkippedFile(shown, "special files (devices, pipes) are not extracted", F.SPECIAL_FILE)
    if any(F.is_hidden_or_system(p) for p in parts):
        return SkippedFile(shown, "hidden or system file (e.g. __MACOSX, .DS_Store, Thumbs.db)", F.HIDDEN)
    if F.is_archive_name(parts[-1]):
        return SkippedFile(shown, "archives inside the archive are not opened", F.NESTED_ARCHIVE)
    if not F.is_image_name(parts[-1]):
        suffix = F.suffix_of(parts[-1]) or "no suffix"
        return SkippedFile(shown, f"not an image file ({suffix})", F.NOT_IMAGE)
    if info.flag_bits & _ENCRYPTED_FLAG:
        return SkippedFile(shown, "the entry is password-protected", F.ENCRYPTED)
    if info.file_size > limits.max_entry_bytes:
        return SkippedFile(
            shown, f"{info.file_size:,} bytes uncompressed, more than the limit of {limits.max_entry_bytes:,}",
            F.TOO_LARGE,
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size >= limits.ratio_min_bytes and ratio > limits.max_ratio:
        return SkippedFile(
            shown, f"compression ratio {ratio:,.0f}:1 is above {limits.max_ratio:g}:1 (a possible zip bomb)",
            F.ZIP_BOMB,
        )
    return None


def plan_extraction(
    zf: zipfile.ZipFile, limits: ArchiveLimits,
) -> tuple[list[tuple[zipfile.ZipInfo, str]], list[SkippedFile]]:
    """Decide, from the central directory alone, which entries to extract and why others are skipped.

    Raises :class:`DataError` for problems with the archive as a whole (too many entries, too big,
    too compressible), before anything has been written.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise DataError.say(N_("The archive has {entries} entries, more than the limit of {limit}; upload fewer "
                               "files or split the dataset."), entries=f"{len(infos):,}",
                            limit=f"{limits.max_entries:,}")
    accepted: list[tuple[zipfile.ZipInfo, str]] = []
    skipped: list[SkippedFile] = []
    files: set[str] = set()
    dirs: set[str] = set()
    for info in infos:
        raw_name = decode_entry_name(info)
        rel, problem = normalise_entry_name(raw_name)
        if rel is None:
            skipped.append(SkippedFile(F.printable_path(raw_name), str(problem), F.UNSAFE_PATH))
            continue
        if _entry_kind(info) == "dir":
            continue
        reason = _check_entry(info, rel, limits)
        if reason is not None:
            skipped.append(reason)
            continue
        parents = {"/".join(rel.split("/")[:i]) for i in range(1, rel.count("/") + 1)}
        if rel in files or rel in dirs or parents & files:
            skipped.append(SkippedFile(
                F.printable_path(rel), "another entry already uses this name (or a folder of that name)",
                F.DUPLICATE_ENTRY,
            ))
            continue
        files.add(rel)
        dirs |= parents
        accepted.append((info, rel))
    total = sum(info.file_size for info, _ in accepted)
    if total > limits.max_total_bytes:
        raise DataError.say(N_("The archive would unpack to {total} bytes, more than the limit of {limit}; upload "
                               "a smaller dataset."), total=f"{total:,}", limit=f"{limits.max_total_bytes:,}")
    packed = sum(info.compress_size for info, _ in accepted)
    if total >= limits.ratio_min_bytes and total / max(packed, 1) > limits.max_ratio:
        raise DataError.say(N_("The archive unpacks to {ratio} times its size, above the limit of {limit}:1 (a "
                               "possible zip bomb)."), ratio=f"{total / max(packed, 1):,.0f}",
                            limit=f"{limits.max_ratio:g}")
    return accepted, skipped


def _open_zip(source: str | os.PathLike | bytes | BinaryIO, limits: ArchiveLimits) -> zipfile.ZipFile:
    if isinstance(source, (bytes, bytearray)):
        size = len(source)
        fp: BinaryIO | Path = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        fp = Path(source)
        if not fp.is_file():
            raise DataError.say(N_("No such archive: {path}."), path=str(fp))
        size = fp.stat().st_size
    else:
        fp = source
        size = fp.seek(0, os.SEEK_END)
        fp.seek(0)
    if size > limits.max_archive_bytes:
        raise DataError.say(N_("The archive is {size}."), size=config.over_limit(size, limits.max_archive_bytes))
    try:
        return zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError):
        raise DataError.say(N_("The upload is not a readable zip archive (only .zip is supported: zip the class "
                               "folders).")) from None


def _copy_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limit: int) -> int:
    """Stream one entry into a new file (never following or replacing an existing path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    written = 0
    with zf.open(info) as src, os.fdopen(os.open(target, flags, 0o644), "wb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise _EntryTooBig()
            dst.write(chunk)
    return written


class _EntryTooBig(Exception):
    pass


def extract_zip(
    source: str | os.PathLike | bytes | BinaryIO,
    dest: str | os.PathLike,
    limits: ArchiveLimits | None = None,
    metadata: dict | None = None,
    progress: Progress | None = None,
) -> ExtractResult:
    """Extract the image files of a zip into ``dest`` (which must not exist yet), safely.

    ``dest/dataset.json`` records ``metadata`` and every skipped entry with its reason, so that a
    later report still lists what the archive contained but was refused. Raises :class:`DataError`
    if the archive as a whole is unacceptable; a bad entry only adds to ``skipped``.
    ``progress(fraction, text)`` (:mod:`core.progress`) hears of the files as they are unpacked.
    """
    limits = limits or ArchiveLimits.from_config()
    dest = Path(dest)
    if dest.exists():
        raise DataError.say(N_("The destination folder {dest} already exists."), dest=str(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        with _open_zip(source, limits) as zf:
            accepted, skipped = plan_extraction(zf, limits)
            result = ExtractResult(root=dest, skipped=skipped)
            base = tmp.resolve()
            budget = limits.max_total_bytes
            step = max(1, len(accepted) // 100)  # about a hundred reports, however many files
            for n, (info, rel) in enumerate(accepted):
                if n % step == 0:
                    report(progress, n / len(accepted), f"Unpacking file {n + 1:,} of {len(accepted):,}")
                target = base.joinpath(*rel.split("/"))
                if not target.resolve().is_relative_to(base):  # defence in depth; names are already clean
                    skipped.append(SkippedFile(F.printable_path(rel), "would write outside the folder",
                                               F.UNSAFE_PATH))
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    budget -= _copy_entry(zf, info, target, min(limits.max_entry_bytes, budget, info.file_size))
                except _EntryTooBig:
                    target.unlink(missing_ok=True)
                    skipped.append(SkippedFile(F.printable_path(rel), "the entry unpacks to more bytes than it "
                                               "declares or than the limits allow", F.ZIP_BOMB))
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                        OSError) as exc:
                    target.unlink(missing_ok=True)
                    skipped.append(SkippedFile(F.printable_path(rel), f"the entry is corrupt ({exc})",
                                               F.BAD_ENTRY))
                else:
                    result.extracted.append(rel)
        report(progress, 1.0, f"Unpacked {len(result.extracted):,} files")
        meta = dict(metadata or {})
        meta["archive_skipped"] = [s.to_dict() for s in result.skipped]
        atomic.write_json(tmp / "dataset.json", meta)
        os.rename(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return result
