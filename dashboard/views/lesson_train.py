"""The lesson's training step: a short background job (core.jobs) with a live progress fragment,
or, when the classroom forbids training or provides a run, an explanation and the teacher's run."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.errors import GlasswingError
from core.jobs import job_queue
from core.jobs.local import COMPLETE, FAILED, QUEUED, RUNNING, STOPPED, STOPPING, Job
from core.train.config import TrainConfig
from dashboard import state
from dashboard.i18n import N_, _, error_text
from dashboard.views import lesson_data as ld


def current_job() -> Job | None:
    job_id = st.session_state.get(ld.JOB_KEY)
    if not job_id:
        return None
    try:
        return job_queue().get(job_id, owner=state.session_id())
    except GlasswingError:  # forgotten by the queue (server restarted)
        return None


def recover() -> None:
    """After a reload (a new script session with the same session id), follow this session's newest
    lesson job again, and take its run once it has finished, as the Train page does."""
    if st.session_state.get(ld.JOB_KEY):
        return
    lesson = [j for j in job_queue().jobs(owner=state.session_id(), include_shared=False)
              if str(j.config.name or "").startswith(LESSON_RUN_PREFIX)]
    if not lesson:
        return
    newest = lesson[0]  # the queue lists the newest first
    st.session_state[ld.JOB_KEY] = newest.id
    if newest.done and newest.status == COMPLETE and not st.session_state.get(ld.RUN_KEY):  # done: read now
        st.session_state[ld.RUN_KEY] = newest.snapshot()["run_dir"]


def jobs_started() -> int:
    """Training jobs this session has started on any page (the classroom limit counts them all)."""
    return job_queue().started(state.session_id())



# What the job is doing, by its phase (core's own progress messages are English log lines).
PHASES = {"loading": N_("Opening the dataset and the model ..."), "stage1": N_("Training ..."),
          "evaluating": N_("Scoring the validation images ..."), "saving": N_("Saving the trained model ..."),
          # The job's last event can arrive before the job is done: "finished" is said below, once it is.
          COMPLETE: N_("Finishing ..."), STOPPED: N_("Training stopped."), FAILED: N_("Training failed."),
          QUEUED: N_("Waiting to start ..."), RUNNING: N_("Training ..."), STOPPING: N_("Stopping ...")}
ENDINGS = {STOPPED: N_("stopped"), FAILED: N_("failed")}  # how a job that did not complete ended


def phase_text(snap: dict, epochs: int) -> str:
    """The progress bar's text: the phase, and the epoch while the network trains."""
    phase = snap.get("phase") or snap.get("status")
    epoch = (snap.get("epoch") or {}).get("epoch")
    if phase == "stage1" and epoch:
        return _("Training: epoch {epoch} of at most {epochs} done.").format(epoch=epoch, epochs=epochs)
    if phase in PHASES:
        return _(PHASES[phase])
    return _(PHASES.get(snap.get("status"), N_("Training ...")))


LESSON_RUN_PREFIX = "Lesson: "  # how the lesson finds its own jobs among the session's after a reload


def lesson_config(folder: str, epochs: int, augment: str) -> TrainConfig:
    return TrainConfig(data=folder, model=ld.MODEL, image_size=ld.IMAGE_SIZE, epochs=epochs, batch_size=32,
                       learning_rate=0.002, early_stopping_patience=5,
                       augment=None if augment == "none" else augment,
                       name=f"{LESSON_RUN_PREFIX}{ld.MODEL} on {ld.DATASET}")


def start_training(folder: str, epochs: int, augment: str) -> Job | None:
    """Check the classroom's limits, then submit; a refusal is shown and nothing starts."""
    room = state.classroom()
    try:
        room.check_can_train(jobs_started())
        room.check_epochs(epochs)
        job = job_queue().submit(lesson_config(folder, epochs, augment), owner=state.session_id())
    except GlasswingError as exc:
        st.warning(error_text(exc))
        return None
    st.session_state[ld.JOB_KEY] = job.id
    st.session_state.pop(ld.RUN_KEY, None)
    return job


@st.fragment(run_every=1.0)
def job_progress() -> None:
    """Redrawn every second while the job runs, without rerunning the page."""
    job = current_job()
    if job is None:
        return
    try:
        _job_progress(job)
    except GlasswingError as exc:  # the training queue (GLASSWING_QUEUE) went away: say so, keep polling
        st.error(error_text(exc))


