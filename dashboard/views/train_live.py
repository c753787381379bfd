"""The Train page's live panel: the session's current job, redrawn every second while it trains.

The job lives in the process-wide queue (:func:`core.jobs.job_queue`), not in the script: a
rerun, a widget change or a visit to another page never restarts or loses it. The panel finds it
again by the id kept in session state, or as this session's newest unfinished job.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import UnknownNameError
from core.i18n import DEFAULT_LANGUAGE
from core.jobs import job_queue
from core.jobs.local import COMPLETE, FAILED, QUEUED, STOPPED, STOPPING, Job
from core.jobs.redis_queue import QueueUnreachableError
from core.train import runs
from core.train.events import format_eta
from dashboard.components.confusion import confusion_figure
from dashboard.i18n import N_, _, error_text, language
from dashboard.views.train_charts import (
    curve_figure,
    curve_points,
    per_class_table,
    stage2_start,
)

PHASES = {"queued": N_("Waiting in line"), "starting": N_("Starting the training process"),
          "loading": N_("Opening the data and the model"), "features": N_("Computing backbone features"),
          "stage1": N_("Training"), "stage2": N_("Fine-tuning"), "evaluating": N_("Evaluating"),
          "saving": N_("Saving"), "complete": N_("Finished"), "stopped": N_("Stopped"), "failed": N_("Failed"),
          "stopping": N_("Stopping")}


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
        st.info(_("No training yet. Pick a dataset and a model in the sidebar and press **Start training**: "
                  "it runs in the background, so you can look at other pages meanwhile."))
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
        done = job.done
    except UnknownNameError:
        st.rerun()
        return
    except QueueUnreachableError as exc:  # Redis went away while the job ran: say so, keep polling
        st.error(error_text(exc))
        return
    if done:
        st.rerun()  # the whole page: the run list gains the new run, and this panel stops refreshing
    try:
        _job_card_body(job)
    except QueueUnreachableError as exc:
        st.error(error_text(exc))


def _job_card(job_id: str, owner: str) -> None:
    try:
        job = job_queue().get(job_id, owner)
    except UnknownNameError:
        return
    _job_card_body(job)


def _job_card_body(job: Job) -> None:
    snap = job.snapshot()
    with st.container(border=True):
        title = snap["name"] or _("{model} on {data}").format(model=snap["model"].rsplit("/", 1)[-1],
                                                               data=snap["data"].rsplit("/", 1)[-1])
        st.subheader(_("Current training: {title}").format(title=title))
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
            st.caption(_("Light line: the running average over the current epoch, batch by batch. Dots: "
                         "each finished epoch, on the training images (blue) and on validation images the "
                         "model never trains on (orange). Validation getting worse while training improves "
                         "means the model is memorising (overfitting)."))
        elif not job.done:
            st.caption(_("The curves appear with the first training batch."))
        if snap["status"] == COMPLETE:
            run_summary(job.run_dir, key="train_live")


def _status_line(job: Job, snap: dict[str, Any]) -> None:
    status, phase = snap["status"], snap.get("phase") or snap["status"]
    if status == QUEUED:
        st.info(_("Waiting for a free training slot: you are number {position} in line. Training starts by "
                  "itself.").format(position=snap["position"] or 1))
        if snap.get("queue") and not job_queue().counts().get("workers"):
            st.warning(_("No worker is taking jobs from the training queue yet. Start one on a machine that "
                         "shares the runs folder: `python -m core worker --queue {url}`").format(
                             url=snap["queue"]))
    elif status in (COMPLETE, STOPPED, FAILED):
        english = language() == DEFAULT_LANGUAGE  # core's own sentences (the stop's reason) are English
        if status == COMPLETE:
            acc = snap.get("val_accuracy")
            st.success(_("Finished. Validation accuracy {accuracy}.").format(accuracy=f"{acc:.1%}")
                       if acc is not None else _("Finished."))
        elif status == STOPPED:
            st.warning(_("Stopped.") + (" " + snap["message"] if english and snap.get("message") else ""))
        else:
            st.error(_("Training failed: {error}").format(error=job.error or snap.get("message")))
        return
    else:
        eta = snap.get("eta_seconds")
        phase_name = _(PHASES[phase]) if phase in PHASES else phase
        if eta is not None:
            text = _("{phase} · {progress} · about {eta} left").format(
                phase=phase_name, progress=f"{snap['progress']:.0%}", eta=format_eta(eta))
        else:
            text = f"{phase_name} · {snap['progress']:.0%}"
        st.progress(min(max(float(snap["progress"] or 0.0), 0.0), 1.0), text=text)
        detail = _progress_detail(snap)
        if detail:
            st.caption(detail)
        if snap.get("worker"):
            st.caption(_("Training on worker {host} (process {pid}).").format(**snap["worker"]))
        epoch = snap.get("epoch")
        if epoch and epoch.get("val_accuracy") is not None:
            st.caption(_("Last epoch: loss {loss}, accuracy {accuracy}, validation accuracy {val_accuracy}.").format(
                loss=f"{epoch['loss']:.3f}", accuracy=f"{epoch['accuracy']:.1%}",
                val_accuracy=f"{epoch['val_accuracy']:.1%}"))
            st.caption(_("The loss is the cross-entropy: 0 is perfect, and guessing among the classes gives about "
                         "the natural log of their number (1.39 for 4 classes)."))
    if status == STOPPING:
        st.caption(_("Stopping after the current batch ..."))
    elif st.button(_("Stop training"), key="train_stop", icon=":material/stop_circle:",
                   help=_("Ends the job within a batch. Nothing half-written is left behind.")):
        job.stop()
        st.toast(_("Stopping after the current batch."))


def _progress_detail(snap: dict[str, Any]) -> str:
    """What the job is doing: core's own sentence in English (it names the numbers of the stage); in
    another language the same numbers from the latest batch event."""
    if language() == DEFAULT_LANGUAGE:
        return snap.get("message") or ""
    batch, phase = snap.get("batch") or {}, snap.get("phase")
    if not batch or batch.get("phase") != phase or not batch.get("steps"):
        return ""
    if phase in ("stage1", "stage2") and batch.get("epochs"):
        return _("Epoch {epoch} of {epochs}, batch {step} of {steps}").format(
            epoch=batch["epoch"], epochs=batch["epochs"], step=batch["step"], steps=batch["steps"])
    return _("Batch {step} of {steps}").format(step=batch["step"], steps=batch["steps"])


def run_summary(run_dir, key: str) -> None:
    """Final metrics of a finished run: accuracy, per-class accuracy and the confusion matrix."""
    metrics = runs.read_json(run_dir, runs.METRICS_FILE) or {}
    meta = runs.read_meta(run_dir) or {}
    val = metrics.get("val") or {}
    if not val:
        st.caption(_("This run has no final metrics (it did not finish)."))
        return
    cols = st.columns(3)
    cols[0].metric(_("Validation accuracy"), f"{val['accuracy']:.1%}",
                   help=_("{n} images").format(n=val["count"]))
    if metrics.get("train_accuracy") is not None:
        cols[1].metric(_("Training accuracy"), f"{metrics['train_accuracy']:.1%}",
                       help=_("Much higher than validation accuracy means overfitting."))
    if (metrics.get("test") or {}).get("accuracy") is not None:
        cols[2].metric(_("Test accuracy"), f"{metrics['test']['accuracy']:.1%}",
                       help=_("{n} images held out until the end").format(n=metrics["test"]["count"]))
    baseline = metrics.get("baseline")
    if baseline:
        st.metric(_("HOG + linear SVM baseline, same validation images"), f"{baseline['val_accuracy']:.1%}",
                  delta=_("{points} points for this run").format(
                      points=f"{(val['accuracy'] - baseline['val_accuracy']) * 100:+.1f}"),
                  help=_("`{method}`, trained on the run's {n} training images in {seconds} s.").format(
                      method=baseline["method"], n=baseline["train_size"], seconds=f"{baseline['seconds']:.1f}"))
        if val["accuracy"] < baseline["val_accuracy"]:
            st.warning(_("This run loses to a classical baseline ({accuracy} against {baseline}): train the head "
                         "longer or at a higher learning rate, or fine-tune the top of the backbone.").format(
                             accuracy=f"{val['accuracy']:.1%}", baseline=f"{baseline['val_accuracy']:.1%}"))
    left, right = st.columns([3, 2])
    with left:
        if val.get("confusion"):
            st.plotly_chart(confusion_figure(val["confusion"], list(meta.get("class_names") or []),
                                             title=_("Confusion matrix (validation images)")),
                            width="stretch", key=f"{key}_confusion")
            st.caption(_("Each row is the true class, each column the model's answer: the diagonal counts the "
                         "correct answers, anything off it shows which classes get confused."))
    with right:
        table = per_class_table(val)
        if not table.empty:
            accuracy = _("accuracy")
            table = table.rename(columns={"class": _("class"), "images": _("images"), "accuracy": accuracy})
            st.dataframe(table, hide_index=True, width="stretch", key=f"{key}_per_class",
                         column_config={accuracy: st.column_config.ProgressColumn(
                             accuracy, format="percent", min_value=0.0, max_value=1.0)})
