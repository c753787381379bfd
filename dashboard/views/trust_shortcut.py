"""Trust page, shortcut lesson: train a model on shapes with a watermark, then catch it cheating."""

from __future__ import annotations

import streamlit as st

from core.errors import GlasswingError, Message
from core.explain.overlay import overlay
from core.progress import Progress
from core.trust.shortcut import DATASET, ShortcutReport, shortcut_config
from dashboard import state
from dashboard.components.core_words import Rules, relay, rules
from dashboard.components.task_status import run_in_background
from dashboard.i18n import N_, _, error_text

JOB_KEY = "trust_shortcut_job"
REMEMBERED = ("trust_shortcut_run", "trust_shortcut_epochs", "trust_shortcut_seed", JOB_KEY)  # dashboard.page_memory


def report(run_path: str, method: str, progress: Progress) -> ShortcutReport:
    """The shortcut measurements of one finished run (core's ShortcutReport), run as a background task whose
    result is kept per run folder."""
    from core.trust.shortcut import shortcut_report

    return shortcut_report(state.get_model(run_path), DATASET, method, progress=progress)


def progress_words() -> Rules:
    """How the page says core's progress while it measures (:mod:`core_words`)."""
    return rules([
        ("Scoring the watermarked validation images and the clean test images",
         N_("Scoring the watermarked validation images and the clean test images")),
        ("Stamping the watermark on clean test images", N_("Stamping the watermark on clean test images")),
        (r"Explaining (?P<n>\d+) watermarked circles", N_("Explaining {n} watermarked circles")),
    ])


def _lesson_runs() -> list:
    from core.train.runs import list_runs

    return [r for r in list_runs(owner=state.session_id())
            if r.complete and (r.meta.get("config") or {}).get("data") == DATASET]


def show() -> None:
    st.subheader(_("The shortcut lesson"))
    st.caption(_("In the *shapes-shortcut* dataset every circle used for training carries a small white "
                 "square in the bottom-right corner. The test images are clean. A model can score well by "
                 "spotting the square instead of the circle - and the explanations give it away."))
    room = state.classroom()
    if room.can_train:
        _train_form()
        _job_status()
    else:
        st.info(_("Training is turned off in this classroom; pick a shortcut model trained earlier below."))
    runs = _lesson_runs()
    if not runs:
        st.info(_("No finished shortcut model yet: train one above (about a minute on a laptop)."))
        return
    by_path = {str(r.path): r for r in runs}  # options are folders: Streamlit compares options by value
    run = by_path[st.selectbox(_("Shortcut model"), list(by_path), key="trust_shortcut_run",
                               format_func=lambda p: f"{_(by_path[p].name)} · {by_path[p].created or by_path[p].id}")]
    said = progress_words()
    result = run_in_background(("trust-shortcut", str(run.path), run.created or run.id, "saliency"),
                               Message(N_("Measuring the shortcut on validation and clean test images")),
                               lambda progress: report(str(run.path), "saliency", relay(progress, said)))
    if result is not None:
        _show_report(result)


def _train_form() -> None:
    with st.form("trust_shortcut_form"):
        c1, c2 = st.columns(2)
        epochs = c1.slider(_("Epochs"), 2, 30, 8, key="trust_shortcut_epochs",
                           help=_("Passes over the training images; the watermark is learned within a few."))
        seed = c2.number_input(_("Seed"), 0, 9999, 0, key="trust_shortcut_seed")
        submitted = st.form_submit_button(_("Train the shortcut model"), type="primary")
    if submitted:
        from core.jobs import job_queue

        try:
            config = shortcut_config(epochs=int(epochs), seed=int(seed))
            job = job_queue().submit(config, owner=state.session_id())
        except GlasswingError as exc:
            st.error(error_text(exc))
            return
        st.session_state[JOB_KEY] = job.id


@st.fragment(run_every=2.0)
def _job_status() -> None:
    job_id = st.session_state.get(JOB_KEY)
    if not job_id:
        return
    from core.jobs import job_queue
    from core.jobs.local import COMPLETE

    try:
        job = job_queue().get(job_id, owner=state.session_id())
    except GlasswingError:
        return
    try:
        snap, done = job.snapshot(), job.done
    except GlasswingError as exc:  # the training queue (GLASSWING_QUEUE) went away: say so, keep polling
        st.error(error_text(exc))
        return
    status = snap["status"]  # core's status word, in the catalogue when the Train page marks it
    if not done:
        message = snap["message"]
        st.progress(min(float(snap["progress"] or 0.0), 1.0),
                    text=_("{status}: {message}").format(status=_(status), message=message) if message else _(status))
        if snap.get("worker"):
            st.caption(_("Training on worker {host} (process {pid}).").format(**snap["worker"]))
        if st.button(_("Stop training"), key="trust_shortcut_stop"):
            try:
                job.stop()
            except GlasswingError as exc:
                st.error(error_text(exc))
        return
    st.session_state.pop(JOB_KEY, None)
    if job.status == COMPLETE:
        st.success(_("Trained: validation accuracy {accuracy:.1%}.").format(accuracy=snap["val_accuracy"]))
        st.rerun(scope="app")
    else:
        st.error(_("Training {status}: {reason}").format(status=_(status), reason=job.error or snap["message"]))


def _show_report(r: ShortcutReport) -> None:
    st.markdown(_("#### 1. It looks great on validation"))
    c1, c2, c3 = st.columns(3)
    c1.metric(_("Validation accuracy (watermarked circles)"), f"{r.val_accuracy:.1%}")
    points = _("Percentage points: the accuracy on the clean test images minus the accuracy on validation.")
    c2.metric(_("Test accuracy (clean images)"), f"{r.test_accuracy:.1%}",
              _("{points} points").format(points=f"{-100 * r.accuracy_drop:+.1f}"), help=points)
    c3.metric(_("Circles: validation → clean test"), f"{r.test_circle_accuracy:.1%}",
              _("{points} points from {before:.1%}").format(points=f"{-100 * r.circle_drop:+.1f}",
                                                             before=r.val_circle_accuracy), help=points)
    st.markdown(_("#### 2. The heatmaps land on the watermark"))
    st.caption(_("Saliency maps for 'circle' on watermarked validation circles: {peaks:.0%} of the peaks fall on "
                 "the watermark and {energy:.0%} of the heat sits inside it, although it covers only {box:.1%} "
                 "of the image.").format(peaks=r.peaks_on_watermark, energy=r.energy_on_watermark, box=r.box_area))
    cols = st.columns(max(1, min(6, len(r.examples))))
    for col, ex in zip(cols, r.examples, strict=False):
        col.image(overlay(ex["pixels"], ex["heatmap"]), caption=f"{ex['label']} {ex['prob']:.0%}",
                  width="stretch")
    st.markdown(_("#### 3. The watermark alone makes a circle"))
    st.metric(_("Clean squares, triangles and stars called 'circle' once stamped"),
              f"{r.stamped_to_circle:.0%}")
    template, fields = r.reading_message()
    st.info(_(template).format(**fields))
