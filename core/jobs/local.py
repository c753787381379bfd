"""The local job backend: one queue per process, a few trainings at a time, the rest waiting in line.

The dashboard submits a config and gets a :class:`Job` back at once; a worker thread runs it, by
default in a child process at a lower priority (:mod:`core.train.worker`; ``GLASSWING_TRAIN_IN=thread``
trains on the worker thread itself), never on Streamlit's script thread, so navigation and reruns
neither block nor restart it. A page reads ``job.snapshot()`` and ``job.events(since)`` on every rerun
to draw progress and curves, and ``job.stop()`` ends the job within a batch. Jobs belong to an
``owner`` (a session id; None is shared) and a session only sees its own jobs and the shared ones.

At most ``GLASSWING_MAX_TRAINING_JOBS`` (default 1) jobs train at once; a 2-core machine is saturated
by one. Finished jobs are kept (bounded) so a page can still show how a job ended.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import priority
from core.config import env_number
from core.errors import GlasswingError, ParameterError, UnknownNameError
from core.train import runs
from core.train.config import TrainConfig
from core.train.events import Listener, status_event

QUEUED, RUNNING, STOPPING = "queued", "running", "stopping"
COMPLETE, STOPPED, FAILED = runs.COMPLETE, runs.STOPPED, runs.FAILED
FINISHED = (COMPLETE, STOPPED, FAILED)
MAX_BATCH_EVENTS = 3000  # per job; beyond it every other batch event is dropped (the curve keeps its shape)
MAX_FINISHED_JOBS = 50  # finished jobs remembered per process
MAX_COUNTED_OWNERS = 100_000  # sessions whose started jobs are counted (the longest idle are dropped first)
PRIORITY_MAX_WAIT = 1.0  # seconds a job waits, per batch, for people's heatmaps (core.priority)

Runner = Callable[..., Any]  # engine.train's signature


def train_in() -> str:
    """``GLASSWING_TRAIN_IN``: ``process`` (default: a child process, see :mod:`core.train.worker`) or
    ``thread`` (the job queue's worker thread, in this process)."""
    value = os.environ.get("GLASSWING_TRAIN_IN", "").strip().lower() or "process"
    if value not in ("process", "thread"):
        raise ParameterError(f"GLASSWING_TRAIN_IN must be 'process' or 'thread', got {value!r}.")
    return value


def default_runner() -> Runner:
    """What runs a job when the queue was given no runner: see :func:`train_in`."""
    if train_in() == "thread":
        from core.train.engine import train

        return train
    from core.train.worker import train_in_child

    return train_in_child


def max_training_jobs() -> int:
    """``GLASSWING_MAX_TRAINING_JOBS`` (default 1, up to 64): trainings allowed to run at the same time."""
    return env_number("GLASSWING_MAX_TRAINING_JOBS", 1, 1, 64)


def visible(job_owner: str | None, owner: str | None, include_shared: bool = True) -> bool:
    """Whether ``owner`` sees a job of ``job_owner``: its own, the shared ones (``include_shared``), all of
    them for ``runs.EVERYONE``."""
    return owner == runs.EVERYONE or job_owner == owner or (job_owner is None and include_shared)


@dataclass(eq=False)
class Job(Listener):
    """One training job. Thread-safe: the worker writes events, any thread reads them."""

    id: str
    owner: str | None
    config: TrainConfig
    run_dir: Path
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    status: str = QUEUED
    error: str | None = None
    result: dict[str, Any] | None = None
    _queue: JobQueue | None = field(default=None, repr=False)
    _events: list[dict] = field(default_factory=list, repr=False)
    _seq: int = 0
    _batch_events: int = 0
    _latest: dict[str, Any] = field(default_factory=dict, repr=False)
    yield_to_pages: bool = True  # training on a thread of this process: pause between batches for pages
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    # -- Listener: called on the worker thread ---------------------------------------------------------
    def _add(self, event: dict) -> None:
        with self._lock:
            self._seq += 1
            event = {**event, "seq": self._seq}
            self._events.append(event)
            self._latest[event["kind"]] = event
            if event["kind"] == "batch":
                self._batch_events += 1
                if self._batch_events > MAX_BATCH_EVENTS:
                    self._thin()

    def _thin(self) -> None:
        keep, odd = [], False
        for event in self._events:
            if event["kind"] == "batch":
                odd = not odd
                if not odd:
                    continue
            keep.append(event)
        self._events = keep
        self._batch_events = sum(1 for e in keep if e["kind"] == "batch")

    def on_status(self, event: dict) -> None:
        self._add(event)

    def on_batch(self, event: dict) -> None:
        self._add(event)
        if self.yield_to_pages:  # a job on a thread of the server lets a waiting heatmap go first
            priority.wait_for_quiet(max_wait=PRIORITY_MAX_WAIT)

    def on_epoch(self, event: dict) -> None:
        self._add(event)

    # -- for pages ---------------------------------------------------------------------------------------
    @property
    def position(self) -> int | None:
        """1 for the next job to start, 2 after it, ...; None once the job has started."""
        return self._queue.position(self) if self._queue is not None and self.status == QUEUED else None

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    def events(self, since: int = 0) -> list[dict]:
        """Events with ``seq`` greater than ``since``, oldest first (poll with the last seq you saw)."""
        with self._lock:
            return [e for e in self._events if e["seq"] > since]

    def curves(self) -> dict[str, list[dict]]:
        """Per-batch and per-epoch training events, for loss and accuracy charts."""
        with self._lock:
            return {"batch": [e for e in self._events if e["kind"] == "batch" and "loss" in e],
                    "epoch": [e for e in self._events if e["kind"] == "epoch"]}

    def snapshot(self) -> dict[str, Any]:
        """Status, queue position, progress, ETA and the latest numbers, as one JSON-able dict."""
        with self._lock:
            latest = dict(self._latest)
        last = max(latest.values(), key=lambda e: e["seq"], default={})
        phase = (latest.get("status") or {}).get("status")
        return {
            "id": self.id, "owner": self.owner, "status": self.status, "phase": phase,
            "position": self.position, "run_dir": str(self.run_dir), "model": str(self.config.model),
            "data": str(self.config.data), "name": self.config.name,
            "progress": 1.0 if self.status == COMPLETE else last.get("progress", 0.0),
            "eta_seconds": None if self.done else last.get("eta_seconds"),
            "message": (latest.get("status") or {}).get("message", ""), "error": self.error,
            "batch": latest.get("batch"), "epoch": latest.get("epoch"), "created": self.created,
            "started": self.started, "finished": self.finished,
            "val_accuracy": (self.result or {}).get("val_accuracy"),
        }

    def stop(self) -> None:
        """Ask the job to stop: a queued job never starts, a running one ends within a batch."""
        self._stop.set()
        if self._queue is not None:
            self._queue._cancel_if_queued(self)
        with self._lock:
            if self.status == RUNNING:
                self.status = STOPPING

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished (True) or ``timeout`` seconds passed (False)."""
        return self._done.wait(timeout)


class JobQueue:
    """Runs submitted jobs on worker threads, at most ``max_concurrent`` at a time, in submission order."""

    def __init__(self, max_concurrent: int | None = None, runs_root: str | os.PathLike | None = None,
                 runner: Runner | None = None) -> None:
        self.max_concurrent = max_concurrent if max_concurrent is not None else max_training_jobs()
        if self.max_concurrent < 1:
            raise ParameterError(f"max_concurrent must be at least 1, got {self.max_concurrent}.")
        self.runs_root = runs_root
        self._runner = runner
        self._lock = threading.RLock()
        self._waiting: list[Job] = []
        self._running: list[Job] = []
        self._finished: list[Job] = []
        self._started: OrderedDict[str, int] = OrderedDict()  # owner -> jobs submitted, finished ones too

    # -- submitting and looking up ------------------------------------------------------------------------
    def submit(self, config: TrainConfig, owner: str | None = None) -> Job:
        """Queue a training job; a bad config raises here, before anything is queued."""
        config.validate()
        if owner == runs.EVERYONE:
            raise ParameterError("owner must be a session id or None.")
        root = runs.runs_root(self.runs_root)
        run_id = runs.new_run_id(str(config.model))
        job = Job(id=run_id, owner=owner, config=config, run_dir=root / run_id, _queue=self)
        job.on_status(status_event(QUEUED, "Waiting for a free training slot"))
        with self._lock:
            if owner is not None:
                self._started[owner] = self._started.pop(owner, 0) + 1
                while len(self._started) > MAX_COUNTED_OWNERS:
                    self._started.popitem(last=False)
            self._waiting.append(job)
            self._dispatch()
        return job

    def started(self, owner: str) -> int:
        """Jobs ``owner`` has submitted to this queue (a classroom's per-session limit), counting those
        finished long ago that :meth:`jobs` no longer lists."""
        with self._lock:
            return self._started.get(owner, 0)

    def jobs(self, owner: str | None = None, include_shared: bool = True) -> list[Job]:
        """Jobs visible to ``owner`` (its own, plus shared ones), newest first. ``runs.EVERYONE`` sees all."""
        with self._lock:
            every = self._running + self._waiting + self._finished
        return sorted((j for j in every if visible(j.owner, owner, include_shared)), key=lambda j: j.created,
                      reverse=True)

    def get(self, job_id: str, owner: str | None = None) -> Job:
        for job in self.jobs(owner):
            if job.id == job_id:
                return job
        raise UnknownNameError(f"No training job {job_id!r} for this session.")

    def position(self, job: Job) -> int | None:
        with self._lock:
            return self._waiting.index(job) + 1 if job in self._waiting else None

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"running": len(self._running), "waiting": len(self._waiting),
                    "max_concurrent": self.max_concurrent}

    # -- internals ---------------------------------------------------------------------------------------
    def _cancel_if_queued(self, job: Job) -> None:
        with self._lock:
            if job not in self._waiting:
                return
            self._waiting.remove(job)
            self._finish(job, STOPPED, None)
        job.on_status(status_event(STOPPED, "Cancelled before it started."))

    def _dispatch(self) -> None:
        with self._lock:
            while self._waiting and len(self._running) < self.max_concurrent:
                job = self._waiting.pop(0)
                self._running.append(job)
                with job._lock:
                    job.status, job.started = RUNNING, time.time()
                threading.Thread(target=self._work, args=(job,), name=f"glasswing-train-{job.id}",
                                 daemon=True).start()

    def _work(self, job: Job) -> None:
        status, error, result = FAILED, None, None
        try:
            runner = self._runner or default_runner()
            from core.train.worker import train_in_child

            job.yield_to_pages = runner is not train_in_child  # the OS does it for a lower-priority process
            outcome = runner(job.config, runs_root=job.run_dir.parent, owner=job.owner, listener=job,
                             stop_event=job._stop, run_id=job.id)
            result = outcome.to_dict() if hasattr(outcome, "to_dict") else dict(outcome or {})
            status = result.get("status", COMPLETE)
        except GlasswingError as exc:
            error = str(exc)
        except BaseException as exc:  # noqa: BLE001 - a worker thread must always record how it ended
            error = f"Unexpected error ({type(exc).__name__}): {exc}"
            traceback.print_exc(file=sys.stderr)
        if error is not None and not any(e.get("status") == FAILED for e in job.events()):
            job.on_status(status_event(FAILED, error))
        with self._lock:
            if job in self._running:
                self._running.remove(job)
            job.result = result
            self._finish(job, status, error)
            self._dispatch()

    def _finish(self, job: Job, status: str, error: str | None) -> None:
        with job._lock:
            job.status, job.error, job.finished = status, error, time.time()
        self._finished.append(job)
        del self._finished[:-MAX_FINISHED_JOBS]
        job._done.set()
