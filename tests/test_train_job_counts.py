"""The classroom's per-session limit counts every job a session started, also those the queue forgot."""

from __future__ import annotations

import pytest

from core.classroom import ClassroomConfig, TrainingNotAllowedError
from core.jobs import local as jobs
from core.jobs.local import COMPLETE, JobQueue
from core.train.config import TrainConfig


class _Done:
    def to_dict(self) -> dict:
        return {"status": COMPLETE}


def _instant(config, runs_root, owner, listener, stop_event, run_id):  # a training that ends at once
    return _Done()


def test_started_jobs_are_counted_per_owner_after_the_queue_forgets_them(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_FINISHED_JOBS", 2)  # the queue lists only the last two finished jobs
    queue = JobQueue(max_concurrent=1, runs_root=tmp_path, runner=_instant)
    config = TrainConfig(data="shapes", model="small_cnn")
    for owner in ("alice", "bob", "alice", "alice", "bob"):
        assert queue.submit(config, owner=owner).wait(30)
    assert len(queue.jobs("alice", include_shared=False)) < 3  # forgotten ...
    assert (queue.started("alice"), queue.started("bob"), queue.started("carol")) == (3, 2, 0)  # ... counted
    queue.submit(config).wait(30)  # a job of nobody's (the CLI) counts for no session
    assert queue.started("alice") == 3
    room = ClassroomConfig(max_training_jobs_per_session=3)
    room.check_can_train(queue.started("bob"))
    with pytest.raises(TrainingNotAllowedError, match="already started 3 training jobs"):
        room.check_can_train(queue.started("alice"))


def test_both_pages_ask_the_queue(monkeypatch, tmp_path):
    """The Train form (through dashboard.services.training) and the lesson read the same count: a job
    started on one page counts on the other."""
    from dashboard.services import training
    from dashboard.views import lesson_train

    queue = JobQueue(max_concurrent=1, runs_root=tmp_path, runner=_instant)
    monkeypatch.setattr(lesson_train, "job_queue", lambda: queue)
    monkeypatch.setattr(training, "job_queue", lambda: queue)
    monkeypatch.setattr(lesson_train.state, "session_id", lambda: "alice")
    queue.submit(lesson_train.lesson_config("shapes", 1, "none"), owner="alice").wait(30)
    queue.submit(TrainConfig(data="shapes", model="small_cnn"), owner="alice").wait(30)
    assert lesson_train.jobs_started() == training.jobs_started("alice") == 2
