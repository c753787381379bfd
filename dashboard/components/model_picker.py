"""The model picker of every page, and the one table of model status badges."""

from __future__ import annotations

import streamlit as st

from core.classroom import ClassroomConfig
from core.zoo import ModelSpec, list_models
from dashboard.state import classroom, session_id

STATUS_BADGE = {"ready": "ready", "cached": "ready to convert", "needs download": "needs download",
                "unavailable": "unavailable", "untrained": "from scratch"}


def model_label(spec: ModelSpec) -> str:
    """"Title · status" for a zoo model, e.g. "EfficientNet-Lite0 · ready"."""
    status = spec.status()
    return f"{spec.title} · {STATUS_BADGE.get(status, status)}"


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
                options[str(run.path)] = f"Run: {run.name} · {run.base_model}"
    return options


def model_picker(key: str = "model", include_runs: bool = True) -> str:
    """Pick a zoo model (or a finished run of this session, or a shared one); returns its name or run folder.

    In a classroom only the teacher's models (and preloaded run) are offered.
    """
    room = classroom()
    labels = model_options(room, session_id(), include_runs=include_runs)
    if room.preloaded_run is not None:  # first, under the teacher's name for it
        run = str(room.preloaded_run)
        labels = {run: f"Class model: {room.preloaded_run.name}", **{k: v for k, v in labels.items() if k != run}}
    options = list(labels)
    default = options.index(room.default_model([s.name for s in list_models() if s.pretrained]))
    return st.selectbox("Model", options, index=default, key=key, format_func=lambda n: labels.get(n, n),
                        help="Zoo models with ImageNet weights, and your finished training runs.")
