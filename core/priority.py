"""Foreground first: in a server process, what a person is waiting for runs before background work.

On a classroom server the dashboard scores faithfulness badges on a background thread and trains
students' models on job threads, in the process that also computes everyone's heatmaps. On two cores
that background work would slow down the heatmaps twenty students are waiting for. So the dashboard
runs every page (its predictions and heatmaps included) inside :func:`foreground`, and background work calls
:func:`wait_for_quiet` between its batches: it steps aside while anyone waits, but never for longer
than its ``max_wait``, so it always progresses. With nothing in the foreground (the CLI, a quiet
server) waiting costs nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_in_flight = 0
_last_active = float("-inf")  # time.monotonic() when foreground work last began or ended
_quiet = threading.Condition()


@contextmanager
def foreground() -> Iterator[None]:
    """Mark work that a person is waiting for (a page's script run, a prediction, a heatmap); nests."""
    global _in_flight, _last_active
    with _quiet:
        _in_flight += 1
        _last_active = time.monotonic()
    try:
        yield
    finally:
        with _quiet:
            _in_flight -= 1
            _last_active = time.monotonic()
            if _in_flight == 0:
                _quiet.notify_all()


def wait_for_quiet(max_wait: float = 2.0) -> bool:
    """Wait until no foreground work is in flight, but at most ``max_wait`` seconds (so that background
    work still progresses under constant load). True when it is quiet."""
    with _quiet:
        return _quiet.wait_for(lambda: _in_flight == 0, timeout=max_wait)


def in_flight() -> int:
    return _in_flight


def idle_seconds() -> float:
    """Seconds since foreground work last ran: 0.0 while some runs, infinite if none ever did."""
    with _quiet:
        return 0.0 if _in_flight else time.monotonic() - _last_active
