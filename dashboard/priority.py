"""Foreground first: what a person is waiting for runs before background work.

A classroom's badges (faithfulness scores, seconds of forward passes each) are scored on one background
thread. On two cores they would otherwise slow down the heatmaps twenty students are waiting for, so
the page's own model calls run inside :func:`foreground`, and the background scorer calls
:func:`wait_for_quiet` between its batches.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_in_flight = 0
_quiet = threading.Condition()


@contextmanager
def foreground() -> Iterator[None]:
    """Mark model work that a person is waiting for (a prediction, a heatmap)."""
    global _in_flight
    with _quiet:
        _in_flight += 1
    try:
        yield
    finally:
        with _quiet:
            _in_flight -= 1
            if _in_flight == 0:
                _quiet.notify_all()


def wait_for_quiet(max_wait: float = 2.0) -> bool:
    """Wait until no foreground work is in flight, but at most ``max_wait`` seconds (so that background
    work still progresses under constant load). True when it is quiet."""
    with _quiet:
        return _quiet.wait_for(lambda: _in_flight == 0, timeout=max_wait)


def in_flight() -> int:
    return _in_flight
