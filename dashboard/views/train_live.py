"""The Train page's live panel: the session's current job, redrawn every second while it trains.

The job lives in the process-wide queue (:func:`core.train.jobs.job_queue`), not in the script: a
rerun, a widget change or a visit to another page never restarts or loses it. The panel finds it
again by the id kept in session state, or as this session's newest unfinished job.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import UnknownNameError
from core.train import runs
from core.train.events import format_eta
from core.train.jobs import COMPLETE, FAILED, QUEUED, STOPPED, STOPPING, Job, job_queue
from dashboard.components.confusion import confusion_figure
from dashboard.views.train_charts import (
    curve_figure,
    curve_points,
    per_class_table,
    stage2_start,
)

PHASES = {"queued": "Waiting in line", "starting": "Starting the training process",
          "loading": "Opening the data and the model", "features": "Computing backbone features",
          "stage1": "Training", "stage2": "Fine-tuning", "evaluating": "Evaluating", "saving": "Saving",
          "complete": "Finished", "stopped": "Stopped", "failed": "Failed", "stopping": "Stopping"}


def current_job(owner: str) -> Job | None:
    """The job this session follows: the one it started last, else its newest unfinished one, else the
    newest finished one."""
    queue = job_queue()
    job_id = st.session_state.get("train_job_id")
    if job_id:
        try:
            return queue.get(job_id, owner)
        except UnknownNameError:
            st.session_state.pop("train_job_id", None)  # forgotten by a restarted server
    own = queue.jobs(owner, include_shared=False)  # newest first
    # After a reload: the unfinished job, else the one that finished last (not "No training yet").
    chosen = next((j for j in own if not j.done), own[0] if own else None)
    if chosen is not None:
        st.session_state["train_job_id"] = chosen.id
    return chosen


def live_panel(owner: str) -> None:
    job = current_job(owner)
    if job is None:
        st.info("No training yet. Pick a dataset and a model in the sidebar and press **Start training**: "
                "it runs in the background, so you can look at other pages meanwhile.")
        return
    if job.done:
        _job_card(job.id, owner)
    else:
        _live_job_card(job.id, owner)


@st.fragment(run_every=1.0)
def _live_job_card(job_id: str, owner: str) -> None:
    """Redrawn every second while the job runs; reruns the whole page once when it ends."""
    try:
        job = job_queue().get(job_id, owner)
    except UnknownNameError:
        st.rerun()
        return
    if job.done:
        st.rerun()  # the whole page: the run list gains the new run, and this panel stops refreshing
    _job_card_body(job)


def _job_card(job_id: str, owner: str) -> None:
    try:
        job = job_queue().get(job_id, owner)
    except UnknownNameError:
        return
    _job_card_body(job)


def _job_card_body(job: Job) -> None:
    snap = job.snapshot()
    with st.container(border=True):
        title = snap["name"] or f"{snap['model'].rsplit('/', 1)[-1]} on {snap['data'].rsplit('/', 1)[-1]}"
        st.subheader(f"Current training: {title}")
        _status_line(job, snap)
        curves = job.curves()
        points = curve_points(curves)
        if not points.empty:
            start = stage2_start(curves)
            left, right = st.columns(2)
            with left:
                st.plotly_chart(curve_figure(points, "loss", start), width="stretch", key="train_live_loss")
            with right:
                st.plotly_chart(curve_figure(points, "accuracy", start), width="stretch",
                                key="train_live_accuracy")
            st.caption("Light line: the running average over the current epoch, batch by batch. Dots: "
                       "each finished epoch, on the training images (blue) and on validation images the "
                       "model never trains on (orange). Validation getting worse while training improves "
                       "means the model is memorising (overfitting).")
        elif not job.done:
            st.caption("The curves appear with the first training batch.")
        if snap["status"] == COMPLETE:
            run_summary(job.run_dir, key="train_live")


def _status_line(job: Job, snap: dict[str, Any]) -> None:
    status, phase = snap["status"], snap.get("phase") or snap["status"]
    if status == QUEUED:
        st.info(f"Waiting for a free training slot: you are number {snap['position'] or 1} in line. "
                "Training starts by itself.")
    elif status in (COMPLETE, STOPPED, FAILED):
        if status == COMPLETE:
            acc = snap.get("val_accuracy")
            st.success(f"Finished. Validation accuracy {acc:.1%}." if acc is not None else "Finished.")
        elif status == STOPPED:
            st.warning("Stopped. " + (snap.get("message") or ""))
        else:
            st.error(f"Training failed: {job.error or snap.get('message')}")
        return
    else:
        eta = snap.get("eta_seconds")
        text = f"{PHASES.get(phase, phase)} · {snap['progress']:.0%}"
        if eta is not None:
            text += f" · about {format_eta(eta)} left"
        st.progress(min(max(float(snap["progress"] or 0.0), 0.0), 1.0), text=text)
        if snap.get("message"):
            st.caption(snap["message"])
        epoch = snap.get("epoch")
        if epoch and epoch.get("val_accuracy") is not None:
            st.caption(f"Last epoch: loss {epoch['loss']:.3f}, accuracy {epoch['accuracy']:.1%}, validation "
                       f"accuracy {epoch['val_accuracy']:.1%}.")
    if status == STOPPING:
        st.caption("Stopping after the current batch ...")
    elif st.button("Stop training", key="train_stop", icon=":material/stop_circle:",
                   help="Ends the job within a batch. Nothing half-written is left behind."):
        job.stop()
        st.toast("Stopping after the current batch.")


def run_summary(run_dir, key: str) -> None:
    """Final metrics of a finished run: accuracy, per-class accuracy and the confusion matrix."""
    metrics = runs.read_json(run_dir, runs.METRICS_FILE) or {}
    meta = runs.read_meta(run_dir) or {}
    val = metrics.get("val") or {}
    if not val:
        st.caption("This run has no final metrics (it did not finish).")
        return
    cols = st.columns(3)
    cols[0].metric("Validation accuracy", f"{val['accuracy']:.1%}", help=f"{val['count']} images")
    if metrics.get("train_accuracy") is not None:
        cols[1].metric("Training accuracy", f"{metrics['train_accuracy']:.1%}",
                       help="Much higher than validation accuracy means overfitting.")
    if (metrics.get("test") or {}).get("accuracy") is not None:
        cols[2].metric("Test accuracy", f"{metrics['test']['accuracy']:.1%}",
                       help=f"{metrics['test']['count']} images held out until the end")
    baseline = metrics.get("baseline")
    if baseline:
        st.metric("HOG + linear SVM baseline, same validation images", f"{baseline['val_accuracy']:.1%}",
                  delta=f"{(val['accuracy'] - baseline['val_accuracy']) * 100:+.1f} points for this run",
                  help=f"{baseline['method']}, trained on the run's {baseline['train_size']} training images "
                       f"in {baseline['seconds']:.1f} s.")
        if val["accuracy"] < baseline["val_accuracy"]:
            st.warning(f"This run loses to a classical baseline ({val['accuracy']:.1%} against "
                       f"{baseline['val_accuracy']:.1%}): train the head longer or at a higher learning rate, "
                       "or fine-tune the top of the backbone.")
    left, right = st.columns([3, 2])
    with left:
        if val.get("confusion"):
            st.plotly_chart(confusion_figure(val["confusion"], list(meta.get("class_names") or []),
                                             title="Confusion matrix (validation images)"),
                            width="stretch", key=f"{key}_confusion")
            st.caption("Each row is the true class, each column the model's answer: the diagonal counts the "
                       "correct answers, anything off it shows which classes get confused.")
    with right:
        table = per_class_table(val)
        if not table.empty:
            st.dataframe(table, hide_index=True, width="stretch", key=f"{key}_per_class",
                         column_config={"accuracy": st.column_config.ProgressColumn(
                             "accuracy", format="percent", min_value=0.0, max_value=1.0)})
