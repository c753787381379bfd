"""Training jobs in a child process (core.train.worker): the job trains in another process at a lower
priority, its events reach the page, a stop works, a killed training ends its job as failed without
touching the server and the next job still runs, a parent that dies stops its child, and the engine's
own errors arrive with their message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_train_engine import Recorder, make_colour_dataset, scratch_config  # tests/ is on sys.path

from core.errors import DataError, ParameterError
from core.jobs.local import COMPLETE, FAILED, STOPPED, JobQueue, default_runner, train_in
from core.train import runs
from core.train.config import TrainConfig
from core.train.worker import TrainingProcessError, train_in_child, train_nice

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    return make_colour_dataset(tmp_path_factory.mktemp("worker") / "colours", per_class=24)


@pytest.fixture
def queue(tmp_path):
    """A job queue whose jobs are stopped at the end of the test, whatever happened (no stray trainers)."""
    q = JobQueue(max_concurrent=1, runs_root=tmp_path)
    yield q
    for job in q.jobs(runs.EVERYONE):
        job.stop()
    for job in q.jobs(runs.EVERYONE):
        job.wait(60)


def _nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _wait_for_batches(job, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not [e for e in job.events() if e["kind"] == "batch" and "loss" in e]:
        assert time.monotonic() < deadline, f"no training batch within {timeout} s: {job.snapshot()}"
        assert not job.done, job.snapshot()
        time.sleep(0.05)


def _writer_pid(job) -> int:
    return runs.read_meta(job.run_dir)["process"]["pid"]


def test_the_default_is_a_child_process_and_the_environment_can_say_otherwise(monkeypatch):
    monkeypatch.delenv("GLASSWING_TRAIN_IN", raising=False)
    assert train_in() == "process" and default_runner() is train_in_child
    monkeypatch.setenv("GLASSWING_TRAIN_IN", "thread")
    from core.train.engine import train

    assert default_runner() is train
    monkeypatch.setenv("GLASSWING_TRAIN_IN", "gpu")
    with pytest.raises(ParameterError, match="GLASSWING_TRAIN_IN"):
        train_in()
    monkeypatch.delenv("GLASSWING_TRAIN_NICE", raising=False)
    assert train_nice() == 10
    for bad in ("-5", "20", "low"):
        monkeypatch.setenv("GLASSWING_TRAIN_NICE", bad)
        with pytest.raises(ParameterError, match="GLASSWING_TRAIN_NICE"):
            train_nice()


def test_a_job_trains_in_a_lower_priority_process_and_its_events_reach_the_page(colours, queue, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("GLASSWING_TRAIN_NICE", "7")
    job = queue.submit(scratch_config(colours, epochs=3), owner="session-1")
    slow = queue.submit(scratch_config(colours, epochs=200, early_stopping_patience=0), owner="session-1")
    assert job.wait(120) and job.status == COMPLETE, job.snapshot()
    assert not job.yield_to_pages  # the OS gives the pages priority; the job does not pause itself
    assert [e["epoch"] for e in job.curves()["epoch"]] == [1, 2, 3]
    phases = [e["status"] for e in job.events() if e["kind"] == "status"]
    assert phases[:3] == ["queued", "starting", "loading"] and phases[-1] == COMPLETE
    assert job.snapshot()["val_accuracy"] == job.result["val_accuracy"] is not None
    info = runs.get_run(job.run_dir.name, owner="session-1", root=tmp_path)
    assert info.status == runs.COMPLETE and info.complete
    with pytest.raises(ProcessLookupError):  # the child has exited, and its memory with it
        os.kill(_writer_pid(job), 0)
    _wait_for_batches(slow)  # a long job, to look at its process while it trains
    pid = _writer_pid(slow)
    assert pid != os.getpid()
    assert _nice_of(pid) == min(19, _nice_of(os.getpid()) + 7)


def test_stop_ends_the_child_and_marks_the_run_stopped(colours, queue, tmp_path):
    job = queue.submit(scratch_config(colours, epochs=200, early_stopping_patience=0))
    _wait_for_batches(job)
    job.stop()  # the engine stops within a batch (test_train_engine.py); here: the request reaches it
    assert job.wait(15) and job.status == STOPPED, job.snapshot()
    assert max(e["epoch"] for e in job.events() if e["kind"] == "batch") < 200
    assert runs.get_run(job.run_dir.name, root=tmp_path).status == runs.STOPPED


def test_a_killed_training_fails_its_job_and_the_next_job_still_runs(colours, queue, tmp_path):
    doomed = queue.submit(scratch_config(colours, epochs=200, early_stopping_patience=0))
    following = queue.submit(scratch_config(colours, epochs=1))
    _wait_for_batches(doomed)
    os.kill(_writer_pid(doomed), signal.SIGKILL)  # as the kernel's out-of-memory killer would
    assert doomed.wait(30) and doomed.status == FAILED
    assert "killed by signal 9" in doomed.error and "out of memory" in doomed.error
    assert doomed.events()[-1]["status"] == FAILED
    info = runs.get_run(doomed.run_dir.name, root=tmp_path)
    assert info.status == runs.FAILED and not info.complete
    assert following.wait(120) and following.status == COMPLETE, following.snapshot()


def test_the_engines_errors_arrive_with_their_class_and_message(tmp_path):
    (tmp_path / "one-class" / "cats").mkdir(parents=True)
    config = TrainConfig(data=str(tmp_path / "one-class"), model="small_cnn", image_size=32, epochs=1)
    with pytest.raises(DataError) as in_process:
        from core.train.engine import train

        train(config, runs_root=tmp_path / "runs")
    recorder = Recorder()
    with pytest.raises(DataError) as in_child:
        train_in_child(config, runs_root=tmp_path / "runs", listener=recorder)
    assert str(in_child.value) == str(in_process.value)
    assert [e["status"] for e in recorder.events[:2]] == ["starting", "loading"]


def test_a_child_whose_parent_died_stops_and_marks_its_run_stopped(colours, tmp_path):
    """A dead parent closes both ends of the pipes: the child stops within a batch and says so in run.json."""
    job = {"config": scratch_config(colours, epochs=200, early_stopping_patience=0).to_dict(),
           "runs_root": str(tmp_path), "owner": None, "run_id": "orphan"}
    child = subprocess.Popen([sys.executable, "-m", "core.train.worker"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, cwd=REPO, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        child.stdin.write(json.dumps(job) + "\n")
        child.stdin.flush()
        for line in child.stdout:
            if json.loads(line).get("kind") == "batch" and "loss" in line:
                break
        child.stdin.close()
        child.stdout.close()
        assert child.wait(60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert runs.read_meta(tmp_path / "orphan")["status"] == runs.STOPPED


def test_a_child_that_dies_without_a_word_is_reported_clearly(tmp_path, monkeypatch):
    """The child ends before it can say anything (here an interpreter that exits at once with code 1)."""
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(TrainingProcessError, match="ended with exit code 1 before it finished"):
        train_in_child(TrainConfig(data="shapes"), runs_root=tmp_path, run_id="never")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(TrainingProcessError, match="Cannot start the training process"):
        train_in_child(TrainConfig(data="shapes"), runs_root=tmp_path, run_id="never")


def test_a_job_stopped_before_its_process_starts_never_starts_one(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(sys, "executable", "/bin/false")  # would fail loudly if a process were started
    stop = threading.Event()
    stop.set()
    recorder = Recorder()
    result = train_in_child(TrainConfig(data="shapes"), runs_root=tmp_path, listener=recorder, stop_event=stop,
                            run_id="never")
    assert result["status"] == STOPPED and recorder.events[-1]["status"] == STOPPED
    assert not (tmp_path / "never").exists()
