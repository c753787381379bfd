"""One progress convention for long core work: ``progress(fraction, text)``.

``fraction`` runs from 0 to 1, ``text`` says what is being done ("Stage 2 of 5: randomising ...").
Pages render it with ``st.progress``; the CLI may print it; ``None`` means nobody is watching.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def report(progress: Progress | None, fraction: float, text: str) -> None:
    """Call ``progress`` (if any) with ``fraction`` clamped to [0, 1]."""
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), text)
