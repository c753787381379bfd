"""Evaluate page, part 2: the numbers and charts of one evaluation (every figure comes from ``core``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.labels import display_label, safe_filename
from core.errors import GlasswingError
from core.evaluate import EvaluationResult, baseline_split, export
from core.evaluate.cache import items_fingerprint
from core.evaluate.evaluator import TOP_K
from core.evaluate.source import ALL
from dashboard.components.confusion import confusion_figure
from dashboard.components.task_status import run_in_background
from dashboard.views.evaluate_source import Selection

CHART_KEY = "evaluate_confusion"  # the heatmap's selection state
COUNTS, SHARES = "Counts", "Row-normalised (share of each true class)"


def summary(result: EvaluationResult) -> None:
    """Headline scores in one row of metrics, with a plain-language caption."""
    num_classes = len(result.class_names)
    macro = result.per_class.averages()["macro"]
    tiles = [("Accuracy", f"{result.accuracy:.1%}", "Share of images whose top prediction is the true class.")]
    tiles += [(f"Top-{k}", f"{result.top_k_accuracy(k):.1%}", f"Share whose true class is among the {k} most "
               "probable.") for k in TOP_K if 1 < k < num_classes]
    tiles += [("Macro F1", f"{macro['f1']:.3f}", "Mean of the per-class F1 scores: every class counts the same, "
               "however many images it has."),
              ("ECE", f"{result.reliability.ece:.3f}", "Expected calibration error: the average gap between "
               "how confident the model is and how often it is right (0 is perfect)."),
              ("Images", f"{result.num_items}", f"Scored in {result.seconds:.1f} s.")]
    for col, (label, value, help_text) in zip(st.columns(len(tiles)), tiles, strict=True):
        col.metric(label, value, help=help_text)
    if result.outside_fraction:
        st.info(f"{result.outside_fraction:.1%} of the images had a top ImageNet class outside this dataset's "
                "classes; the scores compare only the dataset's classes.")
    if result.skipped:
        st.warning(f"{len(result.skipped)} images could not be read and were left out, e.g. "
                   f"{result.skipped[0]['reason']}")


def confusion_chart(result: EvaluationResult) -> list[tuple[int, int]]:
    """The interactive confusion matrix; returns the clicked cells as ``(true, predicted)`` indices."""
    mode = st.radio("Colour by", [COUNTS, SHARES], index=1, horizontal=True, key="evaluate_norm",
                    help="Row-normalised colours make small classes as visible as large ones.")
    st.caption("Rows are the true classes, columns what the model predicted: the diagonal is right, everything "
               "else is a mistake. Click a cell (or choose it below) to see its images.")
    fig = confusion_figure(result.confusion, result.class_names, mode == SHARES, clickable=True)
    event = st.plotly_chart(fig, key=CHART_KEY, on_select="rerun", selection_mode="points", width="stretch")
    try:
        points = list(event.selection.points)
    except (AttributeError, KeyError):
        return []
    return [cell for cell in (_cell_of(point, list(fig.data[0].x)) for point in points) if cell is not None]


def _cell_of(point: dict, labels: list[str]) -> tuple[int, int] | None:
    """``(row, column)`` of a heatmap point: plotly gives its index pair, or at least its axis labels."""
    index = point.get("point_index", point.get("point_number"))
    if isinstance(index, (list, tuple)) and len(index) == 2:
        return int(index[0]), int(index[1])
    if point.get("y") in labels and point.get("x") in labels:
        return labels.index(point["y"]), labels.index(point["x"])
    return None


def per_class_table(result: EvaluationResult) -> None:
    pc = result.per_class
    df = pd.DataFrame({"class": [display_label(n) for n in result.class_names], "precision": pc.precision,
                       "recall": pc.recall, "F1": pc.f1, "support": pc.support.astype(int)})
    st.markdown("**Per-class scores**")
    st.caption("Precision: of the images predicted as this class, the share that were. Recall: of this "
               "class's images, the share found. F1 balances the two. Support: images of the class.")
    st.dataframe(df, hide_index=True, width="stretch", key="evaluate_per_class",
                 column_config={name: st.column_config.NumberColumn(format="%.3f")
                                for name in ("precision", "recall", "F1")})


def reliability_chart(result: EvaluationResult) -> None:
    st.markdown("**Calibration**")
    st.caption("Bars: how often the model was right at each confidence. On the dashed line, '80% sure' "
               "means right 80% of the time; bars below it mean overconfidence.")
    fig = export.reliability_figure(result)
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    st.plotly_chart(fig, width="stretch", key="evaluate_reliability")


def baseline_section(result: EvaluationResult, sel: Selection) -> None:
    """HOG + linear SVM on the same split, beside the CNN's accuracy (trained in the background)."""
    st.subheader("Against a classical baseline")
    st.caption("Histogram-of-oriented-gradients features and a linear SVM, trained on the train split: the "
               "pre-deep-learning way. A CNN that barely beats it has learnt little more than edges and layout.")
    if sel.split == ALL:  # nothing of this dataset is left to learn from
        st.info("The baseline learns from the dataset's train split, and every image of it is scored here: "
                "choose its val or test split in the sidebar to compare with HOG + linear SVM.")
        return
    try:
        split = sel.open()
    except GlasswingError as exc:
        st.error(str(exc))
        return
    # Computed for every evaluation, in the background (it reads every training image), once per split.
    key = ("baseline", split.dataset_id, split.split, items_fingerprint(split.items, split.class_names),
           items_fingerprint(split.train_items, split.class_names))
    base = run_in_background(key, f"HOG + linear SVM on {split.dataset_id} ({split.split})",
                             lambda progress: baseline_split(split, progress=progress))
    if base is None:
        return
    cols = st.columns(3)
    cols[0].metric("CNN accuracy", f"{result.accuracy:.1%}")
    cols[1].metric("Baseline accuracy", f"{base.accuracy:.1%}",
                   delta=f"{(base.accuracy - result.accuracy) * 100:+.1f} points vs the CNN", delta_color="inverse")
    cols[2].metric("Baseline trained on", f"{base.train_size} images", help=base.method)
    if base.accuracy > result.accuracy:
        st.warning(f"HOG + linear SVM ({base.accuracy:.1%}) beats this CNN ({result.accuracy:.1%}) on the same "
                   f"{base.test_size} images: the CNN has not learnt more than edges and layout. Train longer, "
                   "fine-tune more layers, or add images.")
    st.plotly_chart(confusion_figure(base.confusion, base.class_names), width="stretch", key="evaluate_baseline_matrix")


def exports(result: EvaluationResult) -> None:
    """Downloads: predictions CSV, the matrix as PNG, and as interactive HTML (built only when asked)."""
    st.subheader("Export")
    title = f"{result.model} on {result.dataset_id} ({result.split})"
    stem = safe_filename(f"{result.model}-{result.dataset_id}-{result.split}")
    cols = st.columns(3)
    with cols[0]:
        st.download_button("Predictions (CSV)", export.predictions_csv(result), file_name=f"{stem}-predictions.csv",
                           mime="text/csv", key="evaluate_dl_csv", on_click="ignore",
                           help="One row per image: path, true and predicted class, confidence.")
    with cols[1]:
        st.download_button("Confusion matrix (PNG)", export.confusion_png(result, title),
                           file_name=f"{stem}-confusion.png", mime="image/png", key="evaluate_dl_png",
                           on_click="ignore")
    with cols[2]:
        st.download_button("Confusion matrix (HTML)", lambda: export.confusion_html(result, title),
                           file_name=f"{stem}-confusion.html", mime="text/html", key="evaluate_dl_html",
                           on_click="ignore", help="Interactive, opens offline (plotly.js is embedded).")
