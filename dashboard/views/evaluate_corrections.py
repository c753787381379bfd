"""Evaluate page, the feedback loop: a wrong label found in the drill-down becomes a correction, corrections
become a new version of the dataset (:mod:`core.data.versions`; the original is never changed), and the run
is retrained on that version in one click.

Corrections wait in the session, per dataset, until saved or discarded, so several can be gathered while
going through the mistakes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.labels import display_label
from core.errors import GlasswingError
from core.evaluate import EvaluationResult
from core.evaluate.classmap import is_run
from core.zoo import LoadedModel
from dashboard import state
from dashboard.components.datasets import changes_text
from dashboard.i18n import _, error_text
from dashboard.services.training import start_job
from dashboard.views.evaluate_source import Selection

PENDING = "evaluate_corrections"  # session state: {dataset: {image path: (kind, label or None)}}
SAVED = "evaluate_saved_version"  # session state: (dataset, version id, version folder) just saved


def _pending(data: str) -> dict[str, tuple[str, str | None]]:
    return st.session_state.setdefault(PENDING, {}).setdefault(data, {})


def image_panel(result: EvaluationResult, sel: Selection, row: dict) -> None:
    """Under the inspected image: say its label is wrong (and which is right), or leave it out."""
    names = list(result.class_names)
    path, true = row["path"], int(row["true"])
    pending = _pending(sel.data)
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
    return _("relabel as {label}").format(label=display_label(label)) if kind == "relabel" else _("leave out")


def corrections_section(sel: Selection, loaded: LoadedModel) -> None:
    """The corrections gathered for this dataset, saved as a version; then retraining the run on it."""
    pending = _pending(sel.data)
    saved = st.session_state.get(SAVED)
    if not pending and not (saved and saved[0] == sel.data):
        return
    st.subheader(_("Corrections to {dataset}").format(dataset=sel.data_label))
    if pending:
        image, change = _("image"), _("change")
        st.dataframe(pd.DataFrame([{image: Path(p).name, change: _describe(c)} for p, c in pending.items()]),
                     hide_index=True, width="stretch", key="evaluate_corrections_table")
        c1, c2 = st.columns(2)
        if c1.button(_("Save as a new version ({n} changes)").format(n=len(pending)), type="primary",
                     key="evaluate_corrections_save"):
            _save(sel, pending)
        if c2.button(_("Discard the corrections"), key="evaluate_corrections_discard"):
            pending.clear()
            st.rerun()
    saved = st.session_state.get(SAVED)
    if saved and saved[0] == sel.data:
        _retrain(saved, loaded)


def _save(sel: Selection, pending: dict) -> None:
    from core.data.versions import Change, make_version

    changes = [Change(kind, path, label) for path, (kind, label) in pending.items()]
    try:
        with st.spinner(_("Making the new version ...")):
            version = make_version(sel.data, changes, owner=state.session_id())
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    pending.clear()
    st.session_state[SAVED] = (sel.data, version.id, str(version.path), version.summary())
    st.rerun()


def _retrain(saved: tuple, loaded: LoadedModel) -> None:
    _data, version_id, folder, counts = saved
    st.success(_("Saved as {version} ({changes}); the original dataset is unchanged. Pick it as the dataset "
                 "on the Train or Evaluate page, or retrain this run on it.").format(
        version=version_id, changes=changes_text(counts)))
    if not is_run(loaded) or not state.classroom().can_train:
        return
    if st.button(_("Retrain {run} on {version}").format(run=loaded.name, version=version_id),
                 key="evaluate_corrections_retrain"):
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
