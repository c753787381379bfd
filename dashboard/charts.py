"""Plotly axes for class names: always categories, every one labelled.

Plotly guesses an axis type from its values, so class names such as "0" to "9" land on a numeric axis:
bars lose their labels and a matrix labels every other class. Every chart that puts class names on an
axis passes them through :func:`class_axis`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def class_axis(labels: Sequence[str], **extra: Any) -> dict[str, Any]:
    """Layout for an axis of class names: a category axis, in this order, with a tick on every label."""
    labels = [str(label) for label in labels]
    return {"type": "category", "categoryorder": "array", "categoryarray": labels, "tickmode": "array",
            "tickvals": labels, "ticktext": labels, "automargin": True, **extra}
