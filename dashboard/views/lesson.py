"""Lesson page: a guided tour of the whole loop on built-in data, no upload needed.

Look at the data, augment, train, evaluate, explain, discover the shortcut, attack. The step index is in
session state and moves with Next/Back; each step is a short text for students and reuses core/.
"""

from __future__ import annotations

import streamlit as st

from core.data.augment import PRESETS
from core.errors import GlasswingError
from dashboard import state
from dashboard.i18n import N_, _, error_text
from dashboard.views import lesson_data as ld
from dashboard.views import lesson_steps as steps
from dashboard.views.lesson_train import recover, train_step

STEP_KEY = "lesson_step"
TITLES = (N_("Look at the data"), N_("Augment"), N_("Train"), N_("Evaluate"), N_("Explain"),
          N_("Discover the shortcut"), N_("Attack"))


# A reload returns to the step and its settings (dashboard.page_memory), as the training job is found again.
REMEMBERED = (STEP_KEY, "lesson_per_class", "lesson_epochs", "lesson_augment")


def main() -> None:
    st.title(_("Lesson: train, test, explain and fool an image classifier"))
    st.session_state.setdefault(STEP_KEY, 0)
    try:
        recover()
    except GlasswingError as exc:  # the training queue (GLASSWING_QUEUE) is down: the other steps still work
        st.error(error_text(exc))
    per_class, epochs, preset = _settings()
    step = min(max(int(st.session_state[STEP_KEY]), 0), len(TITLES) - 1)
    st.progress((step + 1) / len(TITLES), text=_("Step {step} of {steps}: {title}").format(
        step=step + 1, steps=len(TITLES), title=_(TITLES[step])))
    try:
        with st.spinner(_("Preparing the built-in shapes dataset (first time only) ...")):
            folder = ld.dataset_folder(per_class)
            info = ld.dataset_info(folder)
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    st.header(_("{step}. {title}").format(step=step + 1, title=_(TITLES[step])))
    if step == 0:
        steps.data_step(folder, info)
    elif step == 1:
        steps.augment_step(info, preset)
    elif step == 2:
        try:
            train_step(folder, epochs, preset)
        except GlasswingError as exc:
            st.error(error_text(exc))
    elif step == 3:
        steps.evaluate_step(folder)
    elif step == 4:
        steps.explain_step(folder, info)
    elif step == 5:
        steps.shortcut_step(folder, info)
    else:
        steps.attack_step(folder, info)
    _navigation(step)


def _settings() -> tuple[int, int, str]:
    """Sidebar: dataset size, epochs (within the classroom's limit) and augmentation."""
    room = state.classroom()
    max_epochs = min(room.max_epochs or 20, 20)
    with st.sidebar:
        st.subheader(_("Lesson settings"))
        per_class = st.number_input(_("Images per class"), 20, 1000, ld.DEFAULT_PER_CLASS, step=20,
                                    key="lesson_per_class", help=_("More images: better model, longer training."))
        epochs_help = (_("Passes over the training images. This classroom allows at most {n}.").format(
            n=room.max_epochs) if room.max_epochs else _("Passes over the training images."))
        epochs = st.slider(_("Epochs"), 1, max_epochs, min(ld.DEFAULT_EPOCHS, max_epochs), key="lesson_epochs",
                           help=epochs_help)
        # Labels fixed now: a format_func that looked the language up later (AppTest calls it outside
        # the script run) would not know the session's language.
        labels = {name: ld.preset_label(name) for name in PRESETS}
        preset = st.selectbox(_("Augmentation"), list(PRESETS), index=0, key="lesson_augment",
                              format_func=labels.__getitem__,
                              help=_("Random changes to the training images (step 2 shows them)."))
    return int(per_class), int(epochs), preset


def _navigation(step: int) -> None:
    st.divider()
    back, _gap, forward = st.columns([1, 4, 1])
    if back.button(_("← Back"), key="lesson_back", disabled=step == 0, width="stretch"):
        st.session_state[STEP_KEY] = step - 1
        st.rerun()
    if forward.button(_("Next →"), key="lesson_next", disabled=step == len(TITLES) - 1, type="primary",
                      width="stretch"):
        st.session_state[STEP_KEY] = step + 1
        st.rerun()
