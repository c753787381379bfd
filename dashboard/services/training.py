"""Starting a training job from any page: the classroom's limits, one job at a time per session, the queue."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.classroom import ClassroomConfig
from core.errors import ParameterError
from core.jobs import job_queue
from core.jobs.local import Job
from core.train.config import TrainConfig
from dashboard.i18n import _

JOB_KEY = "train_job_id"  # session state: the Train page follows this job


def jobs_started(owner: str) -> int:
    """Training jobs this session has started, on any page (the queue counts them per owner)."""
    return job_queue().started(owner)


def start_job(config: TrainConfig, room: ClassroomConfig, owner: str) -> Job:
    """Check the classroom's limits and queue the job; its id is kept for the Train page to follow."""
    room.check_can_train(jobs_started(owner))
    active = [j for j in job_queue().jobs(owner, include_shared=False) if not j.done]
    if active:
        raise ParameterError(_("You already have a training job under way; stop it or wait for it to finish "
                               "before starting another."))
    from core.zoo import list_models

    if not Path(str(config.model)).is_dir():  # runs are checked by their owner
        room.check_model(str(config.model), [s.name for s in list_models()])
    job = job_queue().submit(config, owner=owner)
    st.session_state[JOB_KEY] = job.id
    return job
