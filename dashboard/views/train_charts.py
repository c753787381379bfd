"""Charts of the Train page: loss and accuracy curves (the confusion matrix is dashboard.components.confusion).

The curves read the job's events (``job.curves()``) while it trains, or a run's ``history.json``
afterwards (:func:`curves_from_history` turns it into the same shape), so a live job and a saved run
draw the same picture. Nothing here calls Streamlit; titles and series names are shown in the session's
language (series are kept in English in the tables, as keys).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.i18n import N_, _

METRICS = {"loss": N_("Loss (lower is better)"), "accuracy": N_("Accuracy (higher is better)")}
STAGE_ORDER = ("stage1", "stage2")
SERIES_STYLE = {  # series -> (colour, dash, mode)
    N_("train (per batch)"): ("#9ecae1", "solid", "lines"),
    N_("train (per epoch)"): ("#1f77b4", "solid", "lines+markers"),
    N_("validation (per epoch)"): ("#ff7f0e", "dash", "lines+markers"),
}


def _offsets(epoch_events: list[dict], batch_events: list[dict]) -> dict[str, float]:
    """Stage 2 continues the x axis where stage 1 ended (epochs counted over the whole run)."""
    offsets, start = {}, 0.0
    for stage in STAGE_ORDER:
        offsets[stage] = start
        epochs = [e["epoch"] for e in epoch_events + batch_events if e.get("phase") == stage]
        start += max(epochs, default=0)
    return offsets


def curve_points(curves: dict[str, list[dict]]) -> pd.DataFrame:
    """Long table ``epoch`` (x, fractional within an epoch for batches), ``value``, ``metric``, ``series``."""
    batches, epochs = curves.get("batch", []), curves.get("epoch", [])
    offsets = _offsets(epochs, batches)
    rows: list[dict[str, Any]] = []
    for e in batches:
        if e.get("phase") not in offsets or e.get("loss") is None:
            continue
        x = offsets[e["phase"]] + e["epoch"] - 1 + e["step"] / max(e.get("steps") or e["step"], 1)
        for metric in METRICS:
            rows.append({"epoch": x, "value": e[metric], "metric": metric, "series": "train (per batch)"})
    for e in epochs:
        if e.get("phase") not in offsets:
            continue
        x = offsets[e["phase"]] + e["epoch"]
        for metric in METRICS:
            rows.append({"epoch": x, "value": e[metric], "metric": metric, "series": "train (per epoch)"})
            if e.get(f"val_{metric}") is not None:
                rows.append({"epoch": x, "value": e[f"val_{metric}"], "metric": metric,
                             "series": "validation (per epoch)"})
    return pd.DataFrame(rows, columns=["epoch", "value", "metric", "series"])


def curve_figure(points: pd.DataFrame, metric: str, stage2_start: float | None = None) -> go.Figure:
    """One metric over epochs: the running mean per batch, and train vs validation per epoch."""
    fig = go.Figure()
    subset = points[points["metric"] == metric]
    for series, (colour, dash, mode) in SERIES_STYLE.items():
        part = subset[subset["series"] == series]
        if part.empty:
            continue
        width = 1 if "batch" in series else 2
        fig.add_trace(go.Scatter(x=part["epoch"], y=part["value"], name=_(series), mode=mode,
                                 line={"color": colour, "dash": dash, "width": width}))
    if stage2_start:
        fig.add_vline(x=stage2_start, line_dash="dot", line_color="grey", annotation_text=_("fine-tuning"))
    fig.update_layout(title=_(METRICS[metric]), xaxis_title=_("epoch"), height=300,
                      margin=dict(l=0, r=0, t=40, b=0), legend={"orientation": "h", "y": -0.25})
    if metric == "accuracy":
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    else:  # a loss without a scale means nothing to a newcomer
        fig.update_yaxes(title_text=_("cross-entropy"))
    return fig


def stage2_start(curves: dict[str, list[dict]]) -> float | None:
    offsets = _offsets(curves.get("epoch", []), curves.get("batch", []))
    has_stage2 = any(e.get("phase") == "stage2" for e in curves.get("epoch", []) + curves.get("batch", []))
    return offsets["stage2"] if has_stage2 else None


def curves_from_history(history: dict[str, Any] | None) -> dict[str, list[dict]]:
    """A run's ``history.json`` in the shape of ``job.curves()``."""
    history = history or {}
    epochs: list[dict] = []
    for stage in STAGE_ORDER:
        h = history.get(stage) or {}
        for i, loss in enumerate(h.get("loss") or []):
            epochs.append({"phase": stage, "epoch": i + 1, "loss": loss, "accuracy": _at(h, "accuracy", i),
                           "val_loss": _at(h, "val_loss", i), "val_accuracy": _at(h, "val_accuracy", i)})
    batches: list[dict] = []
    table = history.get("batches") or {}
    columns = table.get("columns") or ["epoch", "step", "batch_loss", "loss", "accuracy"]
    for stage in STAGE_ORDER:
        rows = [dict(zip(columns, row, strict=False)) for row in table.get(stage) or []]
        steps = max((r["step"] for r in rows), default=1)
        batches += [{**r, "phase": stage, "steps": steps} for r in rows]
    return {"batch": batches, "epoch": epochs}


def _at(h: dict, key: str, i: int) -> Any:
    values = h.get(key) or []
    return values[i] if i < len(values) else None


def per_class_table(metrics: dict[str, Any]) -> pd.DataFrame:
    per_class = metrics.get("per_class") or {}
    return pd.DataFrame([{"class": name, "images": v.get("count"), "accuracy": v.get("accuracy")}
                         for name, v in per_class.items()])
