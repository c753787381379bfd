"""The model picker of every page, and the one table of model status badges."""

from __future__ import annotations

import streamlit as st

from core.classroom import ClassroomConfig
from core.zoo import ModelSpec, list_models
from dashboard.i18n import N_, _, error_text
from dashboard.state import classroom, session_id

STATUS_BADGE = {"ready": N_("ready"), "cached": N_("ready to convert"), "needs download": N_("needs download"),
                "unavailable": N_("unavailable"), "untrained": N_("from scratch")}


def model_label(spec: ModelSpec) -> str:
    """"Title · status" for a zoo model, e.g. "EfficientNet-Lite0 · ready"."""
    status = spec.status()
    return f"{_(spec.title)} · {_(STATUS_BADGE.get(status, status))}"


def model_options(room: ClassroomConfig, owner: str, pretrained_only: bool = True,
                  include_runs: bool = True) -> dict[str, str]:
    """``{model: label}``: the classroom's zoo models (only those with weights unless ``pretrained_only``
    is False), then the finished runs of ``owner`` (and shared ones)."""
    from core.train.runs import list_runs

    specs = {s.name: s for s in list_models() if s.pretrained or not pretrained_only}
    options = {name: model_label(specs[name]) for name in room.allowed_models(list(specs))}
    if include_runs:  # fine-tuned runs appear next to the zoo models
        for run in list_runs(owner=owner):
            if run.complete and str(run.path) not in options:
                options[str(run.path)] = _("Run: {name} · {base}").format(name=run.name, base=run.base_model)
    return options


def model_picker(key: str = "model", include_runs: bool = True) -> str:
    """Pick a zoo model (or a finished run of this session, or a shared one); returns its name or run folder.

    In a classroom only the teacher's models (and preloaded run) are offered.
    """
    room = classroom()
    labels = model_options(room, session_id(), include_runs=include_runs)
    if room.preloaded_run is not None:  # first, under the teacher's name for it
        run = str(room.preloaded_run)
        labels = {run: _("Class model: {name}").format(name=room.preloaded_run.name),
                  **{k: v for k, v in labels.items() if k != run}}
    options = list(labels)
    default = options.index(room.default_model([s.name for s in list_models() if s.pretrained]))
    pending = st.session_state.pop(f"{key}_added", None)  # a model just uploaded: chosen at once
    if pending in labels:
        st.session_state[key] = pending
    elif st.session_state.get(key) not in labels:  # first visit, or a run deleted since
        st.session_state[key] = options[default]
    picked = st.selectbox(_("Model"), options, key=key, format_func=lambda n: labels.get(n, n),
                          help=_("Zoo models with ImageNet weights, your finished training runs and the models "
                                 "you uploaded."))
    if include_runs and room.models is None and not room.read_only:  # a classroom fixes its models
        own_model_upload(key)
    return picked


RANGE_LABELS = {"auto": N_("Tell from the model"), "0-255": N_("0 to 255 (raw pixels)"), "0-1": N_("0 to 1"),
                "-1-1": N_("-1 to 1")}


def own_model_upload(key: str) -> None:
    """Upload a .keras classifier (and its class names); it becomes one of this session's runs."""
    from core.config import model_upload_bytes
    from core.errors import GlasswingError
    from core.zoo.upload import InputRangeUnknown, import_model

    # A toggle, not an expander: the uploaders exist only once asked for, so no page carries two idle
    # file inputs beside its photo uploader.
    if not st.toggle(_("Use your own model (.keras)"), key=f"{key}_own"):
        return
    with st.container(border=True):
        with st.form(f"{key}_upload_form", clear_on_submit=False):
            model_file = st.file_uploader(_("Keras 3 model"), type=["keras"], key=f"{key}_upload_file",
                                          max_upload_size=max(1, model_upload_bytes() // 2**20))
            names_file = st.file_uploader(_("Class names (optional: a .txt file, one name per line)"), type=["txt"],
                                          key=f"{key}_upload_names")
            input_range = st.radio(_("Pixels the model expects"), list(RANGE_LABELS), key=f"{key}_upload_range",
                                   format_func={r: _(t) for r, t in RANGE_LABELS.items()}.__getitem__,
                                   horizontal=True,
                                   help=_("Only needed when the model does not rescale its own input: the "
                                          "range its training images had."))
            added = st.form_submit_button(_("Add the model"))
        if not added:
            return
        if model_file is None:
            st.warning(_("Choose a .keras file first."))
            return
        try:
            names = names_file.getvalue().decode("utf-8") if names_file is not None else None
        except UnicodeDecodeError:
            st.error(_("The class names file is not UTF-8 text."))
            return
        try:
            with st.spinner(_("Checking {file} ...").format(file=model_file.name)):
                run = import_model(model_file.getvalue(), model_file.name, session_id(), names, input_range,
                                   max_bytes=model_upload_bytes())
        except InputRangeUnknown as exc:
            st.warning(error_text(exc))
            return
        except GlasswingError as exc:
            st.error(error_text(exc))
            return
        st.session_state[f"{key}_added"] = str(run)
        st.rerun()
