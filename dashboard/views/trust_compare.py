"""Trust page, compare view: every explanation method on the current photo, ranked by deletion/insertion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.errors import Message
from core.explain import get_method, list_methods
from core.explain.overlay import overlay
from core.progress import Progress
from core.trust import BASELINES
from core.trust.service import RANDOM, ImageScore
from dashboard import state
from dashboard.components.core_words import Rules, relay, rules
from dashboard.components.empty_map import flag_empty
from dashboard.components.faithfulness import curves_figure
from dashboard.components.model_loader import load_model_or_explain
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _
from dashboard.state import SessionImage

# What a reload or a return to the page keeps (dashboard.page_memory): the form and the ranking pressed for.
REMEMBERED = ("trust_compare_methods", "trust_compare_baseline", "trust_compare_steps", "trust_compare_request")
BASELINE_HELP = {"blur": N_("a blurred copy of the photo"), "mean": N_("the photo's mean colour"),
                 "black": N_("black")}


def ranking(model_name: str, methods: tuple[str, ...], baseline: str, steps: int, pixels: np.ndarray,
            progress: Progress) -> list[ImageScore]:
    """Every method scored on one image, best first (core's ImageScore rows); run as a background task,
    whose result is kept for the same photo and settings."""
    from core.trust import compare_methods

    return compare_methods(state.get_model(model_name), pixels, methods, baseline=baseline, steps=steps,
                           progress=progress)


def progress_words() -> tuple[Rules, set[str]]:
    """How the page says core's progress while it ranks, with the methods' titles (:mod:`core_words`)."""
    said = rules([
        (r"Explaining and scoring (?P<method>.+) \((?P<done>\d+) of (?P<total>\d+)\)",
         N_("Explaining and scoring {method} ({done} of {total})")),
        (r"Scoring a random map \((?P<done>\d+) of (?P<total>\d+)\)", N_("Scoring a random map ({done} of {total})")),
    ])
    return said, {m.title for m in list_methods()}


def method_title(name: str) -> str:
    """A method's title in the session's language (the random reference row included)."""
    return _("Random map (reference)") if name == RANDOM else _(get_method(name).title)


def baseline_text(baseline: str) -> str:
    return _(BASELINE_HELP[baseline])


def show(model_name: str, image: SessionImage) -> None:
    st.subheader(_("Which method points at the evidence the model really uses?"))
    st.caption(_("Each heatmap is tested the same way. Deletion: blur away its hottest pixels first and watch "
                 "the class probability; a faithful map makes it fall fast (low area). Insertion: reveal them "
                 "first on a blurred photo; the probability should rise fast (high area). A random map is "
                 "scored too: a method below it orders pixels no better than chance."))
    loaded = load_model_or_explain(model_name)
    if loaded is None:
        return
    names = [m.name for m in list_methods()]
    quick = [m.name for m in list_methods() if not m.slow]  # the slow ones are a click away
    with st.form("trust_compare_form"):
        methods = st.multiselect(_("Methods"), names, default=quick, format_func=method_title,
                                 key="trust_compare_methods")
        c1, c2 = st.columns(2)
        baseline = c1.selectbox(_("Removed pixels become"), BASELINES, key="trust_compare_baseline",
                                format_func=baseline_text)
        steps = c2.slider(_("Steps per curve"), 8, 64, 32, 4, key="trust_compare_steps",
                          help=_("More steps: smoother curves, a little slower."))
        st.caption(_("Not chosen by default, as they take many forward passes per photo: {methods}.").format(
            methods=", ".join(method_title(m.name) for m in list_methods() if m.slow)))
        submitted = st.form_submit_button(_("Rank the methods"), type="primary")
    request = (model_name, image.digest, tuple(methods), baseline, int(steps))
    if submitted:
        st.session_state["trust_compare_request"] = request
    if st.session_state.get("trust_compare_request") != request:
        st.info(_("Press **Rank the methods** to score every chosen method on this photo."))
        return
    if not methods:
        st.warning(_("Pick at least one method."))
        return
    said, names = progress_words()
    rows = run_in_background(("trust-compare", *request),
                             Message(N_("Ranking {n} methods"), n=len(methods)),
                             lambda progress: ranking(model_name, tuple(methods), baseline, int(steps), image.pixels,
                                                      relay(progress, said, names)))
    if rows is None:  # still running (its bar is shown) or failed (its sentence is shown)
        return
    _results(image, rows, baseline)


def _results(image, rows: list[ImageScore], baseline: str) -> None:
    first = rows[0]
    st.markdown(_("**Explaining:** {label} ({prob:.1%}) · removed pixels become {baseline}").format(
        label=first.label, prob=first.prob, baseline=baseline_text(baseline)))
    rank, method, drop = _("rank"), _("method"), _("drop, map alone ↓")
    table = pd.DataFrame([{rank: i + 1, method: method_title(r.method), _("deletion AUC ↓"): r.curves.deletion_auc,
                           _("insertion AUC ↑"): r.curves.insertion_auc,
                           _("insertion − deletion ↑"): r.curves.score, drop: 100 * r.curves.drop,
                           _("map alone scores higher"): r.curves.increase}
                          for i, r in enumerate(rows)])
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={**{c: st.column_config.NumberColumn(format="%.3f", help=_(
                                    "Raw areas under the curves of the class probability (0 to 1) as pixels are "
                                    "removed or revealed; the Method table divides them by the photo's own "
                                    "probability.")) for c in table.columns[2:5]},
                                drop: st.column_config.NumberColumn(format="%.0f%%")})
    st.caption(_("The areas are probabilities of {label}, which the photo itself scores {clean:.1%}. "
                 "Map alone: the photo multiplied by the heatmap; the drop is how much of that probability is "
                 "lost (one photo's term of Average Drop), and a map alone scoring higher counts towards "
                 "Increase in Confidence. The Method table view averages them over a dataset.").format(
                     label=first.label, clean=first.curves.clean))
    random_score = next((r.curves.score for r in rows if r.method == RANDOM), None)
    if random_score is not None:
        worse = [method_title(r.method) for r in rows if r.method != RANDOM and r.curves.score < random_score]
        if worse:
            st.warning(_("Below the random map on this photo: {methods}. Their pixel ranking does not follow "
                         "what the model relies on here.").format(methods=", ".join(worse)))
        else:
            st.success(_("Every method beats the random map on this photo."))
    fig = go.Figure()
    for r in rows:
        fig.add_scatter(x=r.curves.fractions, y=r.curves.deletion, name=method_title(r.method), mode="lines",
                        line={"dash": "dot"} if r.method == RANDOM else None)
    fig.update_layout(title=_("Deletion curves (lower is better)"), height=300, yaxis_range=[0, 1.02],
                      xaxis_title=_("fraction of pixels removed"), yaxis_title=_("probability"),
                      margin=dict(l=0, r=0, t=40, b=0))
    st.plotly_chart(fig, width="stretch", key="trust_compare_chart")
    cols = st.columns(4)
    for i, r in enumerate(rows):
        with cols[i % 4]:
            st.image(overlay(image.pixels, r.heatmap, method=r.method if r.method != RANDOM else None),
                     width="stretch",
                     caption=_("#{rank} {method} · del {deletion:.2f} · ins {insertion:.2f}").format(
                         rank=i + 1, method=method_title(r.method), deletion=r.curves.deletion_auc,
                         insertion=r.curves.insertion_auc))
            if r.method != RANDOM:
                flag_empty(r.explanation)
            with st.popover(_("Curves"), width="stretch"):
                st.plotly_chart(curves_figure(r.curves), width="stretch", key=f"trust_compare_curves_{r.method}")
