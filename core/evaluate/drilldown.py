"""From a number in the confusion matrix to the images behind it.

Both lists are sorted most-confident-first (ties broken by path, so the order is stable): a confident
mistake is the most telling thing to look at, whether it is a labelling error or a real weakness.
"""

from __future__ import annotations

from core.errors import ParameterError
from core.evaluate.evaluator import EvaluationResult


def _class(result: EvaluationResult, value: int | str, parameter: str) -> int:
    """A class given as an index or as one of the dataset's names."""
    names = result.class_names
    if isinstance(value, str) and value in names:
        return names.index(value)
    try:
        index = int(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{parameter}: {value!r} is not one of the dataset's classes.") from None
    if not 0 <= index < len(names):
        raise ParameterError(f"{parameter} must be a class index from 0 to {len(names) - 1}, got {index}.")
    return index


def _most_confident_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda p: (-p["confidence"], p["path"]))


def cell_items(
    result: EvaluationResult, true: int | str, pred: int | str, limit: int | None = None,
) -> list[dict]:
    """Predictions of true class ``true`` predicted as ``pred`` (one cell of the matrix)."""
    t, p = _class(result, true, "true"), _class(result, pred, "pred")
    rows = [row for row in result.predictions if row["true"] == t and row["pred"] == p]
    return _most_confident_first(rows)[:limit]


def top_mistakes(result: EvaluationResult, n: int = 20, true: int | str | None = None) -> list[dict]:
    """The ``n`` most confident wrong predictions, across all classes or for one true class."""
    if n < 1:
        raise ParameterError(f"n must be at least 1, got {n}.")
    t = None if true is None else _class(result, true, "true")
    rows = [row for row in result.predictions if row["pred"] != row["true"] and (t is None or row["true"] == t)]
    return _most_confident_first(rows)[:n]
