"""Download a weights file with progress, a checksum check and a clear offline error.

Used for the keras.applications ImageNet weights. The file is written to a temporary name and only
renamed into the cache once its checksum matches, so an interrupted or corrupted download never
looks like a cached one.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from core.atomic import atomic_path
from core.errors import ModelUnavailableError
from core.i18n import N_
from core.progress import Progress, report

CHUNK = 1 << 20


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_algorithm(expected: str) -> str:
    """Keras publishes md5 (32 hex digits); we also accept sha256 (64)."""
    return "sha256" if len(expected) == 64 else "md5"


def verify(path: Path, expected: str | None) -> bool:
    if not expected:
        return True
    return file_digest(path, hash_algorithm(expected)) == expected.lower()


def download(url: str, dest: Path, expected_hash: str | None, progress: Progress | None = None,
             timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``dest`` atomically, checking ``expected_hash``; return ``dest``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URLs)
            total = response.headers.get("Content-Length")
            total_bytes = int(total) if total and total.isdigit() else None
            with atomic_path(dest) as tmp:
                done = 0
                with open(tmp, "wb") as out:
                    while True:
                        block = response.read(CHUNK)
                        if not block:
                            break
                        out.write(block)
                        done += len(block)
                        if progress:
                            size = f" of {total_bytes / 2**20:.0f}" if total_bytes else ""
                            report(progress, done / total_bytes if total_bytes else 0.0,
                                   f"Downloading {dest.name}: {done / 2**20:.0f}{size} MB")
                if expected_hash and not verify(tmp, expected_hash):
                    raise ModelUnavailableError.say(
                        N_("The download of {file} is corrupt (checksum mismatch); try again."), file=dest.name)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        if isinstance(exc, ModelUnavailableError):
            raise
        reason = getattr(exc, "reason", exc)
        raise ModelUnavailableError.say(N_("Could not download {file} from {url} ({reason})."), file=dest.name,
                                        url=url, reason=reason) from None
    return dest
