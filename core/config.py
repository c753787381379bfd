"""Where Glasswing keeps its files, and the limits that protect a shared server.

Every location can be moved with an environment variable so that a container, a classroom server
or a test can point Glasswing somewhere else without touching code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from core.errors import Message, ParameterError
from core.i18n import N_

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


Number = TypeVar("Number", int, float)


def env_number(var: str, default: Number, low: Number, high: Number, what: str | None = None,
               environ: Mapping[str, str] | None = None) -> Number:
    """A number from environment variable ``var`` (``default`` when unset or blank), refused with one
    sentence (:class:`ParameterError` naming ``var`` and the allowed range) unless ``low <= value <= high``.

    The type of ``default`` decides: an ``int`` default wants a whole number, a ``float`` one any finite
    number. ``what`` overrides the description in the sentence ("a number of seconds"). ``environ``
    (default ``os.environ``) is where the variable is looked up.
    """
    raw = (os.environ if environ is None else environ).get(var, "").strip()
    if not raw:
        return default
    kind = type(default)
    try:
        value = kind(raw)  # int("1.5"), int of 5000 digits and float("x") raise ValueError
    except ValueError:
        value = None
    if value is None or not low <= value <= high:  # nan fails every comparison, inf the upper bound
        raise ParameterError(out_of_range(var, raw, low, high, what or ("a whole number" if kind is int else
                                                                         "a number")))
    return value


def out_of_range(where: str, got: object, low: float, high: float, what: str = "a whole number") -> str:
    """The one sentence every bounded setting uses: "<where> must be <what> from <low> to <high>, got <got>"."""
    return f"{where} must be {what} from {_show(low)} to {_show(high)}, got {got!r}."


def _show(number: float) -> str:
    return f"{number:,}" if isinstance(number, int) else f"{number:,g}"


def max_image_pixels() -> int:
    """Largest image (width x height) accepted; guards against decompression bombs."""
    return env_number("GLASSWING_MAX_IMAGE_PIXELS", 40_000_000, 1, 1_000_000_000)


DEFAULT_UPLOAD_MB = 200
UPLOAD_MB_RANGE = (1, 100_000)


def max_upload_bytes() -> int:
    """Largest single upload (image or archive) accepted, in bytes: the classroom's ``max_upload_mb``
    (``GLASSWING_MAX_UPLOAD_MB``, which wins over the classroom file's), else 200 MB. Core's checks and the
    dashboard's upload widgets all read this one number, so a teacher's limit holds everywhere."""
    from core.classroom import server_classroom  # lazy: core.classroom imports this module

    return server_classroom().upload_limit_bytes


def megabytes(size: int) -> str:
    """A size in the MB (2**20 bytes) every upload limit and message uses: "200 MB", "3.4 MB"."""
    if size < 2**20 // 10:
        return f"{size:,} bytes"
    return f"{size / 2**20:,.1f}".removesuffix(".0") + " MB" if size % 2**20 else f"{size // 2**20:,} MB"


def over_limit(size: int, limit: int) -> Message:
    """"X, more than the upload limit of Y" in megabytes, with the bytes when both round alike (a Message:
    ``str()`` is the English, a page translates it)."""
    shown = megabytes(size)
    if shown == megabytes(limit) and not shown.endswith(" bytes"):
        shown += f" ({size:,} bytes)"
    return Message(N_("{size}, more than the upload limit of {limit} ({source})"), size=shown, limit=megabytes(limit),
                   source=UPLOAD_LIMIT_SOURCE)


UPLOAD_LIMIT_SOURCE = "GLASSWING_MAX_UPLOAD_MB, or the classroom file's max_upload_mb"


def model_upload_bytes() -> int:
    """Largest ``.keras`` model a person may upload, in bytes (GLASSWING_MODEL_UPLOAD_MB, 1 to 1024, default 300)."""
    return int(env_number("GLASSWING_MODEL_UPLOAD_MB", 300, 1, 1024)) * 2**20


def check_settings() -> None:
    """Read every numeric setting of core once, so that a nonsense one is refused (ParameterError) when a
    server or page starts instead of in the middle of an upload or a training job."""
    from core.i18n import server_language
    from core.jobs import queue_url
    from core.jobs.local import max_training_jobs
    from core.jobs.redis_queue import heartbeat_seconds, job_timeout_seconds
    from core.train.worker import train_nice

    def upload_variable() -> int:  # the variable alone: a classroom file's mistakes are the pages' to show
        return env_number("GLASSWING_MAX_UPLOAD_MB", DEFAULT_UPLOAD_MB, *UPLOAD_MB_RANGE)

    for read in (max_image_pixels, upload_variable, model_upload_bytes, max_training_jobs, train_nice,
                 server_language, queue_url, heartbeat_seconds, job_timeout_seconds):
        read()
