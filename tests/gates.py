"""Holding a page's background work at one of its progress reports, to see the page while it runs.

``hold_at`` wraps a function a page's task calls with ``progress=``: the report whose text starts with
the given words waits until the test sets the returned event. ``bars_until`` reruns an AppTest until a
progress bar reads as expected; ``run_until_done`` reruns it until no bar is left.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

HOLD_SECONDS = 60


def hold_at(monkeypatch, target: str, starts: str) -> threading.Event:
    """Patch ``target`` ("module.function") so that its report starting with ``starts`` waits for the event."""
    module_name, attr = target.rsplit(".", 1)
    real = getattr(importlib.import_module(module_name), attr)
    gate = threading.Event()

    def gated(*args, progress=None, **kwargs):
        def hold(fraction: float, text: str) -> None:
            if progress is not None:
                progress(fraction, text)
            if text.startswith(starts):
                gate.wait(HOLD_SECONDS)
        return real(*args, progress=hold, **kwargs)

    monkeypatch.setattr(target, gated)
    return gate


def bars_until(at, seen: Callable[[str], bool], tries: int = 240) -> list[str]:
    """Rerun ``at`` until one of its progress bars' texts satisfies ``seen``; the bars' texts then."""
    bars: list[str] = []
    for _ in range(tries):
        bars = [b.proto.text for b in at.get("progress")]
        if any(seen(b) for b in bars):
            return bars
        threading.Event().wait(0.25)
        at.run()
    return bars


def run_until_done(at, tries: int = 480) -> None:
    """Rerun ``at`` until no progress bar is left (the task finished and the page drew its result)."""
    for _ in range(tries):
        at.run()
        if not at.get("progress"):
            return
        threading.Event().wait(0.25)
