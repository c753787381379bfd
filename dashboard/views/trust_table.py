"""Trust page, method table view: which explanation method to trust for this model, measured on a dataset.

Every chosen method explains the same images (the true class of each), and core's method table
(:func:`core.trust.table.method_table`) scores them against a random map; datasets with masks add the
pointing game (:func:`core.trust.ground_truth.report_for`). The work runs in the background with its
progress; its result is kept for the same model, images and settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.errors import Message
from core.explain import method_names
from core.progress import Progress
from core.trust import BASELINES
from core.trust.ground_truth import CENTRE, SAMPLE, GroundTruthReport, ScoredImages
from core.trust.table import MethodTable
from dashboard import state
from dashboard.components.model_loader import load_model_or_explain
from dashboard.components.split_picker import Selection, mismatch, selection
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _
from dashboard.views.trust_compare import baseline_text, method_title

REQUEST = "trust_table_request"
REMEMBERED = ("trust_table_data", "trust_table_split", "trust_table_methods", "trust_table_images",
              "trust_table_steps", "trust_table_baseline", REQUEST)  # see dashboard.page_memory
LOAD_SHARE = 0.1  # of the progress bar: loading the images; the rest is explaining and scoring


@dataclass
class TableResult:
    data: ScoredImages
    table: MethodTable
    truth: GroundTruthReport | None
    curve_images: int


def compute(model_name: str, sel: Selection, methods: tuple[str, ...], images: int, steps: int, baseline: str,
            progress: Progress) -> TableResult:
    """Load ``images`` of the selection, score every method on them (and on masks when there are some)."""
    from core.trust.ground_truth import load_scored_images, report_for
    from core.trust.table import method_table

    loaded = state.get_model(model_name)
    data = load_scored_images(loaded, sel.data, sel.split, limit=images, need_masks=False,
                              progress=lambda f, text: progress(LOAD_SHARE * f, text))
    table = method_table(loaded, data.pixels, data.labels, list(methods), baseline=baseline, steps=steps,
                         progress=lambda f, text: progress(LOAD_SHARE + (1 - LOAD_SHARE) * f, text))
    truth = report_for(data, loaded, list(methods)) if data.masks is not None else None
    return TableResult(data, table, truth, len(data.labels))


def show(model_name: str) -> None:
    st.subheader(_("Which method should I trust for this model?"))
    st.caption(_("Every method explains the same images of a dataset, each image's true class. Each heatmap "
                 "is scored by deletion and insertion (as a share of the image's own probability), Average "
                 "Drop and Increase in Confidence, beside a random map; datasets with object masks add the "
                 "pointing game. The method that beats the random map by most is recommended."))
    loaded = load_model_or_explain(model_name)
    if loaded is None:
        return
    sel = selection(model_name, loaded, prefix="trust_table")
    if sel is None:
        return
    problem = mismatch(sel, loaded)
    if problem:
        st.error(problem)
        return
    names = method_names()
    with st.form("trust_table_form"):
        methods = st.multiselect(_("Methods"), names, default=[n for n in ("gradcam", "gradcam++", "saliency")
                                                            if n in names] or names[:2],
                                 format_func=method_title, key="trust_table_methods")
        c1, c2, c3 = st.columns(3)
        images = c1.number_input(_("Images"), 2, 200, 16, 2, key="trust_table_images",
                                 help=_("Taken class by class, so a few images cover every class."))
        steps = c2.slider(_("Steps per curve"), 8, 64, 16, 4, key="trust_table_steps")
        baseline = c3.selectbox(_("Removed pixels become"), BASELINES, key="trust_table_baseline",
                                format_func=baseline_text)
        submitted = st.form_submit_button(_("Score the methods"), type="primary")
    if not methods:
        st.warning(_("Pick at least one method."))
        return
    request = (model_name, sel.key, tuple(methods), int(images), int(steps), baseline)
    if submitted:
        st.session_state[REQUEST] = request
    if st.session_state.get(REQUEST) != request:
        st.info(_("Press **Score the methods** to explain and score the chosen methods on these images."))
        return
    result = run_in_background(("trust-table", *request),
                               Message(N_("Scoring {n} methods on {dataset}"), n=len(methods), dataset=sel.data_label),
                               lambda progress: compute(model_name, sel, tuple(methods), int(images), int(steps),
                                                        baseline, progress))
    if result is not None:
        _results(result)


def reason_text(table: MethodTable) -> str:
    """Core's reason for the recommendation in the session's language, methods named by their titles."""
    fields = {k: method_title(v) if k in ("method", "next") else v for k, v in table.reason_fields.items()}
    return _(table.reason_template).format(**fields)


def scope_text(data: ScoredImages) -> str:
    """Which images were scored (core's sentence for the split, and the sample drawn from it)."""
    return _(SAMPLE).format(n=data.sampled, scope=data.split_scope) if data.sampled else data.split_scope


def _results(result: TableResult) -> None:
    table, data = result.table, result.data
    st.caption(_("Scored: {scope}. Model accuracy on them: {accuracy:.0%}.").format(scope=scope_text(data),
                                                                                    accuracy=data.accuracy))
    if table.recommended is not None:
        st.success(_("**Recommended: {method}.** {reason}").format(method=method_title(table.recommended),
                                                                   reason=reason_text(table)))
    else:
        st.warning(reason_text(table))
    average_drop, increase, pointing = _("Average Drop ↓"), _("Increase in Confidence ↑"), _("pointing game ↑")
    rows = []
    for rank, r in enumerate(table.rows, 1):
        row = {_("rank"): rank, _("method"): method_title(r.method), _("deletion ↓"): r.deletion,
               _("insertion ↑"): r.insertion, _("insertion − deletion ↑"): r.score, average_drop: r.average_drop,
               increase: r.increase_in_confidence}
        if result.truth is not None:
            score = next((s for s in result.truth.scores if s.method == r.method), None)
            row[pointing] = 100 * score.pointing if score is not None else None
        rows.append(row)
    frame = pd.DataFrame(rows)
    percent = st.column_config.NumberColumn(format="%.0f%%")
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={**{c: st.column_config.NumberColumn(format="%.2f", help=_(
                                    "Areas under the deletion and insertion curves, each divided by the class's "
                                    "own probability on the photo (the Explain page's badges show the same "
                                    "scale; Compare methods shows the raw areas)."))
                                   for c in frame.columns[2:5]},
                                average_drop: st.column_config.NumberColumn(format="%.0f%%", help=_(
                                    "Mean share of the class probability lost when the model sees only the "
                                    "heatmap-weighted photo (lower: the map kept the evidence).")),
                                increase: st.column_config.NumberColumn(format="%.0f%%", help=_(
                                    "Share of images whose heatmap-weighted photo alone scores the class higher "
                                    "than the whole photo.")),
                                pointing: percent})
    if result.truth is None:
        st.caption(_("This dataset has no object masks, so the pointing game is not measured."))
    else:
        centre = next(s for s in result.truth.scores if s.method == CENTRE)
        st.caption(_("Pointing game: the heatmap's hottest pixel on the object. A centre-bias map that uses no "
                     "model scores {pointing:.0%}: a method should beat it.").format(pointing=centre.pointing))
    report = {"dataset": data.dataset, "split": data.split, "scored": data.scope, "accuracy": data.accuracy,
              **table.to_json(), **({"ground_truth": result.truth.to_json()} if result.truth else {})}
    st.download_button(_("Download the table (JSON)"), json.dumps(report, indent=2), "method_table.json",
                       "application/json", key="trust_table_download")
