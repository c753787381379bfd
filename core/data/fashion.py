"""Fashion-MNIST (Zalando, MIT licence): read from Debian's ``dataset-fashion-mnist`` or download.

Sources, in order: ``GLASSWING_FASHION_MNIST_DIR``, the Debian package's folder
(``/usr/share/datasets/fashion-mnist``), a previous download in ``data_dir()/downloads/fashion-mnist``,
then (if allowed) a download. Every file is checked against the SHA-256 of its *uncompressed* idx
content, which is the same whichever mirror or gzip settings produced the ``.gz``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core import atomic, config
from core.errors import DataError

CLASS_NAMES = ("T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
# file -> (SHA-256 of the uncompressed idx bytes, uncompressed size)
FILES = {
    "train-images-idx3-ubyte.gz": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte.gz": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte.gz": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte.gz": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}
MIRRORS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
DEBIAN_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
Progress = Callable[[int, int, str], None]  # (bytes done, bytes total or 0, message)


def download_dir() -> Path:
    return config.data_dir() / "downloads" / "fashion-mnist"


def _candidate_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("GLASSWING_FASHION_MNIST_DIR"):
        dirs.append(Path(os.environ["GLASSWING_FASHION_MNIST_DIR"]).expanduser())
    return dirs + list(DEBIAN_DIRS) + [download_dir()]


def find_local() -> Path | None:
    """The first folder that holds all four idx files, or None."""
    for folder in _candidate_dirs():
        if all((folder / name).is_file() for name in FILES):
            return folder
    return None


def read_idx(path: Path, expected_sha256: str | None = None) -> np.ndarray:
    """Read a gzipped idx file (the MNIST format) into a uint8 array, checking its content hash."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a readable gzip file ({exc}).") from None
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise DataError(f"{path} does not match the published Fashion-MNIST data (checksum mismatch).")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an idx file of unsigned bytes.")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(dims)):
        raise DataError(f"{path} is truncated (its header promises {dims}).")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _fetch(url: str, target: Path, progress: Progress | None, timeout: float) -> None:
    """Stream ``url`` into ``target`` atomically, reporting progress."""
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic.atomic_path(target) as tmp:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        with open(tmp, "wb") as out:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, f"Downloading {target.name}")


def download(progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """Download the four files into :func:`download_dir`, verifying each; returns the folder.

    Raises :class:`DataError` with one clear sentence when offline or when no mirror serves a file
    with the right content.
    """
    folder = download_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name, (sha, _) in FILES.items():
        target = folder / name
        if target.is_file():
            try:
                read_idx(target, sha)
                continue
            except DataError:
                target.unlink()
        problems = []
        for mirror in MIRRORS:
            try:
                _fetch(mirror + name, target, progress, timeout)
                read_idx(target, sha)
                break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problems.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
            except DataError as exc:
                target.unlink(missing_ok=True)
                problems.append(f"{mirror}: {exc}")
        else:
            raise DataError(
                f"Fashion-MNIST is not installed and could not be downloaded ({'; '.join(problems)}). "
                "Install Debian's dataset-fashion-mnist package (apt install dataset-fashion-mnist) or go online."
            )
    return folder


def load(allow_download: bool = True, progress: Progress | None = None) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_test, y_test)`` as uint8 arrays (images 28x28)."""
    folder = find_local()
    if folder is None:
        if not allow_download:
            raise DataError("Fashion-MNIST is not installed (apt install dataset-fashion-mnist) and "
                            "downloading was not allowed.")
        folder = download(progress)
    arrays = [read_idx(folder / name, sha) for name, (sha, _) in FILES.items()]
    x_train, y_train, x_test, y_test = arrays
    return x_train, y_train, x_test, y_test

