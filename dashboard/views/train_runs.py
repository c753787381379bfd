"""The Train page's "Your runs": finished and failed runs of this session (and shared ones), with
rename, share, delete, export and a way to evaluate or explain them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import GlasswingError, Message
from core.train import runs
from core.train.runs import RunInfo, delete_run, list_runs, rename_run, share_run
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, error_text
from dashboard.views.train_charts import curve_figure, curve_points, curves_from_history, stage2_start
from dashboard.views.train_live import run_summary

EXPORT_LABELS = {"keras": N_("Keras (.keras)"), "savedmodel": N_("TensorFlow SavedModel (zip)"),
                 "tflite-float16": "TFLite, float16", "tflite-int8": N_("TFLite, int8 (smallest)")}
# The run list's columns: English keys (the tests read them), shown in the session's language.
COLUMNS = {"name": N_("name"), "status": N_("status"), "base model": N_("base model"),
           "val accuracy": N_("val accuracy"), "test accuracy": N_("test accuracy"), "shared": N_("shared"),
           "yours": N_("yours"), "created": N_("created"), "id": N_("id")}


def export_label(fmt: str) -> str:
    return _(EXPORT_LABELS[fmt])


def status_word(status: str) -> str:
    """A run's or job's status (core's words, marked there) in the session's language."""
    return _(status) if status else status


def is_mine(run: RunInfo, owner: str) -> bool:
    """This session may change the run: it owns it, or created it and shared it."""
    return run.owner == owner or (run.owner is None and run.meta.get("creator") == owner)


def runs_ui(owner: str) -> None:
    st.subheader(_("Your runs"))
    all_runs = list_runs(owner=owner)
    if not all_runs:
        st.caption(_("Your finished trainings will be listed here, with their accuracy, for you to rename, "
                     "share, export or delete. They also appear in the model picker of every page."))
        return
    shown = {key: _(label) for key, label in COLUMNS.items()}
    st.dataframe(_table(all_runs, owner), hide_index=True, width="stretch", key="train_runs_table",
                 column_config={shown["val accuracy"]: st.column_config.NumberColumn(format="percent"),
                                shown["test accuracy"]: st.column_config.NumberColumn(format="percent")})
    by_id = {r.id: r for r in all_runs}
    _pick_newest_own_run(all_runs, owner)
    picks = {i: f"{r.name} · {status_word(r.status)}" for i, r in by_id.items()}
    run_id = st.selectbox(_("Run"), list(by_id), key="train_runs_pick", format_func=picks.__getitem__)
    run = by_id[run_id]
    if run.error:
        st.error(_("This run failed: {error}").format(error=run.error))
    if run.complete:
        st.caption(_("Finished runs are in the model picker of the Explain, Evaluate, Trust and Attack pages "
                     "as “Run: {name}”.").format(name=run.name))
        _open_elsewhere(run)
    with st.expander(_("Curves and confusion matrix"), expanded=False):
        _details(run)
    if is_mine(run, owner):
        _manage(run, owner)
    else:
        st.caption(_("A run shared by someone else: you can use and export it, but not change it."))
    if run.complete:
        _export(run, owner)


def _pick_newest_own_run(all_runs: list[RunInfo], owner: str) -> None:
    """Select this session's newest run when one appears (a training just finished), not a newer run
    that someone else shared; otherwise keep the user's choice while it still exists."""
    newest_mine = next((r.id for r in all_runs if is_mine(r, owner)), None)
    if newest_mine is not None and st.session_state.get("train_runs_newest_mine") != newest_mine:
        st.session_state["train_runs_newest_mine"] = newest_mine
        st.session_state["train_runs_pick"] = newest_mine
    elif st.session_state.get("train_runs_pick") not in {r.id for r in all_runs}:
        st.session_state["train_runs_pick"] = newest_mine or all_runs[0].id


def _table(all_runs: list[RunInfo], owner: str) -> pd.DataFrame:
    rows = [{
        "name": r.name, "status": status_word(r.status), "base model": r.base_model,
        "val accuracy": r.metrics.get("val_accuracy"), "test accuracy": r.metrics.get("test_accuracy"),
        "shared": r.owner is None, "yours": is_mine(r, owner), "created": r.created, "id": r.id,
    } for r in all_runs]
    return pd.DataFrame(rows, columns=list(COLUMNS)).rename(columns={k: _(v) for k, v in COLUMNS.items()})


def _open_elsewhere(run: RunInfo) -> None:
    from dashboard.navigation import page

    cols = st.columns(2)
    if cols[0].button(_("Explain its predictions"), key="train_run_explain", icon=":material/visibility:"):
        st.session_state["explain_model"] = str(run.path)  # the Explain page's model picker
        st.switch_page(page("explain", default=True))
    cols[1].page_link(page("evaluate"), icon=":material/grid_on:",
                      label=_("Evaluate it (pick “Run: {name}”)").format(name=run.name))


def _details(run: RunInfo) -> None:
    curves = curves_from_history(runs.read_json(run.path, runs.HISTORY_FILE))
    points = curve_points(curves)
    if points.empty:
        st.caption(_("No training curves were saved for this run."))
    else:
        left, right = st.columns(2)
        start = stage2_start(curves)
        left.plotly_chart(curve_figure(points, "loss", start), width="stretch", key="train_run_loss")
        right.plotly_chart(curve_figure(points, "accuracy", start), width="stretch", key="train_run_accuracy")
    if run.complete:
        run_summary(run.path, key="train_run")


def _manage(run: RunInfo, owner: str) -> None:
    rename_col, share_col, delete_col = st.columns(3)
    with rename_col:
        new_name = st.text_input(_("New name"), value=run.name, key=f"train_rename_{run.id}", max_chars=200)
        if st.button(_("Rename"), key=f"train_rename_go_{run.id}"):
            _act(lambda: rename_run(run.id, new_name, owner=owner), _("Renamed."))
    with share_col:
        shared = st.toggle(_("Shared with every session"), value=run.owner is None, key=f"train_share_{run.id}",
                           help=_("A shared run appears in everyone's model pickers. Only you can change it."))
        if shared != (run.owner is None):
            _act(lambda: share_run(run.id, shared=shared, owner=owner),
                 _("Shared with everyone.") if shared else _("Private again."))
    with delete_col:
        sure = st.checkbox(_("Yes, delete this run for good"), key=f"train_delete_sure_{run.id}")
        if st.button(_("Delete run"), key=f"train_delete_{run.id}", disabled=not sure, type="secondary"):
            _act(lambda: delete_run(run.id, owner=owner), _("Deleted {name}.").format(name=run.name))


def _act(action, done: str) -> None:
    try:
        action()
    except GlasswingError as exc:
        st.error(error_text(exc))
        return
    st.toast(done)
    st.rerun()


def _export(run: RunInfo, owner: str) -> None:
    from core.train.export import FORMATS

    with st.container(border=True):
        st.markdown("**" + _("Export") + "**")
        formats = {fmt: export_label(fmt) for fmt in FORMATS}
        fmt = st.selectbox(_("Format"), FORMATS, format_func=formats.__getitem__, key="train_export_format",
                           help=_("Every export is loaded back and compared with the Keras model on the "
                                  "validation images."))
        key = ("export", str(run.path), fmt, owner)
        started = st.session_state.setdefault("train_exports", set())  # exports this session asked for
        if st.button(_("Prepare the export"), key="train_export_go"):
            from dashboard.services import tasks

            task = tasks.find(key)
            if task is not None and task.done and (task.error is not None
                                                   or not Path(task.result["exports"][0]["path"]).exists()):
                tasks.forget(key)  # it failed, or its files were removed since: export again
            started.add(key)
        if key not in started:
            return
        from core.train.export import export_run

        report = run_in_background(key, Message(N_("Exporting {format} and checking it"), format=export_label(fmt)),
                                   lambda progress: export_run(run.path, [fmt], owner=owner, progress=progress))
        if report is None:
            return
        result = report["exports"][0]
        path = Path(result["path"])
        if not path.exists():
            started.discard(key)
            return
        if result.get("warning"):  # a large drop (a poorly calibrated int8 model) is a warning, not a caption
            st.warning(result["warning"])
        st.caption(_("{size} MB · same top class as the Keras model on {agreement} of {n} validation images · "
                     "the largest change of any class probability on any of them: {difference} percentage "
                     "points").format(
                         size=f"{result['bytes'] / 1e6:.1f}", agreement=f"{result['top1_agreement']:.1%}",
                         n=result["count"], difference=f"{100 * result['max_abs_diff']:.2f}"))
        name = f"{run.id}-saved_model.zip" if path.is_dir() else f"{run.id}-{path.name}"
        st.download_button(_("Download {format}").format(format=export_label(fmt)), data=lambda p=path: _file_bytes(p),
                           file_name=name, mime="application/octet-stream", key="train_export_download",
                           icon=":material/download:")


def _file_bytes(path: Path) -> bytes:
    """The file itself, or a folder (SavedModel) zipped in memory."""
    if path.is_file():
        return path.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in sorted(path.rglob("*")):
            if item.is_file():
                zf.write(item, Path(path.name) / item.relative_to(path))
    return buf.getvalue()
