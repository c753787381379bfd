"""Where training jobs run: one interface, two backends.

- ``local`` (the default, nothing to install or start): :class:`core.jobs.local.JobQueue`, this process's
  queue, each job in a child process of the server.
- ``redis://HOST:PORT/DB`` (``GLASSWING_QUEUE``): :class:`core.jobs.redis_queue.RedisQueue`, jobs on an RQ
  queue in Redis that ``python -m core worker`` processes on any machine take (one at a time each, or
  ``--jobs N``); progress events travel through a Redis stream, so every replica shows every job's curves.

Both hand out jobs with the same methods (``snapshot``, ``events``, ``curves``, ``stop``, ``wait``, ``done``,
``position``) and queues with the same ones (``submit``, ``get``, ``jobs``, ``started``, ``counts``), which
is all a page or the CLI uses. RQ rather than Celery: Redis is the only server either needs here, RQ's jobs
are plain function calls with queued/started/failed registries and positions, and its worker forks a fresh
process per job, so a training's memory goes back to the system when it ends (as the local backend's child
process does). Celery brings a broker abstraction, a result backend and a pool of long-lived processes that
this one-job-at-a-time workload does not use.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from core.errors import ParameterError

if TYPE_CHECKING:
    from core.jobs.local import JobQueue

LOCAL = "local"
SCHEMES = ("redis", "rediss", "unix")


def check_queue_url(url: str, what: str = "the queue") -> str:
    """``url`` if it is a Redis URL (redis://, rediss:// or unix://), else one sentence."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not (parts.path if parts.scheme == "unix" else parts.hostname):
        raise ParameterError(f"{what} must be a Redis URL such as redis://localhost:6379/0 (or 'local'), got "
                             f"{safe_url(url)!r}.")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ParameterError(f"{what}: the port in {safe_url(url)!r} is not a number.") from None
    return url


def queue_url() -> str | None:
    """``GLASSWING_QUEUE``: None for the local backend (unset, blank or ``local``), else its Redis URL."""
    raw = os.environ.get("GLASSWING_QUEUE", "").strip()
    if not raw or raw.lower() == LOCAL:
        return None
    return check_queue_url(raw, "GLASSWING_QUEUE")


def safe_url(url: str) -> str:
    """``url`` as a message or a page may show it: without its password (``:secret@`` or ``?password=``) and
    without its query string, which may hold one."""
    parts = urlsplit(url.strip())
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    netloc = parts.netloc
    if "@" in netloc:
        user_info, host = netloc.rsplit("@", 1)
        user, _, password = user_info.partition(":")
        netloc = f"{user + ':' if user else ''}***@{host}" if password else f"{user}@{host}"
    return parts._replace(netloc=netloc, query="", fragment="").geturl()


_QUEUE: JobQueue | None = None
_QUEUE_LOCK = threading.Lock()


def job_queue() -> JobQueue:
    """The process-wide queue: the Redis queue named by ``GLASSWING_QUEUE``, else this process's (created on
    first use from ``GLASSWING_MAX_TRAINING_JOBS``). An unreachable Redis raises
    :class:`core.jobs.redis_queue.QueueUnreachableError`: a page says so, it never trains here instead."""
    url = queue_url()
    if url is not None:
        from core.jobs.redis_queue import redis_queue

        return redis_queue(url)  # type: ignore[return-value] - the same methods (see above)
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            from core.jobs.local import JobQueue

            _QUEUE = JobQueue()
        return _QUEUE