def _job_progress(job: Job) -> None:
    snap = job.snapshot()
    if snap["position"]:
        st.info(_("Waiting for a free training slot (number {position} in line).").format(
            position=snap["position"]))
    if snap.get("worker") and not job.done:
        st.caption(_("Training on worker {host} (process {pid}).").format(**snap["worker"]))
    st.progress(min(max(float(snap["progress"] or 0.0), 0.0), 1.0), text=phase_text(snap, job.config.epochs))
    epochs = job.curves()["epoch"]
    if epochs:
        train_name, val_name = _("training accuracy"), _("validation accuracy")
        frame = pd.DataFrame([{"epoch": e.get("epoch"), train_name: e.get("accuracy"),
                               val_name: e.get("val_accuracy")} for e in epochs])
        fig = px.line(frame, x="epoch", y=[train_name, val_name], markers=True, range_y=[0, 1])
        fig.update_layout(height=260, margin=dict(l=0, r=0, t=10, b=0), legend_title_text="",
                          xaxis_title=_("epoch"), yaxis_title=_("accuracy"), yaxis_tickformat=".0%")
        st.plotly_chart(fig, width="stretch", key="lesson_train_chart")
    if not job.done:
        if snap["eta_seconds"]:
            st.caption(_("About {seconds} s left.").format(seconds=f"{snap['eta_seconds']:.0f}"))
        if st.button(_("Stop training"), key="lesson_train_stop"):
            job.stop()
        return
    if job.status == COMPLETE:
        st.session_state[ld.RUN_KEY] = snap["run_dir"]
        accuracy = float(snap["val_accuracy"] or 0.0)
        guessing = ld.guessing_message(snap["run_dir"], job.config.data)
        if guessing:
            st.warning(_("Training finished, but: {warning}").format(warning=guessing))
        else:
            st.success(_("Training finished: {accuracy} of the validation images are right. Go on to step 4.")
                       .format(accuracy=f"{accuracy:.0%}"))
    else:
        ended = _(ENDINGS.get(job.status, job.status))
        if job.error:  # core's error message (English)
            st.error(_("Training ended ({status}). {error}").format(status=ended, error=job.error))
        else:
            st.error(_("Training ended ({status}). Start it again when you are ready.").format(status=ended))


def train_step(folder: str, epochs: int, augment: str) -> None:
    st.markdown(_(
        "Training shows the network thousands of labelled images and nudges its weights after each batch so "
        "that the right class gets a higher score. One pass over the training images is an **epoch**. We "
        "train a small CNN from scratch: up to {epochs} epochs, a few minutes of CPU. Watch two numbers: "
        "accuracy on the training images, and on **validation** images it never learns from.").format(
        epochs=epochs))
    st.markdown(_(
        "**What is inside the network.** A **convolution** layer slides small filters (here 3 x 3 pixels) over "
        "the image. Each filter is a pattern of weights; at every position it answers 'how much does this "
        "patch look like my pattern?', and its answers form a **feature map**. The first layer's filters "
        "find edges and corners; later layers combine these into curves, tips and whole outlines. A "
        "**pooling** layer then keeps only the strongest answer in each 2 x 2 square: the feature map "
        "becomes half as wide, the next layer sees a larger part of the image, and a shape moved by a pixel "
        "or two gives almost the same answer. {model} stacks three convolution + pooling pairs, and two "
        "dense layers turn the last feature maps into one score per class. Training does not program any "
        "of these filters: it learns them from the labelled examples.").format(model=ld.MODEL))
    st.markdown(_(
        "**From scratch or pretrained?** Our shapes are simple and the images small, so we start from "
        "random weights. For real photos one usually starts from a network **pretrained** on ImageNet "
        "(1.2 million photos of 1,000 classes): its convolution layers already detect edges, textures and "
        "parts of objects. We keep this **backbone**, put a new classification **head** for our own classes on "
        "top and train mostly the head, perhaps fine-tuning the top layers of the backbone as well. This is "
        "**transfer learning**: a few hundred images and minutes instead of millions of images and days. The "
        "Train page does this with real models."))
    room = state.classroom()
    model = ld.lesson_model()
    if not room.can_train:
        try:
            room.check_can_train(jobs_started())
        except GlasswingError as exc:
            st.info(error_text(exc))
        if model is not None and model.origin == "preloaded":
            st.success(_("Your teacher trained the model for you: the lesson uses the run **{run}** from here "
                         "on.").format(run=model.path.rsplit('/', 1)[-1]))
        else:
            st.warning(ld.missing_model_message())
        return
    if model is not None and model.origin == "preloaded" and current_job() is None:
        st.success(_("Your teacher preloaded a trained run, so you can go straight on: the next steps use it. "
                     "You can also train your own copy below."))
    st.caption(_("Settings: {model}, {size}x{size} pixels, {epochs} epochs, augmentation: {augment} (change "
                 "them in the sidebar and in step 2).").format(model=ld.MODEL, size=ld.IMAGE_SIZE, epochs=epochs,
                                                               augment=ld.preset_label(augment)))
    job = current_job()
    running = job is not None and not job.done
    if st.button(_("Start training"), key="lesson_train_start", type="primary", disabled=running):
        start_training(folder, epochs, augment)
    job_progress()
