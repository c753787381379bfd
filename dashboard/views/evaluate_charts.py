"""Evaluate page, part 2: the numbers and charts of one evaluation (every figure comes from ``core``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.labels import display_label, safe_filename
from core.errors import GlasswingError, Message
from core.evaluate import EvaluationResult, baseline_source, baseline_split, export
from core.evaluate.cache import items_fingerprint, model_identity
from core.evaluate.evaluator import TOP_K
from core.evaluate.source import EvalSplit
from core.zoo import LoadedModel
from dashboard.components.confusion import confusion_figure
from dashboard.components.core_words import relay, reworded, rules, split_name, split_said
from dashboard.components.split_picker import Selection
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, catalogue, error_text, language

CHART_KEY = "evaluate_confusion"  # the heatmap's selection state
COUNTS, SHARES = N_("Counts"), N_("Row-normalised (share of each true class)")
# The per-class table's columns: the keys stay English (tests and downloads read them), the headers translate.
PER_CLASS_COLUMNS = {"class": N_("class"), "precision": N_("precision"), "recall": N_("recall"), "F1": "F1",
                     "support": N_("support")}


def summary(result: EvaluationResult) -> None:
    """Headline scores in one row of metrics, with a plain-language caption."""
    num_classes = len(result.class_names)
    macro = result.per_class.averages()["macro"]
    tiles = [(_("Accuracy"), f"{result.accuracy:.1%}", _("Share of images whose top prediction is the true class."))]
    tiles += [(_("Top-{k}").format(k=k), f"{result.top_k_accuracy(k):.1%}",
               _("Share whose true class is among the {k} most probable.").format(k=k))
              for k in TOP_K if 1 < k < num_classes]
    tiles += [(_("Macro F1"), f"{macro['f1']:.3f}", _("Mean of the per-class F1 scores: every class counts the "
                                                       "same, however many images it has.")),
              ("ECE", f"{result.reliability.ece:.3f}", _("Expected calibration error: the average gap between "
                                                         "how confident the model is and how often it is right "
                                                         "(0 is perfect).")),
              (_("Images"), f"{result.num_items}",
               _("Scored in {seconds} s when first asked; asking again reads the kept result.").format(
                   seconds=f"{result.seconds:.1f}"))]
    for col, (label, value, help_text) in zip(st.columns(len(tiles)), tiles, strict=True):
        col.metric(label, value, help=help_text)
    if result.outside_fraction:
        st.info(_("{share} of the images had a top ImageNet class outside this dataset's classes; the scores "
                  "compare only the dataset's classes.").format(share=f"{result.outside_fraction:.1%}"))
    if result.skipped:
        st.warning(_("{n} images could not be read and were left out, e.g. {reason}").format(
            n=len(result.skipped), reason=result.skipped[0]["reason"]))


def confusion_chart(result: EvaluationResult) -> list[tuple[int, int]]:
    """The interactive confusion matrix; returns the clicked cells as ``(true, predicted)`` indices."""
    said = {COUNTS: _(COUNTS), SHARES: _(SHARES)}  # said in this run's language
    mode = st.radio(_("Colour by"), [COUNTS, SHARES], index=1, horizontal=True, key="evaluate_norm",
                    format_func=said.__getitem__,
                    help=_("Row-normalised colours make small classes as visible as large ones."))
    st.caption(_("Rows are the true classes, columns what the model predicted: the diagonal is right, everything "
                 "else is a mistake. Click a cell (or choose it below) to see its images."))
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
    st.markdown(_("**Per-class scores**"))
    st.caption(_("Precision: of the images predicted as this class, the share that were. Recall: of this "
                 "class's images, the share found. F1 balances the two. Support: images of the class."))
    formats = {name: st.column_config.NumberColumn(_(PER_CLASS_COLUMNS[name]), format="%.3f")
               for name in ("precision", "recall", "F1")}
    st.dataframe(df.rename(columns={k: _(v) for k, v in PER_CLASS_COLUMNS.items()}), hide_index=True,
                 width="stretch", key="evaluate_per_class",
                 column_config={_(PER_CLASS_COLUMNS[name]): config for name, config in formats.items()})


def reliability_chart(result: EvaluationResult) -> None:
    st.markdown(_("**Calibration**"))
    st.caption(_("Bars: how often the model was right at each confidence. On the dashed line, '{share} sure' "
                 "means right {share} of the time; bars below it mean overconfidence.").format(share="80%"))
    fig = export.reliability_figure(result, _)
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    st.plotly_chart(fig, width="stretch", key="evaluate_reliability")


@st.cache_data(show_spinner=False, max_entries=16)
def _learning_split(_loaded: LoadedModel, model: tuple, selection: tuple, _split: EvalSplit) -> EvalSplit:
    """The split with what its baseline learns from (a held-out dataset: the run's own training images), read
    once per model file and selection, not on every rerun."""
    return baseline_source(_loaded, _split)


def baseline_section(result: EvaluationResult, sel: Selection, loaded: LoadedModel) -> None:
    """HOG + linear SVM on the same images, beside the CNN's accuracy (trained in the background)."""
    st.subheader(_("Against a classical baseline"))
    st.caption(_("Histogram-of-oriented-gradients features and a linear SVM, trained on the train split: the "
                 "pre-deep-learning way. A CNN that barely beats it has learnt little more than edges and layout."))
    try:
        split = _learning_split(loaded, model_identity(loaded), sel.key, sel.open())
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    if not split.train_items:  # every image of this dataset is scored: nothing of it is left to learn from
        st.info(_("The baseline learns from the dataset's train split, and every image of it is scored here: "
                  "choose its val or test split in the sidebar to compare with HOG + linear SVM."))
        return
    if split.train_source:
        st.caption(_("Every image of {dataset} is held out, so the baseline learns from the run's own training "
                     "images ({n} of {source}), as the CNN did, and is scored on the same {scored} images.").format(
            dataset=split.dataset_id, n=len(split.train_items), source=split.train_source, scored=len(split.items)))
    # Computed for every evaluation, in the background (it reads every training image), once per split.
    key = ("baseline", split.dataset_id, split.split, items_fingerprint(split.items, split.class_names),
           items_fingerprint(split.train_items, split.class_names))
    said = rules([(r"HOG features of image (?P<i>[\d,]+) of (?P<n>[\d,]+)", N_("HOG features of image {i} of {n}")),
                  (r"Fitting the linear SVM on (?P<n>[\d,]+) images", N_("Fitting the linear SVM on {n} images")),
                  (r"HOG (?P<size>\d+x\d+) grey \+ standardisation \+ (?P<svc>\S+)",
                   N_("HOG {size} grey + standardisation + {svc}"))])
    title = Message(N_("HOG + linear SVM on {dataset} ({split})"), dataset=split.dataset_id,
                    split=split_said(split.split))
    base = run_in_background(key, title, lambda progress: baseline_split(split, progress=relay(progress, said)))
    if base is None:
        return
    cols = st.columns(3)
    cols[0].metric(_("CNN accuracy"), f"{result.accuracy:.1%}")
    points = f"{(base.accuracy - result.accuracy) * 100:+.1f}"  # the sign first: it sets the arrow
    cols[1].metric(_("Baseline accuracy"), f"{base.accuracy:.1%}",
                   delta=_("{points} points vs the CNN").format(points=points), delta_color="inverse",
                   help=_("The baseline's accuracy minus the CNN's, in percentage points: green when the CNN is "
                          "ahead, red when the simple baseline beats it."))
    cols[2].metric(_("Baseline trained on"), _("{n} images").format(n=base.train_size),
                   help=reworded(base.method, said))
    if base.accuracy > result.accuracy:
        st.warning(_("HOG + linear SVM ({baseline}) beats this CNN ({cnn}) on the same {n} images: the CNN has not "
                     "learnt more than edges and layout. Train longer, fine-tune more layers, or add images.").format(
            baseline=f"{base.accuracy:.1%}", cnn=f"{result.accuracy:.1%}", n=base.test_size))
    st.plotly_chart(confusion_figure(base.confusion, base.class_names,
                                     title=_("HOG + linear SVM baseline: its confusion matrix")),
                    width="stretch", key="evaluate_baseline_matrix")


def _translator():
    """This session's ``_`` for work done later, outside the page's run (a download built when clicked)."""
    return catalogue(language()).gettext


def exports(result: EvaluationResult) -> None:
    """Downloads: predictions CSV, the matrix as PNG, and as interactive HTML (built only when asked)."""
    st.subheader(_("Export"))
    title = _("{model} on {dataset} ({split})").format(model=result.model, dataset=result.dataset_id,
                                                       split=split_name(result.split))
    stem = safe_filename(f"{result.model}-{result.dataset_id}-{result.split}")
    cols = st.columns(3)
    with cols[0]:
        st.download_button(_("Predictions (CSV)"), export.predictions_csv(result, _),
                           file_name=f"{stem}-predictions.csv", mime="text/csv", key="evaluate_dl_csv",
                           on_click="ignore", help=_("One row per image: path, true and predicted class, confidence."))
    with cols[1]:
        st.download_button(_("Confusion matrix (PNG)"), export.confusion_png(result, title, _),
                           file_name=f"{stem}-confusion.png", mime="image/png", key="evaluate_dl_png",
                           on_click="ignore")
    with cols[2]:
        translate = _translator()  # the download is built in a callback: fix the language now
        st.download_button(_("Confusion matrix (HTML)"), lambda: export.confusion_html(result, title, translate),
                           file_name=f"{stem}-confusion.html", mime="text/html", key="evaluate_dl_html",
                           on_click="ignore", help=_("Interactive, opens offline (plotly.js is embedded)."))
