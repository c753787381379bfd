"""Give the memory of a burst of sessions back to the system (glibc's allocator only).

glibc raises its mmap threshold each time a large block is freed (up to 32 MB), so once a few big
temporary arrays (decoded uploads, overlays, activations) have come and gone, later ones are served
from per-thread heaps, which keep their pages after ``free``. A classroom is bursts of concurrent
script runs on many threads: the server kept ~150 MB after a burst of 19 sessions and more after each
later burst (bench/load_sessions.py). A fixed threshold (``mallopt(M_MMAP_THRESHOLD)``, which also turns
the adjustment off) serves every block over 1 MB from its own mapping, unmapped on ``free``; model calls
measured no slower with it. ``MALLOC_MMAP_THRESHOLD_`` in the environment means the operator chose.
"""

from __future__ import annotations

import ctypes
import functools
import os

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 1 << 20


@functools.cache  # app.py calls it on every script run
def return_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Serve blocks over ``threshold`` bytes from their own mappings; True if glibc took the setting."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl, Windows): their allocators decide for themselves
        return False
    mallopt = getattr(libc, "mallopt", None)
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold))) if mallopt is not None else False
