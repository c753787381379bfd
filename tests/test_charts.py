"""Class names that look like numbers ("0".."9") stay category labels on every chart that shows them."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
DIGITS = [str(d) for d in range(10)]

# The top-predictions chart (Explain, Attack, an Evaluate image) for a model whose classes are digits.
TOP_CHART = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from dashboard.components.top_k import top_k_chart
top_k_chart([0.0, 0.2, 0.04, 0.0, 0.06, 0.0, 0.0, 0.6, 0.0, 0.1], [str(d) for d in range(10)], key="top")
"""


def test_explain_top_predictions_keep_digit_labels():
    at = AppTest.from_string(TOP_CHART, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    axis = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["yaxis"]
    assert axis["type"] == "category" and axis["tickvals"] == ["2", "4", "9", "1", "7"]  # best at the top


def test_class_axis_labels_every_class():
    from dashboard.charts import class_axis

    axis = class_axis(DIGITS)
    assert axis["type"] == "category" and axis["tickvals"] == axis["ticktext"] == DIGITS
