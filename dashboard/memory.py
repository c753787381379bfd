"""Give the memory of a burst of sessions back to the system (glibc's allocator only).

Three mechanisms, each measured in docs/benchmarks.md ("Many sessions"):
- a fixed mmap threshold (``mallopt(M_MMAP_THRESHOLD)``, 1 MB): glibc otherwise raises it as large
  blocks are freed, and then keeps big temporary arrays (decoded uploads, overlays) in per-thread heaps
  after ``free``. ``MALLOC_MMAP_THRESHOLD_`` in the environment means the operator chose.
- an idle collection (:func:`start_idle_cleanup`): a closed session is a reference cycle (Streamlit's
  script runner and session state, holding its photos) that only the cyclic collector frees. Streamlit's
  collection after every run is off (``runner.postScriptGC``: ~0.3 s of CPU per run with TensorFlow in
  the heap), so this collects once a minute while no page runs, for 15 minutes after the last one (longer
  if Streamlit keeps closed sessions longer).
- ``malloc_trim`` after each collection, for the free pages smaller blocks leave inside glibc's heaps.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import os
import threading
import time

from core.config import env_number

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 1 << 20


@functools.cache  # app.py calls it on every script run
def return_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Serve blocks over ``threshold`` bytes from their own mappings; True if glibc took the setting."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    mallopt = _glibc("mallopt")
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold))) if mallopt is not None else False


@functools.cache
def _glibc(name: str):
    """glibc's function ``name``, or None (macOS, musl, Windows: their allocators decide for themselves)."""
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name, None)
    except OSError:
        return None


def trim() -> bool:
    """Give free pages inside the allocator's heaps back to the system now; True if any were."""
    malloc_trim = _glibc("malloc_trim")
    return bool(malloc_trim(0)) if malloc_trim is not None else False


def release_idle_memory() -> bool:
    """Free unreachable cycles (closed sessions), then trim the heaps; True if trimming released pages."""
    gc.collect()
    return trim()


def cleanup_if_idle(window: float = 900.0) -> bool:
    """One check of the cleaner: release memory if no page runs now but one ran in the last ``window``
    seconds. Closed sessions become garbage after the last page they ran, when Streamlit drops them
    (``server.disconnectedSessionTTL``, 2 minutes by default), hence a window rather than "since the
    last page"; the cleaner uses 15 minutes or that TTL and two ticks, whichever is longer. True if it
    collected."""
    from core import priority

    if not 0.0 < priority.idle_seconds() <= window:
        return False
    release_idle_memory()
    return True


def _session_ttl() -> float:
    """Seconds Streamlit keeps a closed session before dropping it (``server.disconnectedSessionTTL``)."""
    try:
        from streamlit import config

        return float(config.get_option("server.disconnectedSessionTTL"))
    except Exception:  # noqa: BLE001 - outside a Streamlit server: its default
        return 120.0


def cleanup_interval() -> float:
    """``GLASSWING_IDLE_CLEANUP_SECONDS`` (default 60, 0.1..86400): how often the idle cleaner looks."""
    return env_number("GLASSWING_IDLE_CLEANUP_SECONDS", 60.0, 0.1, 86_400.0, what="a number of seconds")


@functools.cache  # one cleaner per process, however often app.py asks
def start_idle_cleanup() -> threading.Thread:
    """A daemon thread running :func:`cleanup_if_idle` every :func:`cleanup_interval` seconds. It looks
    only while no page runs (a page that starts during the ~0.2 s collection waits for it), and stops
    looking 15 minutes after the last page, so a server nobody uses stays quiet."""
    every = cleanup_interval()

    def loop() -> None:
        while True:
            time.sleep(every)
            try:
                # Read at each tick: Streamlit parses its command line after the launcher starts this thread.
                cleanup_if_idle(window=max(900.0, _session_ttl() + 2 * every))
            except Exception:  # noqa: BLE001 - never let the cleaner die silently; try again next tick
                logging.getLogger(__name__).exception("idle memory cleanup failed")

    thread = threading.Thread(target=loop, name="glasswing-idle-cleanup", daemon=True)
    thread.start()
    return thread
