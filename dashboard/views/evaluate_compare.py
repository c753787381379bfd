"""Evaluate page, A/B: the model evaluated (A) against another one (B) on the same images.

Did a retrained model (corrected labels, another recipe) really get better? B is scored on the split A was
(in the background, cached by core), the two are paired image by image (:func:`core.evaluate.compare_results`)
and McNemar's exact test says whether the images B fixes and breaks differ by more than chance. Each changed
image can be opened with both models' Grad-CAM of their own answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.data.labels import display_label
from core.errors import GlasswingError, Message
from core.evaluate import Comparison, EvaluationResult, compare_results, evaluate_split, without_seen
from core.evaluate.cache import items_fingerprint, model_identity
from core.explain.overlay import overlay
from core.images import load_image
from core.zoo import LoadedModel
from dashboard import state
from dashboard.choices import keep_choice
from dashboard.components.core_words import relay, scoring_words
from dashboard.components.empty_map import flag_empty
from dashboard.components.model_loader import load_model_or_explain
from dashboard.components.model_picker import model_options
from dashboard.components.split_picker import Selection, mismatch
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, error_text

ASKED = "evaluate_compare_asked"  # (selection, model B) pairs asked for in this session
REMEMBERED = ("evaluate_compare_model", ASKED, "evaluate_compare_image")  # see dashboard.page_memory
CHANGES = {"better": N_("fixed by B"), "worse": N_("broken by B"), "other": N_("another wrong answer")}


def compare_section(result: EvaluationResult, sel: Selection, loaded: LoadedModel) -> None:
    st.subheader(_("Compare with another model (A/B)"))
    st.caption(_("Did a retrained model really get better? Model B is scored on the same images as this one (A). "
                 "Accuracy alone cannot tell a real gain from luck on a few images: McNemar's exact test looks "
                 "only at the images one model gets right and the other wrong."))
    options = {k: v for k, v in model_options(state.classroom(), state.session_id()).items() if k != sel.model_name}
    if not options:
        st.info(_("No other model to compare with: train another run on the Train page, then come back."))
        return
    c1, c2 = st.columns([3, 1])
    keep_choice("evaluate_compare_model", list(options), next(iter(options)), sel.model_name)
    other = c1.selectbox(_("Model B"), list(options), format_func=options.__getitem__, key="evaluate_compare_model")
    c2.write("")  # aligns the button with the picker
    pressed = c2.button(_("Compare"), key="evaluate_compare_run")
    asked: set = st.session_state.setdefault(ASKED, set())
    request = (sel.key, other)
    if pressed:
        asked.add(request)
    if request not in asked:
        st.caption(_("Pick model B and press **Compare**."))
        return
    comparison = _comparison(result, sel, loaded, other)
    if comparison is not None:
        _show(comparison, loaded, other)


def _comparison(result: EvaluationResult, sel: Selection, loaded: LoadedModel, other: str) -> Comparison | None:
    loaded_b = load_model_or_explain(other, key="evaluate_compare")
    if loaded_b is None:
        return None
    problem = mismatch(sel, loaded_b)
    if problem:
        st.error(problem)
        return None
    try:
        split = sel.open()
    except GlasswingError as exc:
        st.error(error_text(exc))
        return None
    said = scoring_words()

    def work(progress):
        # Images either model trained on are left out (found by file identity: reading them takes a while).
        kept, left_out = without_seen([loaded, loaded_b], sel.data, split)
        scored_b = evaluate_split(loaded_b, split, progress=relay(progress, said))
        return scored_b, {str(item.path) for item in kept.items}, left_out

    key = ("evaluate-compare", model_identity(loaded), model_identity(loaded_b), sel.key,
           items_fingerprint(split.items, split.class_names))
    done = run_in_background(key, Message(N_("Scoring model B on the same images")), work)
    if done is None:
        return None
    scored_b, kept, left_out = done
    return compare_results(result, scored_b, only=kept, left_out=left_out)


def reading_text(comparison: Comparison) -> str:
    template, fields = comparison.reading()
    return _(template).format(**fields)


def _show(c: Comparison, loaded: LoadedModel, other: str) -> None:
    cols = st.columns(3)
    paired = _("On the {n} images both models were scored on (the comparison's own images).").format(n=c.paired)
    cols[0].metric(_("A accuracy"), f"{c.accuracy_a:.1%}", help=paired)
    points = f"{(c.accuracy_b - c.accuracy_a) * 100:+.1f}"
    cols[1].metric(_("B accuracy"), f"{c.accuracy_b:.1%}", delta=_("{points} points vs A").format(points=points),
                   help=paired)
    cols[2].metric(_("McNemar p-value"), f"{c.p_value:.3g}",
                   help=_("The chance of B fixing and breaking images this unevenly if A and B were equally good."))
    (st.success if c.p_value < 0.05 and c.only_b > c.only_a else st.info)(reading_text(c))
    if c.left_out:
        st.caption(_("{n} images of this split were left out of the comparison: one of the two models trained on "
                     "them (it was trained on a version of this dataset, or split it differently).").format(
            n=c.left_out))
    right, wrong = _("B right"), _("B wrong")
    st.dataframe(pd.DataFrame({right: [c.both_right, c.only_b], wrong: [c.only_a, c.both_wrong]},
                              index=[_("A right"), _("A wrong")]), width="content")
    st.caption(_("Images, of the {n} both models scored; McNemar's test reads only the two mixed cells (one model "
                 "right, the other wrong).").format(n=c.paired))
    if not c.changed:
        return
    names = c.a.class_names
    change_col, image_col, true_col = _("change"), _("image"), _("true class")
    rows = [{change_col: _(CHANGES[x["change"]]), image_col: x["path"].rsplit("/", 1)[-1],
             true_col: display_label(names[x["true"]]), "A": display_label(names[x["a_pred"]]),
             "B": display_label(names[x["b_pred"]])} for x in c.changed]
    st.markdown(_("**{n} images changed answer**").format(n=len(rows)))
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="evaluate_compare_changed")
    paths = [x["path"] for x in c.changed]
    keep_choice("evaluate_compare_image", paths, paths[0], (c.a.model, c.b.model))
    path = st.selectbox(_("Open a changed image"), paths, key="evaluate_compare_image",
                        format_func=lambda p: p.rsplit("/", 1)[-1])
    _both_maps(c, loaded, other, c.changed[paths.index(path)])


def _both_maps(c: Comparison, loaded: LoadedModel, other: str, change: dict) -> None:
    """The photo and each model's Grad-CAM of its own answer."""
    from core.explain import explain
    from core.images import resize_for_model

    photo = load_image(change["path"])
    shown = np.clip(photo, 0, 255).astype(np.uint8)
    cols = st.columns(3)
    cols[0].image(shown, width="stretch", caption=_("{image} · true {label}").format(
        image=change["path"].rsplit("/", 1)[-1], label=display_label(c.a.class_names[change["true"]])))
    for col, model, result, pred, name in ((cols[1], loaded, c.a, change["a_pred"], "A"),
                                           (cols[2], state.get_model(other), c.b, change["b_pred"], "B")):
        target = int(result.class_map.columns[int(pred)])  # the dataset's class as the model's output
        try:
            (exp,) = explain(model, resize_for_model(photo, model.input_size)[None], "gradcam", target=target)
        except GlasswingError as exc:
            col.error(error_text(exc))
            continue
        col.image(overlay(shown, exp.heatmap, method="gradcam"), width="stretch",
                  caption=_("{model} says {label} ({confidence}): Grad-CAM").format(
                      model=name, label=display_label(c.a.class_names[int(pred)]),
                      confidence=f"{change[name.lower() + '_confidence']:.0%}"))
        flag_empty(exp, col)
