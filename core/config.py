"""Where Glasswing keeps its files, and the limits that protect a shared server.

Every location can be moved with an environment variable so that a container, a classroom server
or a test can point Glasswing somewhere else without touching code.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def pretrained_dir() -> Path:
    """Weights cache and converted models (``GLASSWING_PRETRAINED``, default ``pretrained/``)."""
    return _env_path("GLASSWING_PRETRAINED", REPO_ROOT / "pretrained")


def data_dir() -> Path:
    """Datasets (``GLASSWING_DATA``, default ``data/``)."""
    return _env_path("GLASSWING_DATA", REPO_ROOT / "data")


def runs_dir() -> Path:
    """Training runs (``GLASSWING_RUNS``, default ``runs/``)."""
    return _env_path("GLASSWING_RUNS", REPO_ROOT / "runs")


def _env_int(var: str, default: int) -> int:
    value = os.environ.get(var)
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"Environment variable {var} must be a whole number, got {value!r}.") from exc


def max_image_pixels() -> int:
    """Largest image (width x height) accepted; guards against decompression bombs."""
    return _env_int("GLASSWING_MAX_IMAGE_PIXELS", 40_000_000)


def max_upload_bytes() -> int:
    """Largest single upload (image or archive) accepted, in bytes."""
    return _env_int("GLASSWING_MAX_UPLOAD_MB", 200) * 1024 * 1024
