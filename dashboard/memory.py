"""Give the memory of a burst of sessions back to the system (glibc's allocator only).

glibc raises its mmap threshold each time a large block is freed (up to 32 MB), so once a few big
temporary arrays (decoded uploads, overlays, activations) have come and gone, later ones are served
from per-thread heaps, which keep their pages after ``free``. A classroom is bursts of concurrent
script runs on many threads: the server kept ~150 MB after a burst of 19 sessions and more after each
later burst (bench/load_sessions.py). A fixed threshold (``mallopt(M_MMAP_THRESHOLD)``, which also turns
the adjustment off) serves every block over 1 MB from its own mapping, unmapped on ``free``; model calls
measured no slower with it. ``MALLOC_MMAP_THRESHOLD_`` in the environment means the operator chose.

Smaller blocks freed by many threads leave free pages inside glibc's heaps; :func:`start_trimming`
gives them back (``malloc_trim``) once a minute while no page is running (77 MB of 640 MB on a server
after 80 sessions).
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import time

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


@functools.cache  # one trimmer per process, however often app.py asks
def start_trimming(every: float = 60.0) -> threading.Thread | None:
    """A daemon thread that trims every ``every`` seconds, skipping while any page runs (core.priority)."""
    if _glibc("malloc_trim") is None:
        return None
    from core import priority

    def loop() -> None:
        while True:
            time.sleep(every)
            if priority.in_flight() == 0:  # it holds the allocator's locks for a few milliseconds
                trim()

    thread = threading.Thread(target=loop, name="glasswing-malloc-trim", daemon=True)
    thread.start()
    return thread
