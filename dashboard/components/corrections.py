"""The feedback loop, on any page: a wrong label (the Evaluate drill-down) or a photo to add (the Explain page)
becomes a correction, corrections become a new version of the dataset (:mod:`core.data.versions`; the original
is never changed), and a run is retrained on that version in one click.

Corrections wait in the session, per dataset, until saved or discarded, so several can be gathered while
going through the mistakes or the photos.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.labels import display_label
from core.errors import GlasswingError
from core.evaluate import EvaluationResult
from core.evaluate.classmap import is_run
from core.zoo import LoadedModel
from dashboard import state
from dashboard.choices import keep_choice
from dashboard.components.datasets import changes_text, dataset_choices
from dashboard.i18n import _, error_text
from dashboard.services.training import start_job
from dashboard.state import SessionImage

PENDING = "corrections_pending"  # session state: {dataset: {image path: (kind, label or None)}}
SAVED = "corrections_saved_version"  # session state: (dataset, version id, version folder) just saved


def _pending(data: str) -> dict[str, tuple[str, str | None]]:
    return st.session_state.setdefault(PENDING, {}).setdefault(data, {})


def image_panel(result: EvaluationResult, data: str, row: dict) -> None:
    """Under an inspected image of ``data``: say its label is wrong (and which is right), or leave it out."""
    names = list(result.class_names)
    path, true = row["path"], int(row["true"])
    pending = _pending(data)
    with st.expander(_("Is this label wrong? Correct the dataset"), expanded=path in pending):
        tag = hashlib.sha1(path.encode("utf-8", "surrogatepass")).hexdigest()[:10]  # widgets per image
        c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
        right = c1.selectbox(_("Its right class"), names, index=true, key=f"evaluate_fix_label_{tag}",
                             format_func=display_label)
        if c2.button(_("Relabel"), key=f"evaluate_fix_relabel_{tag}", disabled=right == names[true]):
            pending[path] = ("relabel", right)
        if c3.button(_("Leave it out"), key=f"evaluate_fix_remove_{tag}"):
            pending[path] = ("remove", None)
        change = pending.get(path)
        if change is not None:
            st.caption(_describe(change) + " · " + _("not saved yet: see the corrections below"))
        st.caption(_("Corrections make a new version of the dataset; the original files are never changed."))


def _describe(change: tuple[str, str | None]) -> str:
    kind, label = change
    if kind == "add":
        return _("add as {label}").format(label=display_label(label))
    return _("relabel as {label}").format(label=display_label(label)) if kind == "relabel" else _("leave out")


def corrections_section(data: str, data_label: str, loaded: LoadedModel | None) -> None:
    """The corrections gathered for ``data``, saved as a version; then retraining ``loaded`` (a run) on it."""
    pending = _pending(data)
    saved = st.session_state.get(SAVED)
    if not pending and not (saved and saved[0] == data):
        return
    st.subheader(_("Corrections to {dataset}").format(dataset=data_label))
    if pending:
        image, change = _("image"), _("change")
        st.dataframe(pd.DataFrame([{image: Path(p).name, change: _describe(c)} for p, c in pending.items()]),
                     hide_index=True, width="stretch", key="corrections_table")
        c1, c2 = st.columns(2)
        if c1.button(_("Save as a new version ({n} changes)").format(n=len(pending)), type="primary",
                     key="corrections_save"):
            _save(data, pending)
        if c2.button(_("Discard the corrections"), key="corrections_discard"):
            pending.clear()
            st.rerun()
    saved = st.session_state.get(SAVED)
    if saved and saved[0] == data:
        _retrain(saved, loaded)


def _save(data: str, pending: dict) -> None:
    from core.data.versions import Change, make_version

    changes = [Change(kind, path, label) for path, (kind, label) in pending.items()]
    try:
        with st.spinner(_("Making the new version ...")):
            version = make_version(data, changes, owner=state.session_id())
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    pending.clear()
    st.session_state[SAVED] = (data, version.id, str(version.path), version.summary())
    st.rerun()


def _retrain(saved: tuple, loaded: LoadedModel | None) -> None:
    _data, version_id, folder, counts = saved
    st.success(_("Saved as {version} ({changes}); the original dataset is unchanged. Pick it as the dataset "
                 "on the Train or Evaluate page, or retrain this run on it.").format(
        version=version_id, changes=changes_text(counts)))
    if loaded is None or not is_run(loaded) or not state.classroom().can_train:
        return
    if st.button(_("Retrain {run} on {version}").format(run=loaded.name, version=version_id),
                 key="corrections_retrain"):
        from core.train.config import TrainConfig
        from core.train.runs import CONFIG_FILE, read_json

        try:
            config = TrainConfig.from_dict(read_json(loaded.path.parent, CONFIG_FILE) or {})
            config = config.with_changes(data=folder, name=f"{loaded.name} on {version_id}").validate()
            start_job(config, state.classroom(), state.session_id())
        except GlasswingError as exc:
            st.error(error_text(exc))
            return
        st.success(_("Training started with the run's own settings on {version}: follow it on the Train page, "
                     "then compare the two runs here (A/B).").format(version=version_id))


def _stage_photo(data: str, label: str, pixels, name: str) -> None:
    """Keep a photo under this session's folder (PNG, written whole) as a correction adding it to ``label``:
    the version copies it in when the corrections are saved."""
    from core.atomic import atomic_path
    from core.data.sessions import session_dir
    from core.images import to_png_bytes

    folder = session_dir(state.session_id()) / "photos-to-add"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    with atomic_path(path) as tmp:
        tmp.write_bytes(to_png_bytes(pixels))
    _pending(data)[str(path)] = ("add", label)


def add_photo_panel(image: SessionImage) -> None:
    """Below a photo: add it to a class of a dataset (the datasets this session may use that exist on disk)."""
    from core.data.scan import class_labels

    with st.expander(_("Add this photo to a dataset")):
        choices = {c.key: c for c in dataset_choices()[0] if c.path}
        if not choices:
            st.caption(_("No dataset on disk yet: make or upload one on the Data page."))
            return
        key = st.selectbox(_("Dataset"), list(choices), format_func=lambda k: choices[k].label,
                           key="explain_add_dataset")
        data = choices[key].path
        classes = class_labels(data)  # the labels a scan gives, read from the folders alone
        if not classes:
            st.caption(_("This dataset has no class folders to add to."))
            return
        c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
        keep_choice("explain_add_class", classes, classes[0], data)
        label = c1.selectbox(_("Class"), classes, key="explain_add_class", format_func=display_label)
        if c2.button(_("Add"), key="explain_add_photo"):
            stem = re.sub(r"[^\w.-]+", "_", Path(image.name).stem).strip("._")[:60] or "photo"
            _stage_photo(data, label, image.pixels, f"{stem}-{image.digest[:8]}")
        st.caption(_("The photo is added to a new version of the dataset when the corrections are saved; the "
                     "dataset itself is never changed."))
        corrections_section(data, choices[key].label, None)


def camera_panel(data: str, data_label: str, classes: list[str]) -> None:
    """Teachable Machine's loop on the Data page: grow a class (or start one) a camera shot at a time; the shots
    gather as corrections and are saved as a new version of ``data``."""
    from core.images import load_image

    new = _("a new class ...")
    with st.expander(_("Grow a class from the camera, a shot at a time")):
        # The camera is asked for only when switched on (a browser asks the person's permission for it).
        if not st.toggle(_("Use the camera"), key="data_camera_on"):
            corrections_section(data, data_label, None)
            return
        shot = st.camera_input(_("Take a shot"), key="data_camera")
        c1, c2 = st.columns(2)
        keep_choice("data_camera_class", [*classes, new], classes[0] if classes else new, data)
        picked = c1.selectbox(_("Class"), [*classes, new], key="data_camera_class",
                              format_func=lambda c: c if c == new else display_label(c))
        label = c2.text_input(_("New class name"), key="data_camera_new").strip() if picked == new else picked
        if st.button(_("Add the shot"), key="data_camera_add", disabled=shot is None or not label):
            try:
                pixels = load_image(shot.getvalue(), shot.name)  # checked as every upload is
            except GlasswingError as exc:
                st.error(error_text(exc))
                return
            _stage_photo(data, label, pixels, f"camera-{hashlib.sha1(shot.getvalue()).hexdigest()[:10]}")
        st.caption(_("Each shot waits below until the corrections are saved as a new version; then train on it "
                     "(the head trains in seconds on a built-in backbone) and try it on the Explain page's camera."))
        corrections_section(data, data_label, None)
