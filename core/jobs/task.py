"""The body of a queued training job, run by an RQ worker (``python -m core worker``) in its work horse.

:func:`run` takes the job's record from Redis, claims it (queued -> running, with this host and pid), keeps
its heartbeat alive while :func:`core.train.engine.train` writes the run into this machine's runs folder
(``GLASSWING_RUNS``, the shared volume), sends every event to the job's stream, turns a stop request into
the engine's stop event, and records how it ended. The dashboard and the CLI only ever read Redis.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

from rq.timeouts import JobTimeoutException

from core.errors import GlasswingError
from core.jobs.local import COMPLETE, FAILED, QUEUED, RUNNING, STOPPED, STOPPING
from core.jobs.redis_queue import (
    LOST,
    RedisQueue,
    heartbeat_seconds,
    key,
    queue_of,
)
from core.train.events import ForwardingListener, status_event


class StreamListener(ForwardingListener):
    """Sends each training event to the job's Redis stream; a lost connection stops the run (nobody
    could see it, nor stop it)."""

    def __init__(self, queue: RedisQueue, job_id: str, stop: threading.Event) -> None:
        self.queue, self.job_id, self.stop = queue, job_id, stop

    def send(self, event: dict) -> None:
        try:
            self.queue.add_event(self.job_id, json.loads(json.dumps(event, default=_plain)))
        except GlasswingError:
            self.stop.set()


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _heartbeat(queue: RedisQueue, job_id: str, stop: threading.Event, finished: threading.Event) -> None:
    """Every third of the heartbeat (at most a second): refresh the job's alive key and read its stop
    request. If the worker that forked this process is gone (SIGKILL), the job ends here as failed: RQ's
    work horse has its own process group and would otherwise train on with nobody to report to."""
    ttl, parent = heartbeat_seconds(), os.getppid()
    while not finished.wait(min(ttl / 3, 1.0)):
        if os.getppid() != parent:
            try:
                _fail(queue, job_id, LOST)
            finally:  # even with Redis gone too: an orphan must not train on unseen
                os._exit(1)
        try:
            with queue.redis.pipeline() as pipe:
                pipe.set(key(job_id, "alive"), "1", ex=ttl)
                pipe.exists(key(job_id, "stop"))
                pipe.hget(key(job_id), "status")
                _, stop_asked, status = pipe.execute()
        except Exception:  # noqa: BLE001 - Redis gone: the listener stops the run at its next event
            continue
        if stop_asked or (status or b"").decode() == FAILED:  # a stop, or declared lost by a replica
            stop.set()


def run(job_id: str) -> dict[str, Any]:
    """Train job ``job_id``; returns its result (also kept in the record). Never raises for the job's own
    failures: they are the record's ``failed`` status and error, which is what every replica shows."""
    from rq import get_current_job

    queue = queue_of(get_current_job().connection)
    record = {k.decode(): v.decode() for k, v in queue.redis.hgetall(key(job_id)).items()}
    if not record:
        return {"status": FAILED, "error": f"The job {job_id} has no record in Redis (it expired)."}
    host, pid = socket.gethostname(), os.getpid()
    # The heartbeat first: a reader that sees "running" must find it, or it would call the job lost.
    queue.redis.set(key(job_id, "alive"), "1", ex=heartbeat_seconds())
    claimed = queue.transition(job_id, (QUEUED,), status=RUNNING, started=repr(time.time()), worker_host=host,
                               worker_pid=pid)
    if not claimed or queue.redis.exists(key(job_id, "stop")):
        if claimed:  # stopped in the instant between the claim and now (a stopper may have said "stopping")
            queue.transition(job_id, (RUNNING, STOPPING),
                             event=status_event(STOPPED, "Stopped before training started."),
                             status=STOPPED, finished=repr(time.time()))
            queue.finish_keys(job_id)
        else:  # someone else's (a stop while queued): leave its record alone
            queue.redis.delete(key(job_id, "alive"))
        return {"status": STOPPED}
    stop, finished = threading.Event(), threading.Event()
    threading.Thread(target=_heartbeat, args=(queue, job_id, stop, finished), daemon=True,
                     name="glasswing-heartbeat").start()
    listener = StreamListener(queue, job_id, stop)
    listener.on_status({**status_event("starting", f"Starting on worker {host} (process {pid})"),
                        "worker": {"host": host, "pid": pid}})
    status, error, result = FAILED, None, None
    try:
        from core.train.config import TrainConfig
        from core.train.engine import train
        from core.train.worker import train_nice

        if hasattr(os, "nice"):  # a worker beside a dashboard leaves the cores to people's heatmaps
            os.nice(train_nice())
        outcome = train(TrainConfig.from_dict(json.loads(record["config"])), owner=record.get("owner") or None,
                        listener=listener, stop_event=stop, run_id=job_id)
        result = outcome.to_dict()
        status = result.get("status", COMPLETE)
    except GlasswingError as exc:
        error = str(exc)
    except JobTimeoutException:
        raise  # RQ's limit (GLASSWING_JOB_TIMEOUT_SECONDS): on_rq_failure says so
    except BaseException as exc:  # noqa: BLE001 - the record must always say how the job ended
        import traceback

        traceback.print_exc()
        error = f"Training failed unexpectedly ({type(exc).__name__}: {exc}); the worker's log has the details."
    finally:
        finished.set()
    if error is not None:
        listener.on_status(status_event(FAILED, error))
        from core.train.worker import mark_failed

        mark_failed(None, job_id, error)
    fields = {"status": status, "finished": repr(time.time()), "error": error or ""}
    if result is not None:
        fields["result"] = json.dumps({**result, "worker": {"host": host, "pid": pid}}, default=_plain)
    queue.transition(job_id, (RUNNING, STOPPING), **fields)
    queue.finish_keys(job_id)
    return {"status": status, "error": error}


def _fail(queue: RedisQueue, job_id: str, message: str) -> None:
    """Mark the job failed with ``message`` unless it has already ended, and its run folder with it."""
    if queue.transition(job_id, (QUEUED, RUNNING, STOPPING), event=status_event(FAILED, message), status=FAILED,
                        error=message, finished=repr(time.time())):
        queue.finish_keys(job_id)
    from core.train.worker import mark_failed

    mark_failed(None, job_id, message)


def on_rq_failure(job, connection, exc_type, exc_value, tb) -> None:
    """RQ's failure callback: the work horse died or RQ failed the job before :func:`run` could say how
    (a kill during start-up, an abandoned job, a timeout). The record is marked failed if it is not yet."""
    timeout = exc_type is not None and exc_type.__name__ == "JobTimeoutException"
    _fail(queue_of(connection), job.id, "The training took longer than the worker allows "
          "(GLASSWING_JOB_TIMEOUT_SECONDS)." if timeout else LOST)
