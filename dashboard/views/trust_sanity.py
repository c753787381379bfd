"""Trust page, sanity-check view: does the explanation change when the model's weights are scrambled?"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.errors import Message
from core.explain import get_method, list_methods
from core.explain.overlay import overlay
from core.trust import SanityResult, SanityStep
from dashboard import state
from dashboard.components.model_loader import load_model_or_explain
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _
from dashboard.state import SessionImage
from dashboard.views.trust_compare import method_title

# Two methods that pass beside one that fails (measured on the default model: tests/test_trust_app.py).
REMEMBERED = ("trust_sanity_methods", "trust_sanity_stages", "trust_sanity_request")  # see dashboard.page_memory
DEFAULT_METHODS = ("gradcam", "saliency", "guided_backprop")


def check(model_name: str, digest: str, method: str, max_stages: int, _pixels: np.ndarray,
          _progress=None) -> SanityResult:
    """The cascading randomisation check of one method on one image (core's SanityResult, computed once)."""
    return state.shared_results("sanity", 32).get(
        (model_name, digest, method, max_stages),
        lambda: _check(model_name, method, max_stages, _pixels, _progress))


def _check(model_name: str, method: str, max_stages: int, pixels: np.ndarray, progress) -> SanityResult:
    from core.images import resize_for_model
    from core.trust import sanity_check

    loaded = state.get_model(model_name)
    return sanity_check(loaded, resize_for_model(pixels, loaded.input_size), method, max_stages=max_stages,
                        progress=progress)


def show(model_name: str, image: SessionImage) -> None:
    st.subheader(_("Sanity check: scramble the model, watch the explanation"))
    st.caption(_("Adebayo et al. (2018) replaced a model's learned weights with random numbers, layer by layer "
                 "from the top, and found that some popular heatmaps barely changed. An explanation that "
                 "survives a scrambled model is showing the photo (its edges), not what the model learned."))
    loaded = load_model_or_explain(model_name)
    if loaded is None:
        return
    names = [m.name for m in list_methods()]
    with st.form("trust_sanity_form"):
        methods = st.multiselect(_("Methods"), names, default=[n for n in DEFAULT_METHODS if n in names],
                                 format_func=method_title, key="trust_sanity_methods")
        st.caption(_("Chosen at first: two methods that pass the check and Guided Backprop, which Adebayo et al. "
                     "found to fail it: its map keeps the photo's edges while the model's top layers turn random. "
                     "With the default model (EfficientNet-Lite0) and the cat sample it fails here too; try your "
                     "own photo."))
        stages = st.slider(_("Randomisation stages"), 2, 12, 6, key="trust_sanity_stages",
                           help=_("Checkpoints of the cascade; deep models randomise several layers per stage."))
        submitted = st.form_submit_button(_("Run the sanity check"), type="primary")
    request = (model_name, image.digest, tuple(methods), int(stages))
    if submitted:
        st.session_state["trust_sanity_request"] = request
    if st.session_state.get("trust_sanity_request") != request:
        st.info(_("Press **Run the sanity check**: each method is recomputed on a scrambled copy of the model "
                  "(the model everyone uses is never changed)."))
        return
    results, pending = [], False
    for number, method in enumerate(methods, start=1):
        # Each method's cascade runs in the background with its bar; the page can be left meanwhile.
        result = run_in_background(
            ("sanity", model_name, image.digest, method, int(stages)),
            Message(N_("{method} ({number} of {total})"), method=Message(get_method(method).title), number=number,
                    total=len(methods)),
            lambda progress, method=method: check(model_name, image.digest, method, int(stages),
                                                  _pixels=image.pixels, _progress=progress),
            error_prefix=method_title(method))
        pending = pending or (result is None and not _failed(model_name, image.digest, method, int(stages)))
        if result is not None:
            results.append(result)
    if results and not pending:
        _summary(results)
        _similarity_plot(results)
        for result in results:
            _cascade(image, result)
        st.caption(_("ρ under each map: its rank correlation with the trained model's map (1: the same map). A "
                     "trustworthy method's ρ falls towards 0 as the layers turn random: its map depends on what "
                     "the model learned."))


def _failed(*key) -> bool:
    from dashboard.services import tasks

    task = tasks.find(("sanity", *key))
    return task is not None and task.error is not None


def _summary(results: list[SanityResult]) -> None:
    cols = st.columns(len(results))
    for col, r in zip(cols, results, strict=True):
        with col:
            title = method_title(r.method)
            if r.passed:
                st.success(_("**{method}: passed**").format(method=title))
            else:
                st.error(_("**{method}: failed**").format(method=title))
            template, fields = r.reading_message()
            st.caption(_(template).format(**{**fields, "method": title}))


def _similarity_plot(results: list[SanityResult]) -> None:
    fig = go.Figure()
    for r in results:
        title = method_title(r.method)
        xs = [_("trained model") if s.layers_randomised == 0 else s.layer for s in r.steps]
        fig.add_scatter(x=xs, y=[s.spearman for s in r.steps], name=_("{method} · rank correlation").format(
            method=title), mode="lines+markers")
        fig.add_scatter(x=xs, y=[s.ssim for s in r.steps], name=_("{method} · SSIM").format(method=title),
                        mode="lines+markers", line={"dash": "dot"})
    fig.add_hline(y=results[0].threshold, line_dash="dash", line_color="grey",
                  annotation_text=_("pass below this once every layer is random"))
    fig.update_layout(title=_("Similarity to the original explanation as layers are randomised (top first)"),
                      height=340, yaxis_range=[-1.02, 1.02], xaxis_title=_("randomised down to layer"),
                      yaxis_title=_("similarity"), margin=dict(l=0, r=0, t=40, b=0))
    st.plotly_chart(fig, width="stretch", key="trust_sanity_chart")
    st.caption(_("1 means the same map as the trained model's. A trustworthy method drops towards 0 as more of "
                 "the model is scrambled."))
    st.caption(_("Two measures per method: the rank correlation (ρ) of the two maps' pixels, and SSIM, the "
                 "structural similarity of the two maps as pictures. A method passes when both end below the "
                 "dashed line once every layer is random."))


def _cascade(image, result: SanityResult) -> None:
    title = method_title(result.method)
    st.markdown(_("**{method}** on layer {layer}").format(method=title, layer=result.layer) if result.layer
                else f"**{title}**")
    steps = result.steps
    cols = st.columns(min(len(steps), 7))
    picks = np.linspace(0, len(steps) - 1, 7).round().astype(int)
    shown = steps if len(steps) <= 7 else [steps[i] for i in picks]
    for col, s in zip(cols, shown, strict=False):
        col.image(overlay(image.pixels, s.heatmap, method=result.method), caption=step_caption(s),
                  width="stretch")


def step_caption(step: SanityStep) -> str:
    """A caption that wraps between words in a narrow column: layer names may break only after '_'."""
    if step.layers_randomised == 0:
        return _("trained model")
    layer = str(step.layer).replace("_", "_\u200b")  # zero-width space: a line may break here
    return _("ρ\u00a0{rho:.2f} · random down to {layer}").format(rho=step.spearman, layer=layer)
