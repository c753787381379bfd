"""Reusable widgets: model picker, image picker, parameter widgets built from declared specs."""

from __future__ import annotations

import streamlit as st

from core.errors import GlasswingError, ImageError
from core.images import load_image
from core.samples import SAMPLES, load_sample
from core.zoo import list_models
from dashboard.state import SessionImage, add_image, classroom, init_session, session_id

STATUS_BADGE = {"ready": "ready", "cached": "ready to convert", "needs download": "needs download",
                "unavailable": "unavailable", "untrained": "train first"}


def model_picker(key: str = "model", include_runs: bool = True) -> str:
    """Pick a zoo model (or a finished run of this session, or a shared one); returns its name or run folder.

    In a classroom only the teacher's models (and preloaded run) are offered.
    """
    from core.train.runs import list_runs

    room = classroom()
    specs = {s.name: s for s in list_models() if s.pretrained}
    options = room.allowed_models([name for name in specs])
    labels = {n: f"{specs[n].title} · {STATUS_BADGE.get(specs[n].status(), specs[n].status())}" for n in options}
    if room.preloaded_run is not None:
        options.insert(0, str(room.preloaded_run))
        labels[str(room.preloaded_run)] = f"Class model: {room.preloaded_run.name}"
    if include_runs:  # fine-tuned runs appear next to the zoo models
        for run in list_runs(owner=session_id()):
            if run.complete and str(run.path) not in labels:
                options.append(str(run.path))
                labels[str(run.path)] = f"Run: {run.name} · {run.base_model}"
    default = options.index(room.default_model(list(specs)))
    return st.selectbox("Model", options, index=default, key=key, format_func=lambda n: labels.get(n, n),
                        help="Zoo models with ImageNet weights, and your finished training runs.")


def image_picker(key: str = "images") -> list[SessionImage]:
    """Samples, uploads or the camera; returns the images chosen (each decoded once per session)."""
    init_session()
    source = st.radio("Image source", ["Sample photos", "Upload", "Camera"], horizontal=True,
                      key=f"{key}_source", help="Sample photos ship with Glasswing and work offline.")
    chosen: list[SessionImage] = []
    if source == "Sample photos":
        names = st.multiselect("Sample photos", list(SAMPLES), default=["cat"], key=f"{key}_samples",
                               format_func=lambda n: f"{n} ({SAMPLES[n][1]})")
        chosen = [_cached_sample(name) for name in names]
    elif source == "Upload":
        files = st.file_uploader("Images (JPEG, PNG, WebP, BMP, GIF)", accept_multiple_files=True,
                                 type=["jpg", "jpeg", "png", "webp", "bmp", "gif"], key=f"{key}_upload")
        for f in files or []:
            item = _decode_upload(f.name, f.getvalue())
            if item is not None:
                chosen.append(item)
    else:
        shot = st.camera_input("Take a photo", key=f"{key}_camera")
        if shot is not None:
            item = _decode_upload("camera.jpg", shot.getvalue())
            if item is not None:
                chosen.append(item)
    return chosen


def _cached_sample(name: str) -> SessionImage:
    return add_image(f"sample: {name}", load_sample(name))


def _decode_upload(name: str, data: bytes) -> SessionImage | None:
    limit = classroom().upload_limit_bytes
    if len(data) > limit:
        st.error(f"{name}: {len(data) / 2**20:.1f} MB is over the {limit / 2**20:.0f} MB upload limit.")
        return None
    try:
        return add_image(name, load_image(data, name=name))
    except ImageError as exc:
        st.error(str(exc))
        return None


def param_widgets(params, key: str) -> dict:
    """Sliders and inputs from declared parameter specs (name, type, default, min, max, help)."""
    values = {}
    for p in params:
        wkey = f"{key}_{p.name}"
        label = getattr(p, "label", None) or p.name.replace("_", " ")
        if p.type is bool:
            values[p.name] = st.checkbox(label, value=bool(p.default), key=wkey, help=p.help)
        elif p.type is int:
            values[p.name] = st.slider(label, int(p.min), int(p.max), int(p.default), key=wkey, help=p.help)
        elif p.type is float:
            step = getattr(p, "step", None) or (float(p.max) - float(p.min)) / 100
            values[p.name] = st.slider(label, float(p.min), float(p.max), float(p.default), step=step,
                                       key=wkey, help=p.help)
        elif getattr(p, "choices", None):
            values[p.name] = st.selectbox(label, list(p.choices), index=list(p.choices).index(p.default),
                                          key=wkey, help=p.help)
    return values


def show_error(exc: GlasswingError) -> None:
    st.error(str(exc))
