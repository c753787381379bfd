"""Attack page results: three images, predictions before/after, norms, Grad-CAM before/after, download."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.errors import GlasswingError
from core.explain.overlay import overlay
from core.images import to_png_bytes
from dashboard import state
from dashboard.components.empty_map import flag_empty
from dashboard.components.top_k import top_k_chart
from dashboard.i18n import _
from dashboard.views.attack_compute import AttackOutcome, adversarial_heatmap
from dashboard.views.attack_controls import AttackRequest


def magnified_perturbation(original: np.ndarray, adversarial: np.ndarray) -> tuple[np.ndarray, float]:
    """The change as a picture: mid-grey is no change, stretched so the largest change is full scale.

    Returns the uint8 picture and the magnification factor (how many times the change was multiplied).
    """
    delta = np.asarray(adversarial, np.float32) - np.asarray(original, np.float32)
    largest = float(np.abs(delta).max()) if delta.size else 0.0
    factor = 127.5 / largest if largest > 0 else 1.0
    return np.clip(127.5 + delta * factor, 0, 255).astype(np.uint8), factor


def _pred(loaded, probs: np.ndarray) -> str:
    i = int(np.argmax(probs))
    return f"{loaded.label(i)} ({float(probs[i]):.1%})"


def show_results(model_name: str, loaded, image, request: AttackRequest, r: AttackOutcome) -> None:
    before, after = int(r.result.before_index[0]), int(r.result.after_index[0])
    st.markdown(_("**Before:** {before} {arrow} **After:** {after}").format(
        before=_pred(loaded, r.probs_before), after=_pred(loaded, r.probs_after), arrow="\u00a0→\u00a0"))
    _verdict(loaded, r, before, after)
    _three_images(r)
    _norms(loaded, r)
    _top_charts(loaded, r)
    _heatmaps(model_name, loaded, image, request, r)
    _download(loaded, image, request, r)


def _verdict(loaded, r: AttackOutcome, before: int, after: int) -> None:
    if r.result.targeted:
        goal = loaded.label(r.label)
        if r.success:
            st.success(_("Targeted attack succeeded: the model now says {goal}.").format(goal=goal))
        else:
            st.warning(_("The model did not reach {goal} (it says {now}): targeted attacks need a larger epsilon "
                         "or more PGD steps.").format(goal=goal, now=loaded.label(after)))
    elif after != before:
        st.success(_("The label changed from {before} to {after}, though no pixel moved by more than {linf} of "
                     "255 levels.").format(before=loaded.label(before), after=loaded.label(after),
                                           linf=f"{r.linf:.2f}"))
    else:
        st.warning(_("The label did not change: try a larger epsilon, or PGD, which is stronger than FGSM."))


def _three_images(r: AttackOutcome) -> None:
    picture, factor = magnified_perturbation(r.original, r.adversarial)
    cols = st.columns(3)
    cols[0].image(r.original.astype(np.uint8), caption=_("Original (as the model sees it)"), width="stretch")
    cols[1].image(picture, width="stretch",
                  caption=_("Perturbation magnified ×{factor} (grey: unchanged)").format(factor=f"{factor:.0f}"))
    cols[2].image(r.rounded, caption=_("Adversarial"), width="stretch")
    st.caption(_("The middle picture is the change alone, multiplied by {factor} so you can see it: brighter "
                 "means a pixel went up, darker down. Unmagnified, it is invisible. The model adds up thousands "
                 "of such tiny nudges, each chosen along its own gradient, so together they move its output a "
                 "lot even though no single pixel changes visibly.").format(factor=f"{factor:.0f}"))


def _norms(loaded, r: AttackOutcome) -> None:
    eps = r.result.eps
    cols = st.columns(4)
    shown = [(_("Epsilon (budget)"), f"{eps:g} / 255", _("{percent} of the range").format(percent=f"{eps / 255:.2%}"),
              _("The most any one pixel channel may move, in levels of 0 to 255.")),
             (_("L-inf used"), f"{r.linf:.2f} / 255", _("largest change of any pixel"),
              _("The largest change of any pixel channel, in levels: at most epsilon.")),
             (_("L2 used"), f"{r.l2:.1f}", _("length of the whole change"),
              _("The square root of the sum of the squared changes over every pixel channel, in levels. It grows "
                "with the image's size, and epsilon does not limit it, so it is often far above epsilon.")),
             (_("Values changed"), f"{r.changed_fraction:.0%}", _("of all pixel channels"),
              _("The share of pixel channels (height x width x 3) the attack moved at all."))]
    for col, (label, value, note, meaning) in zip(cols, shown, strict=True):
        col.metric(label, value, note, delta_color="off", delta_arrow="off", help=meaning)
    text = _("Epsilon is the budget: every pixel channel (0..255) may move by at most {eps} levels, {percent} of "
             "its range. L-inf and L2 are measured on the image actually produced, in pixel levels.")
    if r.step_size:
        text = _("{budget} PGD took {steps} steps of {step} levels.").format(
            budget=text, steps=r.result.params["steps"], step=f"{r.step_size:.3g}")
    st.caption(text.format(eps=f"{eps:g}", percent=f"{eps / 255:.2%}"))


def _top_charts(loaded, r: AttackOutcome) -> None:
    cols = st.columns(2)
    with cols[0]:
        top_k_chart(r.probs_before, loaded.label, key="attack_top_before", title=_("Top predictions before"))
    with cols[1]:
        top_k_chart(r.probs_after, loaded.label, key="attack_top_after", title=_("Top predictions after"))


def _heatmaps(model_name: str, loaded, image, request: AttackRequest, r: AttackOutcome) -> None:
    st.subheader(_("Where the model looks, before and after"))
    try:
        with st.spinner(_("Computing Grad-CAM ...")):
            before = state.heatmap(model_name, image.digest, "gradcam", None, None, (), _pixels=image.pixels)
            run_key = (request.digest, request.method, request.params_key, request.target)
            after = adversarial_heatmap(model_name, run_key, _adversarial=r.adversarial)
    except GlasswingError as exc:
        st.error(f"Grad-CAM: {exc}")
        return
    cols = st.columns(2)
    original = r.original.astype(np.uint8)
    cols[0].image(overlay(original, before.heatmap), width="stretch",
                  caption=_("Grad-CAM before · {prediction}").format(
                      prediction=f"{loaded.label(before.class_index)} ({before.prob:.1%})"))
    cols[1].image(overlay(r.rounded, after.heatmap), width="stretch",
                  caption=_("Grad-CAM after · {prediction}").format(
                      prediction=f"{loaded.label(after.class_index)} ({after.prob:.1%})"))
    for col, explanation in zip(cols, (before, after), strict=True):
        flag_empty(explanation, col)
    st.caption(_("Grad-CAM highlights the regions that most raised the score of the predicted class. After "
                 "the attack the evidence for the new class can sit in quite different places, although "
                 "the photo looks the same to us."))


def _download(loaded, image, request: AttackRequest, r: AttackOutcome) -> None:
    name = image.name.replace("sample: ", "").replace(" ", "_").replace(":", "")
    st.download_button(_("Download the adversarial image (PNG)"), to_png_bytes(r.rounded),
                       file_name=f"{name}_{request.method}_eps{r.result.eps:g}.png", mime="image/png",
                       key="attack_download")
    st.caption(_("PNG is lossless, so the 8-bit file keeps the attack: the model says {prediction} on it. "
                 "{jpeg}").format(prediction=_pred(loaded, r.probs_png), jpeg=_jpeg_sentence(loaded, r)))


def _jpeg_sentence(loaded, r: AttackOutcome) -> str:
    """What JPEG saving actually did to this attack (it often undoes it, but not always)."""
    clean, adv, jpeg = (int(np.argmax(getattr(r, k))) for k in ("probs_before", "probs_png", "probs_jpeg"))
    said = _pred(loaded, r.probs_jpeg)
    if adv == clean:
        text = _("The attack did not change the answer, and saved as JPEG (quality 90) the model says {said}.")
    elif jpeg == clean:
        text = _("JPEG re-compression undid the attack here: saved as JPEG (quality 90) the model says {said}, "
                 "the clean answer again.")
    elif jpeg == adv:
        text = _("JPEG re-compression did not undo it: saved as JPEG (quality 90) the model says {said}, still "
                 "the attacker's class.")
    else:
        text = _("JPEG re-compression changed the answer again: saved as JPEG (quality 90) the model says {said}, "
                 "neither the clean nor the attacked class.")
    return text.format(said=said)
