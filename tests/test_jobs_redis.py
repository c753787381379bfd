"""Training on the Redis queue (core.jobs): a real redis-server on a free port, real worker processes
(``python -m core worker``), real trainings of a small CNN, and what the user sees from the CLI and the
Train page. Each test starts from an empty Redis database and stops the workers it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import free_port, start_redis

from core.train import runs
from core.train.config import TrainConfig

REPO = Path(__file__).resolve().parent.parent
HEARTBEAT = 3  # seconds: a killed worker's job is declared lost within about this


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def url(redis_server, monkeypatch):
    import redis

    redis.Redis.from_url(redis_server).flushdb()
    monkeypatch.setenv("GLASSWING_JOB_HEARTBEAT_SECONDS", str(HEARTBEAT))
    from core.jobs import redis_queue

    redis_queue._QUEUES.clear()  # each test's replicas connect afresh
    return redis_server


class Workers:
    """``python -m core worker`` processes, each the leader of its own process group (worker + horse)."""

    def __init__(self, url: str) -> None:
        self.url, self.procs = url, []

    def start(self, n: int = 1, burst: bool = False, jobs: int = 1) -> list[subprocess.Popen]:
        started = []
        for _ in range(n):
            args = [sys.executable, "-m", "core", "worker", "--queue", self.url, "--jobs", str(jobs)]
            args += ["--burst"] if burst else []
            proc = subprocess.Popen(args, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True,
                                    env={**os.environ, "GLASSWING_JOB_HEARTBEAT_SECONDS": str(HEARTBEAT)})
            started.append(proc)
        self.procs += started
        return started

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def workers(url):
    team = Workers(url)
    yield team
    team.kill_all()


def tiny(name: str, epochs: int = 1) -> TrainConfig:
    """A small CNN on the built-in shapes at 32 px: about 3 s per epoch here."""
    return TrainConfig(data="shapes", model="small_cnn", epochs=epochs, image_size=32, name=name,
                       early_stopping_patience=0)


def replica(url: str):
    """Another dashboard replica: its own connection and its own mirrors of the jobs, nothing shared."""
    from core.jobs.redis_queue import RedisQueue

    return RedisQueue(url)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def run_on_disk(run_id: str) -> dict:
    meta = runs.read_meta(runs.runs_root() / run_id)
    assert meta is not None, f"run {run_id} has no run.json"
    return meta


def test_two_jobs_submitted_at_once_train_on_two_workers(url, workers):
    workers.start(2)
    queue = replica(url)
    first, second = queue.submit(tiny("first"), owner="sess-a"), queue.submit(tiny("second"), owner="sess-b")
    assert first.wait(240) and second.wait(240), (first.snapshot(), second.snapshot())
    for job in (first, second):
        assert job.status == "complete", job.error
        snap = job.snapshot()
        assert snap["worker"]["pid"] > 0 and snap["progress"] == 1.0 and snap["val_accuracy"] is not None
        assert job.result["worker"] == snap["worker"]
        assert [e["status"] for e in job.events() if e["kind"] == "status"][-1] == "complete"
        assert job.curves()["epoch"], "the epoch events reached the submitter"
        starts = [e for e in job.events() if e["kind"] == "status" and e["status"] == "starting"]
        assert len(starts) == 1, "one worker took the job, once"
        meta = run_on_disk(job.id)  # two runs written at the same moment, each whole and its own
        assert meta["status"] == "complete" and meta["creator"] == job.owner and meta["name"] == job.config.name
        assert (runs.runs_root() / job.id / "model.keras").stat().st_size > 0
    assert first.worker["pid"] != second.worker["pid"]
    assert second.started < first.finished and first.started < second.finished, "they trained at the same time"
    # Each session sees its own job only; the CLI (everyone) sees both.
    assert [j.id for j in replica(url).jobs("sess-a", include_shared=False)] == [first.id]
    assert {j.id for j in replica(url).jobs(runs.EVERYONE)} == {first.id, second.id}
    assert replica(url).started("sess-a") == 1


def test_progress_and_stop_work_from_another_replica(url, workers):
    workers.start(1)
    job = replica(url).submit(tiny("long", epochs=300), owner="sess")
    other = replica(url).get(job.id, "sess")
    wait_for(lambda: other.curves()["batch"], 120, "the first batch on the other replica")
    snap = other.snapshot()
    assert snap["status"] == "running" and 0 < snap["progress"] < 1 and snap["worker"]["pid"] > 0
    other.stop()
    assert job.wait(60), job.snapshot()
    assert job.status == "stopped", job.error
    assert run_on_disk(job.id)["status"] == "stopped"
    assert job.id not in {r.id for r in runs.list_runs(owner=runs.EVERYONE) if r.complete}


def test_a_queued_job_stopped_never_trains_and_the_line_moves_up(url, workers):
    queue = replica(url)
    first, second = queue.submit(tiny("cancelled"), owner="s"), queue.submit(tiny("next"), owner="s")
    assert (first.position, second.position) == (1, 2)
    replica(url).get(first.id, "s").stop()
    assert first.wait(5) and first.status == "stopped"
    assert "Cancelled before it started." in [e["message"] for e in first.events()]
    assert second.position == 1
    (burst,) = workers.start(1, burst=True)  # takes what is queued, then exits
    assert second.wait(240) and second.status == "complete", second.error
    assert burst.wait(60) == 0, burst.stderr.read()
    assert not (runs.runs_root() / first.id).exists(), "the cancelled job never made a run folder"


@pytest.mark.parametrize("killed", ["worker", "worker and work horse"])
def test_a_worker_killed_mid_job_fails_its_job_and_run_within_the_heartbeat(url, workers, killed):
    """SIGKILL mid-batch: of the worker alone (its work horse, in a process group of its own, notices and
    ends the job), or of both as when a machine dies (the heartbeat expires and a replica notices)."""
    from core.jobs.redis_queue import LOST

    (worker,) = workers.start(1)
    job = replica(url).submit(tiny("killed", epochs=300), owner="sess")
    wait_for(lambda: job.curves()["batch"], 120, "the first batch")
    horse = job.snapshot()["worker"]["pid"]
    assert horse != worker.pid
    os.kill(worker.pid, signal.SIGKILL)
    if killed != "worker":
        os.kill(horse, signal.SIGKILL)
    killed_at = time.monotonic()
    assert job.wait(HEARTBEAT * 4 + 10), job.snapshot()
    assert time.monotonic() - killed_at < HEARTBEAT * 4 + 10
    wait_for(lambda: not Path(f"/proc/{horse}").exists() or "zombie" in Path(f"/proc/{horse}/status").read_text(),
             10, "the work horse to end")
    assert job.status == "failed" and job.error == LOST
    again = replica(url).get(job.id, "sess")  # what any other replica shows
    assert again.done and again.status == "failed" and again.snapshot()["error"] == LOST
    assert run_on_disk(job.id)["status"] == "failed"
    assert runs.get_run(job.id).status == "failed", "the run is never listed as good"


@pytest.mark.parametrize("other", ["idle", "training"])
def test_a_dead_machines_job_is_failed_by_another_worker_with_no_page_looking(url, workers, other):
    """Worker and work horse SIGKILLed (the machine died): no process of theirs is left to end the job, and
    nobody reads it. Another worker, idle or busy with a job of its own, fails it and its run."""
    import redis

    from core.jobs.redis_queue import LOST, key

    (dying,) = workers.start(1)
    job = replica(url).submit(tiny("on the dead machine", epochs=300), owner="sess")
    wait_for(lambda: job.curves()["batch"], 120, "the first batch")
    horse = job.snapshot()["worker"]["pid"]
    workers.start(1)
    if other == "training":
        busy = replica(url).submit(tiny("elsewhere", epochs=300), owner="other")
        wait_for(lambda: busy.curves()["batch"], 120, "the other worker's first batch")
    os.killpg(dying.pid, signal.SIGKILL)
    os.kill(horse, signal.SIGKILL)
    raw = redis.Redis.from_url(url)  # the record itself: no RemoteJob reads it (a read would fail it too)
    wait_for(lambda: raw.hget(key(job.id), "status") == b"failed", HEARTBEAT * 6 + 15, "a worker to sweep the job")
    assert raw.hget(key(job.id), "error").decode() == LOST
    # The sweeper writes the run's status just after the record's (two stores, a few ms apart).
    wait_for(lambda: run_on_disk(job.id)["status"] == "failed", 10, "the run on disk to say failed")
    if other == "training":
        assert busy.status == "running", "the sweep leaves live jobs alone"
        busy.stop()
        assert busy.wait(60) and busy.status == "stopped"


def test_one_worker_command_with_jobs_2_trains_two_at_once_and_stops_both_on_sigterm(url, workers):
    """``worker --jobs 2``: RQ's worker pool, two trainings side by side; one SIGTERM stops both within a
    batch (runs kept as stopped) and the pool exits."""
    (pool,) = workers.start(1, jobs=2)
    queue = replica(url)
    first, second = queue.submit(tiny("pool one", epochs=300), owner="s"), queue.submit(tiny("pool two", epochs=300),
                                                                                       owner="s")
    for job in (first, second):
        wait_for(lambda job=job: job.curves()["batch"], 180, f"{job.config.name}'s first batch")
    assert first.worker["pid"] != second.worker["pid"] and first.worker["host"] == second.worker["host"]
    assert queue.counts()["workers"] == 2 and queue.counts()["running"] == 2
    pool.send_signal(signal.SIGTERM)
    for job in (first, second):
        assert job.wait(90) and job.status == "stopped", job.snapshot()
        assert run_on_disk(job.id)["status"] == "stopped"
    assert pool.wait(90) == 0, pool.stderr.read()


def test_a_worker_asked_to_stop_ends_its_training_within_a_batch_and_keeps_the_run(url, workers):
    """SIGTERM (a pod replaced, a machine shutting down): the current job stops as a person's stop does, its
    run is kept as stopped, and the worker exits instead of being killed at the end of the grace period."""
    (worker,) = workers.start(1)
    job = replica(url).submit(tiny("shut down", epochs=300), owner="sess")
    wait_for(lambda: job.curves()["batch"], 120, "the first batch")
    worker.send_signal(signal.SIGTERM)
    assert job.wait(60) and job.status == "stopped", job.snapshot()
    assert worker.wait(60) == 0, worker.stderr.read()
    assert run_on_disk(job.id)["status"] == "stopped"


def _cli_train(url: str, *extra: str, name: str = "from the cli", epochs: int = 1) -> subprocess.Popen:
    args = [sys.executable, "-m", "core", "train", "--data", "shapes", "--model", "small_cnn", "--epochs",
            str(epochs), "--image-size", "32", "--patience", "0", "--name", name, "--queue", url, *extra]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_cli_submits_waits_and_prints_the_worker(url, workers):
    workers.start(1)
    cli = _cli_train(url, "--json")
    out, err = cli.communicate(timeout=240)
    assert cli.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "complete" and result["val_accuracy"] is not None and result["history"]
    assert result["worker"]["host"] == socket.gethostname() and result["worker"]["pid"] > 0
    assert "Queued as " in err and "[stage1]" in err and "val_accuracy" in err  # progress, as today
    assert run_on_disk(Path(result["run_dir"]).name)["status"] == "complete"


def test_a_restarted_submitter_loses_nothing(url, workers):
    """The CLI that submitted is killed mid-training, and a fresh replica connects: the job trains on and
    its progress (all of it, from the first event) is there."""
    workers.start(1)
    cli = _cli_train(url, name="orphan", epochs=3)
    job_id = wait_for(lambda: next((j.id for j in replica(url).jobs(runs.EVERYONE)), None), 60, "the job")
    wait_for(lambda: replica(url).get(job_id).curves()["batch"], 120, "the first batch")
    cli.kill()
    cli.wait(10)
    fresh = replica(url).get(job_id)
    assert [e["status"] for e in fresh.events() if e["kind"] == "status"][:2] == ["queued", "starting"]
    assert fresh.wait(240) and fresh.status == "complete", fresh.error
    assert len(fresh.curves()["epoch"]) == 3


def test_redis_unreachable_or_stopped_is_one_sentence(tmp_path, workers):
    port = free_port()  # nothing listens there
    cli = _cli_train(f"redis://127.0.0.1:{port}/0")
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 2 and "Traceback" not in err
    assert err.strip().startswith(f"error: The training queue at redis://127.0.0.1:{port}/0 cannot be reached (")
    assert err.strip().endswith("or train on this machine without a queue (unset GLASSWING_QUEUE, or leave out "
                                "--queue).")
    assert "cannot be reached" in err and f"127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1
    # Redis stops under a submission waiting for a worker (none runs): the CLI says so and ends.
    proc, own = start_redis(tmp_path)
    cli = _cli_train(own)
    (job,) = wait_for(lambda: replica(own).jobs(runs.EVERYONE), 60, "the submission")
    proc.terminate()
    proc.wait(10)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 2 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith(f"error: The training queue at {own} cannot be reached")
    assert not (runs.runs_root() / job.id).exists(), "nothing trained here instead"


# ---- the Train page on the queue (GLASSWING_QUEUE) ---------------------------------------------------------
APP = str(REPO / "dashboard" / "app.py")


def train_page(session: str):
    from streamlit.testing.v1 import AppTest
    from streamlit.util import calc_hash

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["session_id"] = session
    at._page_hash = calc_hash("train")
    at.run()
    assert not at.exception, at.exception
    return at


def page_text(at) -> str:
    parts = [*at.caption, *at.info, *at.warning, *at.error, *at.success, *at.subheader, *at.markdown]
    return " ".join(str(p.value) for p in parts)


def test_a_job_submitted_by_another_process_shows_its_place_worker_and_end_on_the_page(url, workers,
                                                                                        monkeypatch):
    """Replica A (a separate process) submits for a session; the Train page of replica B (this process)
    follows it: its place in line while no worker runs, the worker once one takes it, the result."""
    monkeypatch.setenv("GLASSWING_QUEUE", url)
    session = "replica-session"
    code = ("from core.jobs.redis_queue import RedisQueue; from core.train.config import TrainConfig; "
            f"RedisQueue({url!r}).submit(TrainConfig(data='shapes', model='small_cnn', epochs=2, image_size=32, "
            f"name='from replica A'), owner={session!r})")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
    at = train_page(session)
    text = page_text(at)
    assert "Current training: from replica A" in text
    assert "you are number 1 in line" in text and "No worker is taking jobs from the training queue yet" in text
    workers.start(1)

    def on_a_worker():
        at.run()
        return "Training on worker " in page_text(at)

    wait_for(on_a_worker, 120, "the page to name the worker")
    assert not at.exception, at.exception

    def finished():
        at.run()
        return any(s.value.startswith("Finished. Validation accuracy") for s in at.success)

    wait_for(finished, 180, "the page to show the finished job")
    (table,) = [d.value for d in at.dataframe if "status" in d.value.columns]  # the run list of replica B
    assert table[table["name"] == "from replica A"]["status"].tolist() == ["complete"]


def test_the_page_starts_jobs_on_the_queue_and_says_when_redis_is_down(url, tmp_path, monkeypatch):
    """The page's Start puts the job on the queue, not in this process; then Redis stops while the page
    follows the job: one sentence where the job was, the runs still listed, the page alive."""
    from core.jobs.local import JobQueue

    server, url = start_redis(tmp_path)  # its own Redis, stopped below
    monkeypatch.setenv("GLASSWING_QUEUE", url)
    local_jobs = []
    monkeypatch.setattr(JobQueue, "submit", lambda self, *a, **k: local_jobs.append(a) or pytest.fail("local"))
    at = train_page("page-session")
    from core.data.catalog import list_datasets

    shapes = next(e.get("path") or e["id"] for e in list_datasets() if e["id"] == "shapes")  # the form's key
    at.selectbox(key="train_data").set_value(shapes).run()
    at.selectbox(key="train_model").set_value("small_cnn").run()
    at.number_input(key="train_image_size").set_value(32)
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert any(s.value == "Training started: follow it on the right." for s in at.success), page_text(at)
    (job,) = replica(url).jobs("page-session", include_shared=False)  # on the queue, not in this process
    assert job.status == "queued" and not local_jobs
    # A reload (a new script session, the same session id) finds the job again, in its place in line, and
    # restores the form's dataset from it.
    reloaded = train_page("page-session")
    assert "you are number 1 in line" in page_text(reloaded), page_text(reloaded)
    assert reloaded.selectbox(key="train_data").value == shapes
    server.terminate()
    server.wait(10)
    at.run()
    assert not at.exception, at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith(f"The training queue at {url} cannot be reached (")
    assert "Your runs" in [s.value for s in at.subheader], page_text(at)
    assert not local_jobs, "nothing was trained here instead"


@pytest.mark.parametrize("value, expected", [("", None), ("local", None), (" LOCAL ", None),
                                             ("redis://h:6379/0", "redis://h:6379/0"),
                                             ("unix:///run/redis.sock", "unix:///run/redis.sock")])
def test_the_queue_setting_picks_the_backend(monkeypatch, value, expected):
    from core.jobs import queue_url

    monkeypatch.setenv("GLASSWING_QUEUE", value)
    assert queue_url() == expected


@pytest.mark.parametrize("value, words", [("http://h:6379", "must be a Redis URL"), ("redis:/", "must be a Redis URL"),
                                          ("redis://h:port/0", "the port in 'redis://h:port/0' is not a number"),
                                          ("6379", "must be a Redis URL")])
def test_a_nonsense_queue_setting_is_refused_when_the_server_starts(monkeypatch, value, words):
    from core.config import check_settings
    from core.errors import ParameterError

    monkeypatch.setenv("GLASSWING_QUEUE", value)
    with pytest.raises(ParameterError, match="^GLASSWING_QUEUE") as caught:
        check_settings()
    assert words in str(caught.value)


def test_a_password_in_the_queue_url_is_never_shown():
    from core.jobs import safe_url
    from core.jobs.redis_queue import QueueUnreachableError, connect

    assert safe_url("redis://user:s3cret@h:6379/0") == "redis://user:***@h:6379/0"
    assert safe_url("redis://:s3cret@h/0") == "redis://***@h/0"
    with pytest.raises(QueueUnreachableError) as caught:
        connect(f"redis://:s3cret@127.0.0.1:{free_port()}/0")
    assert "s3cret" not in str(caught.value) and "***@127.0.0.1" in str(caught.value)
