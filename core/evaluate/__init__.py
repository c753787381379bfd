"""Evaluation: score a model on a dataset split, compare it with a classical baseline, drill into mistakes.

Typical use::

    split = open_split("data/flowers", "val")
    result = evaluate_split(load_model("runs/flowers-1"), split)
    result.accuracy, result.confusion, cell_items(result, "rose", "tulip")
    compare_split(load_model("runs/flowers-1"), load_model("runs/flowers-2"), split).p_value  # A/B
"""

from core.evaluate.baseline import BaselineResult, run_baseline
from core.evaluate.cache import ResultCache
from core.evaluate.classmap import ClassMap, ClassMappingError, map_classes
from core.evaluate.compare import Comparison, compare_results, explain_changes, mcnemar_exact
from core.evaluate.drilldown import cell_items, top_mistakes
from core.evaluate.evaluator import EvaluationResult, evaluate
from core.evaluate.service import (
    baseline_source,
    baseline_split,
    compare_split,
    comparison_split,
    default_cache,
    evaluate_split,
    held_out,
    run_dataset,
    run_split_settings,
    without_seen,
)
from core.evaluate.source import EvalSplit, open_split

__all__ = [
    "BaselineResult", "ClassMap", "ClassMappingError", "Comparison", "EvalSplit", "EvaluationResult",
    "ResultCache", "baseline_source", "baseline_split", "compare_results", "compare_split",
    "comparison_split", "explain_changes", "mcnemar_exact",
    "cell_items", "default_cache", "evaluate", "evaluate_split", "held_out", "map_classes",
    "open_split",
    "run_baseline", "run_dataset", "run_split_settings", "top_mistakes", "without_seen",
]
