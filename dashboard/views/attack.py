"""Attack page: a change too small for us to see can flip a model's answer, and move where it looks."""

from __future__ import annotations

import streamlit as st

from core.attacks import create_attack
from core.errors import GlasswingError, Message
from dashboard import state
from dashboard.components.core_words import relay
from dashboard.components.image_picker import current_image
from dashboard.components.model_loader import load_model_or_explain
from dashboard.components.model_picker import model_picker
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, error_text
from dashboard.views import attack_controls as controls
from dashboard.views import attack_robustness as robustness
from dashboard.views.attack_compute import progress_words, run_attack
from dashboard.views.attack_controls import AttackRequest, attack_controls
from dashboard.views.attack_results import show_results
from dashboard.views.attack_robustness import defence_section, robustness_section

REQUEST_KEY = "attack_request"  # the last valid request: results survive reruns, not just the click
# What a reload or a return to the page keeps (dashboard.page_memory): the settings, the request, the results.
REMEMBERED = ("attack_model", REQUEST_KEY, *controls.REMEMBERED, *robustness.REMEMBERED)


def main() -> None:
    st.title(_("Attack a prediction"))
    st.caption(_("An adversarial example is a photo changed on purpose, by tiny amounts per pixel, so that the "
                 "model changes its answer. Pick a photo and a model, then press **Run attack**."))
    with st.sidebar:
        model_name = model_picker(key="attack_model")
    current = current_image()  # the session's photos, under the title on every page
    if current is None:
        return
    loaded = load_model_or_explain(model_name)  # e.g. weights not downloaded yet: the Explain page offers them
    if loaded is None:
        return
    probs = state.predict(model_name, current.digest, current.pixels)
    top = loaded.top_k(probs, min(5, loaded.num_classes))
    with st.sidebar:
        st.subheader(_("Attack"))
        submitted = attack_controls(model_name, current.digest, loaded, top)
    if submitted is not None:
        try:  # validate before running: a nonsense value gets the core's message naming the parameter
            create_attack(submitted.method, **submitted.params)
        except GlasswingError as exc:
            st.session_state.pop(REQUEST_KEY, None)
            st.error(error_text(exc))
            return
        st.session_state[REQUEST_KEY] = submitted
    request: AttackRequest | None = st.session_state.get(REQUEST_KEY)
    if request is None or (request.model_name, request.digest) != (model_name, current.digest):
        st.markdown(_("**Before:** {prediction}").format(prediction=f"{top[0]['label']} ({top[0]['prob']:.1%})"))
        st.info(_("Set epsilon and the other parameters in the sidebar, then press **Run attack**."))
        return
    # A PGD of many steps on a large model takes a while: in the background, step by step.
    settings = (model_name, current.digest, request.method, request.params_key, request.target)
    said, names = progress_words()  # built here: the attack reports from a background thread
    title = Message(N_("Running {method}"), method=request.method.upper())
    result = run_in_background(("attack", *settings), title,
                               lambda progress: run_attack(*settings, _pixels=current.pixels,
                                                           _progress=relay(progress, said, names)))
    if result is None:  # still running (its bar is shown) or failed (its sentence is shown)
        return
    show_results(model_name, loaded, current, request, result)
    robustness_section(model_name, loaded, current, request, result)
    defence_section(model_name, loaded, current, request, result)
