"""The confusion matrix figure of every page (Evaluate, its baseline, the Train page's runs, the lesson).

Built on core's figure (:func:`core.evaluate.export.confusion_figure`, the one the HTML export writes):
colour is the share of the true class, text the counts, hover both; rows are true classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from core.evaluate import export
from dashboard.charts import class_axis
from dashboard.i18n import _


@dataclass
class _Matrix:  # what core's figure reads (export.HasConfusion)
    class_names: list[str]
    confusion: np.ndarray


def confusion_figure(confusion: np.ndarray | Sequence[Sequence[int]], class_names: Sequence[str],
                     normalised: bool = True, clickable: bool = False, title: str = "") -> go.Figure:
    """Rows: the true class; columns: the predicted one (every class labelled, in order).

    ``normalised``: colour by the share of the true class (text: count and share); else by counts.
    ``clickable`` lays an invisible marker on every cell: plotly heatmaps emit no selection events in
    Streamlit, markers do, so a click on a cell selects its marker (its x and y are the class labels).
    """
    cm = np.asarray(confusion, dtype=np.int64)
    names = [str(n) for n in class_names] or [str(i) for i in range(len(cm))]
    fig = export.confusion_figure(_Matrix(names, cm), title, _)
    shares = export.row_shares(cm)
    heat = fig.data[0]
    if normalised:
        heat.update(text=[[f"{c} ({s:.0%})" for c, s in zip(row_c, row_s, strict=True)]
                          for row_c, row_s in zip(cm.tolist(), shares.tolist(), strict=True)])
    else:
        heat.update(z=cm, zmin=0, zmax=max(int(cm.max()), 1), colorbar={"title": {"text": _("images")}})
    labels = list(heat.x)
    if clickable:
        k = len(labels)
        fig.add_scatter(
            x=[labels[c] for r in range(k) for c in range(k)], y=[labels[r] for r in range(k) for c in range(k)],
            customdata=[[int(cm[r, c]), float(shares[r, c])] for r in range(k) for c in range(k)],
            mode="markers", showlegend=False, name="cells",
            marker={"symbol": "square", "opacity": 0.0, "size": float(np.clip(520 / k, 8, 60))},
            hovertemplate=heat.hovertemplate.replace("%{customdata}", "%{customdata[0]}")
                                            .replace("%{z:.1%}", "%{customdata[1]:.1%}"),
        )
        heat.update(hoverinfo="skip")
        fig.update_layout(clickmode="event+select")
    fig.update_layout(margin={"l": 10, "r": 10, "t": 60, "b": 10}, xaxis=class_axis(labels),
                      yaxis=class_axis(labels))
    return fig
