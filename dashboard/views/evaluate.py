"""Evaluate page: how good is a model on a labelled split, which classes does it confuse, and why?

Controls are in the sidebar (:mod:`dashboard.components.split_picker`, shared with the Trust page's method
table); the scores and charts are in
:mod:`evaluate_charts`; the path from a confusion-matrix cell to its images and their Grad-CAMs is in
:mod:`evaluate_drilldown`. Results come from ``core.evaluate.evaluate_split``, whose process-wide
cache is keyed by the model file, the dataset, the split and every image's size and date: a rerun,
or another session asking for the same evaluation, gets it at once; new work runs in the background with
its progress bar, so the person may look at other pages meanwhile.
"""

from __future__ import annotations

import streamlit as st

from core.errors import GlasswingError, Message
from core.evaluate import EvaluationResult, evaluate_split
from core.evaluate.cache import items_fingerprint, model_identity
from core.zoo import LoadedModel
from dashboard.components import corrections
from dashboard.components.core_words import relay, scoring_words, split_name
from dashboard.components.model_loader import load_model_or_explain
from dashboard.components.model_picker import model_picker
from dashboard.components.split_picker import Selection, describe_split, mismatch, selection
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, error_text
from dashboard.views import evaluate_charts as charts
from dashboard.views import evaluate_compare as compare
from dashboard.views import evaluate_drilldown as drill

ASKED = "evaluate_asked"  # selections asked for in this session: followed or shown again without a click
# What a reload or a return to the page keeps (dashboard.page_memory): the selection, what was asked for, the
# cell and image inspected, the A/B request and the corrections not saved yet.
REMEMBERED = ("evaluate_model", "evaluate_data", "evaluate_split", "evaluate_opacity", ASKED, "evaluate_norm",
              drill.CELL_KEY, drill.ITEM_KEY, "evaluate_fix_label_*", *compare.REMEMBERED)
# (the corrections not saved yet are remembered for the whole session: dashboard.navigation.SESSION_WIDE)


def main() -> None:
    st.title(_("Evaluate a model"))
    st.caption(_("Score a model on images it did not train on: how often it is right, which classes it confuses, "
                 "whether its confidence can be trusted, and what it looked at on each mistake."))
    with st.sidebar:
        model_name = model_picker(key="evaluate_model")
    loaded = load_model_or_explain(model_name)
    if loaded is None:
        return
    with st.sidebar:
        sel = selection(model_name, loaded)
        opacity = st.slider(_("Heatmap opacity"), 0.0, 1.0, 0.45, 0.05, key="evaluate_opacity")
        problem = mismatch(sel, loaded) if sel is not None else None
        pressed = st.button(_("Evaluate"), type="primary", key="evaluate_run", disabled=sel is None or bool(problem))
    if sel is None:
        return
    if problem:  # said before any image is scored: this model cannot be scored on these classes
        st.error(problem)
        return
    asked: set = st.session_state.setdefault(ASKED, set())
    if pressed:
        asked.add(sel.key)  # from now on each rerun follows its task (or shows its result) without a click
    if sel.key not in asked:
        st.info(_("Choose a model, a dataset and a split in the sidebar, then press **Evaluate**."))
        return
    result = _evaluate(sel, loaded)
    if result is None:
        return
    _results(result, sel, loaded, opacity)


def _evaluate(sel: Selection, loaded: LoadedModel) -> EvaluationResult | None:
    """The evaluation of ``sel`` as a background task (its bar while images are scored: the person may look
    at other pages meanwhile); None until it is done. Core's cache makes a second ask instant."""
    try:
        with st.spinner(_("Opening the split ...")):
            split = sel.open()
    except GlasswingError as exc:
        st.error(error_text(exc))
        return None
    said = scoring_words()
    # Keyed by the model file and every image's path, size and date, as core's cache is: a changed file is new work.
    key = ("evaluate", model_identity(loaded), split.dataset_id, split.split,
           items_fingerprint(split.items, split.class_names))
    return run_in_background(key, Message(N_("Scoring {model} on {data}"), model=loaded.name, data=sel.data_label),
                             lambda progress: evaluate_split(loaded, split, progress=relay(progress, said)))


def _results(result: EvaluationResult, sel: Selection, loaded: LoadedModel, opacity: float) -> None:
    st.markdown(_("**{model}** on {data}, **{split}** split").format(model=loaded.name, data=sel.data_label,
                                                                      split=split_name(sel.split)))
    st.caption(_("Scored: {what}.").format(what=describe_split(sel.open())))
    charts.summary(result)
    clicked = charts.confusion_chart(result)
    row = drill.cell_section(result, sel.model_name, loaded, clicked, opacity)
    if row is not None:
        corrections.image_panel(result, sel.data, row)
    corrections.corrections_section(sel.data, sel.data_label, loaded)
    st.divider()
    drill.mistakes_gallery(result)
    st.divider()
    left, right = st.columns(2)
    with left:
        charts.per_class_table(result)
    with right:
        charts.reliability_chart(result)
    st.divider()
    charts.baseline_section(result, sel, loaded)
    st.divider()
    compare.compare_section(result, sel, loaded)
    st.divider()
    charts.exports(result)
