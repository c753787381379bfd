"""Data page: choose or upload a dataset, read its report, see examples and preview augmentation.

Session-state keys this page sets for the Train page:

- ``st.session_state["train_dataset"]``: ``str``, the folder of the chosen dataset, set while the
  dataset is usable and removed when it is not (an error in its report).
- ``st.session_state["train_augment"]``: ``dict``, the augmentation as ``AugmentSpec.to_dict()``
  (rebuild it with ``core.data.augment.AugmentSpec.from_dict``); the page also reads it back to
  restore its sliders.

The page is split into :mod:`dashboard.components.datasets` (choices, built-ins; shared with Evaluate),
:mod:`data_source` (uploads), :mod:`data_report` (cached report and thumbnails) and :mod:`data_augment`
(the live preview).
"""

from __future__ import annotations

import streamlit as st

from core.errors import Message
from dashboard import state
from dashboard.components.corrections import camera_panel
from dashboard.components.datasets import Choice, dataset_choices, ensure_path
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _
from dashboard.views import data_augment, data_report, data_source

TRAIN_DATASET = "train_dataset"
TRAIN_AUGMENT = data_augment.TRAIN_AUGMENT
DATASET_KEY = "data_dataset"  # the dataset selectbox
SELECTED = "data_selected"  # survives visits to other pages (widget values do not)
REMEMBERED = (SELECTED,)  # and a reload (dashboard.page_memory)
DEFAULT_CHOICE = "builtin:shapes"


def main() -> None:
    st.title(_("Data"))
    st.caption(_("Pick a built-in dataset or upload your own images, check what is in it, and choose how "
                 "training images are randomly changed (augmentation) so a model learns the object, "
                 "not the photo."))
    choices, problem = dataset_choices()  # idle sessions' uploads are swept by state.init_session
    if problem:
        st.error(_("Classroom configuration: {error}").format(error=problem))
    with st.sidebar:
        choice = _dataset_picker(choices)
        with st.expander(_("Add your own images"), expanded=False):
            data_source.upload_ui()
    data_source.show_notices()
    if choice is None:
        st.info(_("No dataset is available yet: upload a zip of class folders in the sidebar."))
        return
    path = ensure_path(choice)
    if path is None:
        return
    if choice.key.startswith("version:"):
        _version_changes(path)
    try:
        stamp = data_report.fingerprint(path)
    except OSError as exc:
        st.error(_("The dataset folder cannot be read ({error}).").format(error=exc))
        st.session_state.pop(TRAIN_DATASET, None)
        return
    # Checking every image of a large dataset takes a while: it runs in the background with its progress.
    loaded = run_in_background(("dataset-report", str(path), stamp),
                               Message(N_("Checking every image of {dataset}"), dataset=_title(choice)),
                               lambda progress: data_report.load_dataset(str(path), progress))
    if loaded is None:  # still being checked (its progress is shown) or failed (its sentence is shown)
        st.session_state.pop(TRAIN_DATASET, None)
        return

    st.subheader(_title(choice))
    stored = _("Stored at `{path}`.").format(path=path)
    st.caption(f"{_description(choice)} {stored}" if choice.description else stored)
    report = loaded.report
    data_report.report_ui(report)
    if report.usable:
        st.session_state[TRAIN_DATASET] = str(path)
    else:
        st.session_state.pop(TRAIN_DATASET, None)
        st.info(_("Fix the problems above before training with this dataset; the preview below still works "
                  "with the images that were usable."))
    if not report.num_images:
        return

    st.header(_("Examples"))
    st.caption(_("A few real images of each class, as they are stored (before resizing for a model)."))
    data_report.examples_ui(loaded)

    st.header(_("Augmentation preview"))
    st.caption(_("Augmentation shows the model randomly changed copies of each training image, so it cannot "
                 "memorise exact pixels. Move a slider and the views update; anything that would change the "
                 "class should stay off (the preset's note says which datasets it suits)."))
    data_arg = choice.builtin or str(path)
    data_augment.preview_ui(loaded.by_class, loaded.class_names, data_arg)
    camera_panel(str(path), _title(choice), list(loaded.class_names))


def _version_changes(path) -> None:
    """What a corrected version changed, from which dataset and by whom."""
    import pandas as pd

    from core.data.versions import read_version_meta

    meta = read_version_meta(path) or {}
    who = _("this browser session") if meta.get("owner") == state.session_id() else _("the command line")
    with st.expander(_("What changed in version {n}, made by {who}").format(n=meta.get("number", "?"), who=who)):
        kinds = {"relabel": _("relabelled"), "remove": _("removed"), "add": _("added")}
        image, change, was, now = _("image"), _("change"), _("was"), _("now")
        rows = [{image: str(c.get("path", "")).rsplit("/", 1)[-1], change: kinds.get(c.get("kind"), c.get("kind")),
                 was: c.get("from") or "", now: c.get("label") or ""} for c in meta.get("changes") or []]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="data_version_changes")
        st.caption(_("Made from {parent}; that dataset's files were not changed.").format(parent=meta.get("parent")))


def _dataset_picker(choices: list[Choice]) -> Choice | None:
    """The dataset selectbox; after an import (or a visit elsewhere) it selects the right entry."""
    if not choices:
        return None
    by_key = {c.key: c for c in choices}
    pending = st.session_state.pop(data_source.PENDING, None)
    if pending in by_key:
        st.session_state[DATASET_KEY] = pending
    elif st.session_state.get(DATASET_KEY) not in by_key:
        st.session_state[DATASET_KEY] = _remembered(choices)
    key = st.selectbox(_("Dataset"), list(by_key), key=DATASET_KEY, format_func=lambda k: _label(by_key[k]),
                       on_change=lambda: st.session_state.pop(data_source.NOTICES, None),
                       help=_("Built-in datasets work offline; your uploads stay private to this browser "
                              "session."))
    st.session_state[SELECTED] = key
    chosen = by_key[key]
    if chosen.description:
        st.caption(_description(chosen))
    return chosen


def _remembered(choices: list[Choice]) -> str:
    keys = [c.key for c in choices]
    if st.session_state.get(SELECTED) in keys:
        return st.session_state[SELECTED]
    train_path = st.session_state.get(TRAIN_DATASET)
    for c in choices:
        if train_path and c.path == train_path:
            return c.key
    return DEFAULT_CHOICE if DEFAULT_CHOICE in keys else keys[0]


def _ours(choice: Choice) -> bool:
    """Whether the choice's title and description are ours (a built-in's, in the catalogue), not a user's."""
    return not choice.key.startswith("session:")


def _title(choice: Choice) -> str:
    return _(choice.label) if _ours(choice) and choice.label else choice.label


def _description(choice: Choice) -> str:
    return _(choice.description) if _ours(choice) and choice.description else choice.description


def _label(choice: Choice) -> str:
    if choice.builtin:
        return _("{dataset} · built-in").format(dataset=_title(choice))
    return _title(choice)
