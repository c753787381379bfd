"""The lesson's training step: a short background job (core.train.jobs) with a live progress fragment,
or, when the classroom forbids training or provides a run, an explanation and the teacher's run."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.errors import GlasswingError
from core.train.config import TrainConfig
from core.train.jobs import COMPLETE, Job, job_queue
from dashboard import state
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
    if newest.status == COMPLETE and not st.session_state.get(ld.RUN_KEY):
        st.session_state[ld.RUN_KEY] = newest.snapshot()["run_dir"]


def jobs_started() -> int:
    """Training jobs this session has started on any page (the classroom limit counts them all)."""
    return job_queue().started(state.session_id())



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
        st.warning(str(exc))
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
    snap = job.snapshot()
    if snap["position"]:
        st.info(f"Waiting for a free training slot (number {snap['position']} in line).")
    st.progress(min(max(float(snap["progress"] or 0.0), 0.0), 1.0), text=snap["message"] or snap["status"])
    epochs = job.curves()["epoch"]
    if epochs:
        frame = pd.DataFrame([{"epoch": e.get("epoch"), "train accuracy": e.get("accuracy"),
                               "val accuracy": e.get("val_accuracy")} for e in epochs])
        fig = px.line(frame, x="epoch", y=["train accuracy", "val accuracy"], markers=True, range_y=[0, 1])
        fig.update_layout(height=260, margin=dict(l=0, r=0, t=10, b=0), legend_title_text="")
        st.plotly_chart(fig, width="stretch", key="lesson_train_chart")
    if not job.done:
        if snap["eta_seconds"]:
            st.caption(f"About {snap['eta_seconds']:.0f} s left.")
        if st.button("Stop training", key="lesson_train_stop"):
            job.stop()
        return
    if job.status == COMPLETE:
        st.session_state[ld.RUN_KEY] = snap["run_dir"]
        accuracy = float(snap["val_accuracy"] or 0.0)
        guessing = ld.guessing_message(snap["run_dir"], job.config.data)
        if guessing:
            st.warning(f"Training finished, but: {guessing}")
        else:
            st.success(f"Training finished: {accuracy:.0%} of the validation images are right. "
                       "Go on to step 4.")
    else:
        st.error(f"Training ended ({job.status}). {job.error or 'Start it again when you are ready.'}")


def train_step(folder: str, epochs: int, augment: str) -> None:
    st.markdown(
        "Training shows the network thousands of labelled images and nudges its weights after each batch so "
        "that the right class gets a higher score. One pass over the training images is an **epoch**. We "
        f"train a small CNN from scratch: up to {epochs} epochs, a few minutes of CPU. Watch two numbers: "
        "accuracy on the training images, and on **validation** images it never learns from.")
    room = state.classroom()
    model = ld.lesson_model()
    if not room.can_train:
        try:
            room.check_can_train(jobs_started())
        except GlasswingError as exc:
            st.info(str(exc))
        if model is not None and model.origin == "preloaded":
            st.success(f"Your teacher trained the model for you: the lesson uses the run "
                       f"**{model.path.rsplit('/', 1)[-1]}** from here on.")
        else:
            st.warning(ld.missing_model_message())
        return
    if model is not None and model.origin == "preloaded" and current_job() is None:
        st.success("Your teacher preloaded a trained run, so you can go straight on: the next steps use it. "
                   "You can also train your own copy below.")
    st.caption(f"Settings: {ld.MODEL}, {ld.IMAGE_SIZE}x{ld.IMAGE_SIZE} pixels, {epochs} epochs, "
               f"augmentation: {augment} (change them in the sidebar and in step 2).")
    job = current_job()
    running = job is not None and not job.done
    if st.button("Start training", key="lesson_train_start", type="primary", disabled=running):
        start_training(folder, epochs, augment)
    job_progress()
