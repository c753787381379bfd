"""Load the page's model, or say in one sentence why it cannot be loaded (the one copy every page uses)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import GlasswingError, Message
from core.zoo import LoadedModel, ModelSpec, get_spec
from dashboard import state
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, error_text


def needs_download(name: str) -> ModelSpec | None:
    """The zoo spec of ``name`` when its ImageNet weights are not on disk yet; None otherwise (or a run)."""
    try:
        spec = get_spec(name)
    except GlasswingError:  # a run folder
        return None
    return spec if spec.status() == "needs download" else None


def load_model_or_explain(name: str, offer_weights: bool = False, key: str = "model") -> LoadedModel | None:
    """The shared LoadedModel, or None after showing why it cannot be loaded.

    ``offer_weights``: when the weights are missing, offer their download (or an upload of the file)
    instead of the loader's error; ``key`` prefixes those widgets' keys.
    """
    spec = needs_download(name) if offer_weights else None
    if spec is not None and not _weights_ui(spec, key):
        return None
    # The first load of a zoo model converts or builds it (seconds to a minute): in the background, with
    # what it is doing; later loads come from core's per-process cache at once.
    from core.zoo import load_model

    if run_in_background(("model", name), Message(N_("Loading {model}"), model=_title(name)),
                         lambda progress: load_model(name, progress=progress) and True) is None:
        return None
    try:
        return state.get_model(name)
    except GlasswingError as exc:
        st.error(error_text(exc))
        return None


def _title(name: str) -> str:
    try:
        return _(get_spec(name).title)
    except GlasswingError:  # a run folder or a .keras file
        return Path(name).name


def weights_upload_mb(name: str | None = None) -> int:
    """The upload size a weights file needs, in MB (one model's, or the largest in the manifest)."""
    from core.zoo.keras_apps import APPS, manifest_entry

    names = [name] if name else [app.name for app in APPS]
    return max(int(manifest_entry(n).get("size_mb", 0)) + 8 for n in names)


def _weights_ui(spec: ModelSpec, key: str) -> bool:
    """Download the missing ImageNet weights, or take the file as an upload; True once they are there."""
    from core.zoo.keras_apps import fetch_weights, install_weights, manifest_entry

    entry = manifest_entry(spec.name)
    file_name = entry["file"]
    st.warning(_("{model} needs its ImageNet weights: from keras.applications ({file}, about {size} MB, "
                 "downloaded on first use).").format(model=_(spec.title), file=file_name, size=entry["size_mb"]))
    upload = st.file_uploader(_("… or upload {file} (checked against its published checksum)").format(file=file_name),
                              type=["h5"], key=f"{key}_weights_upload_{spec.name}",
                              max_upload_size=weights_upload_mb(spec.name))
    if upload is not None:
        try:
            install_weights(spec.name, upload.getvalue())
        except GlasswingError as exc:
            st.error(error_text(exc))
            return False
        st.success(_("{file} is in place; {model} is ready.").format(file=file_name, model=_(spec.title)))
        return True
    if not st.button(_("Download the weights"), key=f"{key}_download"):
        return False
    slot = st.empty()  # the progress bar goes when the download ends, whichever way
    bar = slot.progress(0.0, text=_("Downloading ..."))
    try:
        fetch_weights(spec.name, lambda fraction, text: bar.progress(fraction, text=text))
    except GlasswingError as exc:
        slot.empty()
        st.error(error_text(exc))
        return False
    slot.empty()
    return True
