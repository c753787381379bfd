"""Training jobs on a Redis queue (RQ): submitted by any dashboard replica or CLI, run by any worker.

What lives in Redis, for job ``ID`` (all keys start with ``glasswing:``):

- ``job:ID`` (hash): the record every replica reads: owner, config, status, times, error, result, worker;
- ``job:ID:events`` (stream): the training events as JSON, oldest first, so a replica that opens the page
  late draws the whole curve;
- ``job:ID:alive`` (a key with a TTL of :func:`heartbeat_seconds`): refreshed by the job's process while it
  trains; a running job whose key has expired lost its worker (SIGKILL, a crash, a cut cable) and is marked
  failed by whoever notices first (a reader of the job, or a live worker's :meth:`RedisQueue.sweep`), and its
  run folder with it;
- ``job:ID:stop`` (a key): asks the worker to stop within a batch;
- ``jobs`` (sorted set by creation time) and ``started`` (hash owner -> jobs submitted).

RQ holds the line itself (the queue ``glasswing-train``): positions, one worker per job, and the fresh work
horse process each job runs in. Status changes go through one Lua script that checks the status it
expects, so a stop, a finish and a lost worker can race without a job ending twice.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.config import env_number
from core.errors import GlasswingError, ParameterError, UnknownNameError
from core.i18n import N_
from core.jobs import safe_url
from core.jobs.local import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, STOPPING, Job, visible
from core.train import runs
from core.train.config import TrainConfig
from core.train.events import status_event

QUEUE_NAME = "glasswing-train"
PREFIX = "glasswing:"
TASK = "core.jobs.task.run"  # RQ imports it in the worker: the submitter never loads TensorFlow
KEEP_SECONDS = 7 * 24 * 3600  # a finished job's record and events, then Redis forgets them
MAX_LISTED = 200  # newest jobs a page lists
MAX_STREAM = 20_000  # events kept per job (approximately: Redis trims whole nodes)
SYNC_EVERY = 0.2  # seconds between two reads of the same job's record by one process
LOST = ("The worker training this job stopped answering (it was killed, crashed or lost Redis) before it "
        "finished; the run is marked failed.")

# Set fields on a job's record (KEYS[1]) only if its status is one of ARGV[1] (comma-separated) and, when
# KEYS[3] is given, that key does not exist (a running job whose heartbeat expired); then append the event
# ARGV[2] (if not empty) to its stream KEYS[2], in the same step, so a reader that sees the new status
# also sees the event that says why.
_TRANSITION = f"""
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
for allowed in string.gmatch(ARGV[1], '[^,]+') do
  if status == allowed then
    redis.call('HSET', KEYS[1], unpack(ARGV, 3))
    if ARGV[2] ~= '' then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', '{MAX_STREAM}', '*', 'e', ARGV[2])
    end
    return 1
  end
end
return 0
"""


UNREACHABLE = N_("The training queue at {url} cannot be reached ({reason}). Start Redis there (and a worker: "
                 "python -m core worker --queue URL), or train on this machine without a queue (unset "
                 "GLASSWING_QUEUE, or leave out --queue).")


class QueueUnreachableError(GlasswingError):
    """Redis cannot be reached: nothing is submitted, and nothing falls back to training here."""


def heartbeat_seconds() -> int:
    """``GLASSWING_JOB_HEARTBEAT_SECONDS`` (default 15, 2..600): how long a silent worker keeps its job."""
    return env_number("GLASSWING_JOB_HEARTBEAT_SECONDS", 15, 2, 600)


def job_timeout_seconds() -> int:
    """``GLASSWING_JOB_TIMEOUT_SECONDS`` (default one day): the longest a training may run on a worker."""
    return env_number("GLASSWING_JOB_TIMEOUT_SECONDS", 24 * 3600, 60, 30 * 24 * 3600)


def key(job_id: str, part: str = "") -> str:
    return f"{PREFIX}job:{job_id}" + (f":{part}" if part else "")


def connect(url: str):
    """A Redis client for ``url`` that has answered a PING, else :class:`QueueUnreachableError`."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10,
                                      health_check_interval=30)
    except ValueError as exc:
        raise ParameterError(f"The queue URL {safe_url(url)!r} is not one Redis understands ({exc}).") from None
    with reachable(url):
        client.ping()
    return client


@contextmanager
def reachable(url: str) -> Iterator[None]:
    """Redis's connection errors, as one sentence naming the queue."""
    import redis

    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise QueueUnreachableError.say(UNREACHABLE, url=safe_url(url), reason=_reason(exc)) from None
    except redis.exceptions.ResponseError as exc:
        raise QueueUnreachableError.say(N_("The training queue at {url} refused a command ({reason})."),
                                        url=safe_url(url), reason=str(exc)) from None


def _reason(exc: Exception) -> str:
    text = str(exc).strip().rstrip(".")
    return text.split(". ")[0] if text else type(exc).__name__


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _number(value: Any) -> float | None:
    try:
        return float(_text(value)) if value not in (None, b"", "") else None
    except ValueError:
        return None


class RemoteJob(Job):
    """A job on the Redis queue, seen from this process: the record and events mirrored on each read.

    Reads are cheap (one HGETALL and one XRANGE of the new events, at most every :data:`SYNC_EVERY` s);
    the status, error and result are those of the record, so every replica agrees on them.
    """

    def __init__(self, queue: RedisQueue, job_id: str, owner: str | None, config: TrainConfig,
                 created: float) -> None:
        super().__init__(id=job_id, owner=owner, config=config, run_dir=queue.runs_dir / job_id,
                         created=created, yield_to_pages=False)
        self._remote = queue
        self._stream_id = "-"
        self._synced = 0.0
        self._sync_lock = threading.Lock()
        self.worker: dict[str, Any] | None = None

    # The record's fields, kept current by _sync (the dataclass fields of Job are plain attributes).
    def _sync(self, force: bool = False) -> None:
        with self._sync_lock:
            if not force and (time.monotonic() - self._synced < SYNC_EVERY or self._status_final()):
                return
            self._synced = time.monotonic()
            record, events = self._remote._read(self.id, self._stream_id)
            if record.get("status") in (RUNNING, STOPPING) and record.get("alive") == "0" \
                    and self._remote._lost(self.id):
                record, events = self._remote._read(self.id, self._stream_id)
            for stream_id, event in events:
                self._stream_id = "(" + stream_id  # exclusive: the next read starts after it
                self._add(event)
            if record:
                self._apply(record)

    def _status_final(self) -> bool:
        return self.__dict__.get("status") in FINISHED and self.__dict__.get("_final_read", False)

    def _apply(self, record: dict[str, str]) -> None:
        status = record.get("status", QUEUED)
        with self._lock:
            self.status = status
            self.error = record.get("error") or None
            self.started = _number(record.get("started"))
            self.finished = _number(record.get("finished"))
            self.result = json.loads(record["result"]) if record.get("result") else None
            if record.get("worker_host"):
                self.worker = {"host": record["worker_host"], "pid": int(record.get("worker_pid") or 0)}
        if status in FINISHED:
            self.__dict__["_final_read"] = True
            self._done.set()

    # -- what pages read ----------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        self._sync()
        return self.status in FINISHED

    @property
    def position(self) -> int | None:
        self._sync()
        return self._remote.position(self) if self.status == QUEUED else None

    def events(self, since: int = 0) -> list[dict]:
        self._sync()
        return super().events(since)

    def curves(self) -> dict[str, list[dict]]:
        self._sync()
        return super().curves()

    def snapshot(self) -> dict[str, Any]:
        self._sync()
        return {**super().snapshot(), "worker": self.worker, "queue": safe_url(self._remote.url)}

    def stop(self) -> None:
        """Ask for a stop from any replica: a queued job never starts, a running one ends within a batch."""
        self._remote._stop(self)
        self._sync(force=True)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._sync(force=True)
            if self.status in FINISHED:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


class RedisQueue:
    """The queue of training jobs in Redis at ``url``, with the local queue's methods (see core.jobs)."""

    def __init__(self, url: str, runs_root: str | os.PathLike | None = None, client=None) -> None:
        from rq import Queue

        self.url = url
        self.runs_root = runs_root
        self.redis = client if client is not None else connect(url)
        self.rq = Queue(QUEUE_NAME, connection=self.redis)
        self._transition = self.redis.register_script(_TRANSITION)
        self._jobs: OrderedDict[str, RemoteJob] = OrderedDict()  # mirrors, so events are read once
        self._lock = threading.Lock()

    @property
    def runs_dir(self) -> Path:
        return runs.runs_root(self.runs_root)

    # -- submitting and looking up ------------------------------------------------------------------------
    def submit(self, config: TrainConfig, owner: str | None = None) -> RemoteJob:
        """Put a training on the queue; a bad config (or an unreachable Redis) raises before anything is."""
        config.validate()
        if owner == runs.EVERYONE:
            raise ParameterError("owner must be a session id or None.")
        job_id = runs.new_run_id(str(config.model))
        created = time.time()
        record = {"id": job_id, "owner": owner or "", "config": json.dumps(config.to_dict()),
                  "created": repr(created), "status": QUEUED}
        waiting = status_event(QUEUED, "Waiting for a free worker")
        with reachable(self.url):
            with self.redis.pipeline() as pipe:
                pipe.hset(key(job_id), mapping=record)
                pipe.xadd(key(job_id, "events"), {"e": json.dumps(waiting)})
                pipe.zadd(f"{PREFIX}jobs", {job_id: created})
                if owner is not None:
                    pipe.hincrby(f"{PREFIX}started", owner, 1)
                pipe.execute()
            try:  # the record first: a worker that takes the job at once must find it
                self.rq.enqueue_call(TASK, args=(job_id,), job_id=job_id, timeout=job_timeout_seconds(),
                                     result_ttl=KEEP_SECONDS, failure_ttl=KEEP_SECONDS,
                                     description=f"train {config.name or config.model} on {config.data}",
                                     on_failure="core.jobs.task.on_rq_failure")
            except BaseException:  # not in line: no record may say it waits there
                self._forget(job_id)
                raise
        return self._mirror(job_id, [record["owner"], record["config"], record["created"]])

    def _forget(self, job_id: str) -> None:
        try:
            with self.redis.pipeline() as pipe:
                pipe.delete(key(job_id), key(job_id, "events"))
                pipe.zrem(f"{PREFIX}jobs", job_id)
                pipe.execute()
        except Exception:  # noqa: BLE001 - Redis gone as well: the enqueue's own error is the one to report
            pass

    def started(self, owner: str) -> int:
        with reachable(self.url):
            return int(self.redis.hget(f"{PREFIX}started", owner) or 0)

    def jobs(self, owner: str | None = None, include_shared: bool = True) -> list[RemoteJob]:
        """Jobs visible to ``owner`` (its own and the shared ones; ``runs.EVERYONE`` sees all), newest first."""
        with reachable(self.url):
            ids = [_text(i) for i in self.redis.zrevrange(f"{PREFIX}jobs", 0, MAX_LISTED - 1)]
            with self.redis.pipeline() as pipe:
                for job_id in ids:
                    pipe.hmget(key(job_id), "owner", "config", "created")
                rows = pipe.execute()
        listed = []
        for job_id, row in zip(ids, rows, strict=True):
            job = self._mirror(job_id, row)
            if job is not None and visible(job.owner, owner, include_shared):
                listed.append(job)
        return listed

    def get(self, job_id: str, owner: str | None = None) -> RemoteJob:
        with reachable(self.url):
            row = self.redis.hmget(key(job_id), "owner", "config", "created")
        job = self._mirror(job_id, row)
        if job is None or not visible(job.owner, owner):
            raise UnknownNameError(f"No training job {job_id!r} for this session.")
        return job

    def sweep(self) -> list[str]:
        """Fail every listed running job whose heartbeat has expired (its worker died with its machine), as a
        reader of that job would; returns their ids. Live workers call it, so such a job ends within a bounded
        time even when no page is looking (see :mod:`core.jobs.worker`)."""
        with reachable(self.url):
            ids = [_text(i) for i in self.redis.zrevrange(f"{PREFIX}jobs", 0, MAX_LISTED - 1)]
            with self.redis.pipeline() as pipe:
                for job_id in ids:
                    pipe.hget(key(job_id), "status")
                    pipe.exists(key(job_id, "alive"))
                flags = pipe.execute()
        suspects = [job_id for job_id, status, alive in zip(ids, flags[::2], flags[1::2], strict=True)
                    if _text(status) in (RUNNING, STOPPING) and not alive]
        return [job_id for job_id in suspects if self._lost(job_id)]  # the script re-checks, atomically

    def position(self, job: Job) -> int | None:
        with reachable(self.url):
            place = self.rq.get_job_position(job.id)
        return None if place is None else place + 1

    def counts(self) -> dict[str, int]:
        from rq import Worker

        with reachable(self.url):
            return {"running": self.rq.started_job_registry.count, "waiting": self.rq.count,
                    "workers": Worker.count(queue=self.rq)}

    # -- internals -----------------------------------------------------------------------------------------
    def _mirror(self, job_id: str, row: list) -> RemoteJob | None:
        """This process's mirror of the job whose record's (owner, config, created) is ``row``, made on first
        sight (the config is parsed once, not on every listing); None if the record has expired."""
        row_owner, config, created = row
        if config is None:
            return None
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                job = self._jobs[job_id] = RemoteJob(self, job_id, _text(row_owner) or None,
                                                     TrainConfig.from_dict(json.loads(_text(config))),
                                                     _number(created) or 0.0)
            self._jobs.move_to_end(job_id)
            while len(self._jobs) > MAX_LISTED * 2:
                self._jobs.popitem(last=False)
        return job

    def _read(self, job_id: str, after: str) -> tuple[dict[str, str], list[tuple[str, dict]]]:
        with reachable(self.url):
            with self.redis.pipeline() as pipe:
                pipe.hgetall(key(job_id))
                pipe.exists(key(job_id, "alive"))
                pipe.xrange(key(job_id, "events"), min=after, max="+")
                record, alive, entries = pipe.execute()
        record = {_text(k): _text(v) for k, v in record.items()}
        if record:
            record["alive"] = "1" if alive else "0"
        events = []
        for stream_id, fields in entries:
            try:
                events.append((_text(stream_id), json.loads(_text(fields[b"e"]))))
            except (KeyError, ValueError):
                continue
        return record, events

    def transition(self, job_id: str, allowed: tuple[str, ...], unless_alive: bool = False,
                   event: dict | None = None, **fields: Any) -> bool:
        """Set ``fields`` on the job's record if its status is one of ``allowed`` (and, with
        ``unless_alive``, its heartbeat has expired), adding ``event`` to its stream; True if it was set."""
        keys = [key(job_id), key(job_id, "events")] + ([key(job_id, "alive")] if unless_alive else [])
        args = [",".join(allowed), json.dumps(event) if event else ""]
        args += [str(v) for pair in fields.items() for v in pair]
        with reachable(self.url):
            return bool(self._transition(keys=keys, args=args))

    def add_event(self, job_id: str, event: dict) -> None:
        with reachable(self.url):
            self.redis.xadd(key(job_id, "events"), {"e": json.dumps(event)}, maxlen=MAX_STREAM, approximate=True)

    def finish_keys(self, job_id: str) -> None:
        """A finished job's keys expire after :data:`KEEP_SECONDS`; its heartbeat and stop request go now."""
        with reachable(self.url):
            with self.redis.pipeline() as pipe:
                pipe.delete(key(job_id, "alive"), key(job_id, "stop"))
                pipe.expire(key(job_id), KEEP_SECONDS)
                pipe.expire(key(job_id, "events"), KEEP_SECONDS)
                pipe.execute()

    def _lost(self, job_id: str) -> bool:
        """A running job without a heartbeat: mark it and its run failed (once, whoever sees it first)."""
        if not self.transition(job_id, (RUNNING, STOPPING), unless_alive=True, event=status_event(FAILED, LOST),
                               status=FAILED, error=LOST, finished=repr(time.time())):
            return False
        from core.train.worker import mark_failed

        mark_failed(self.runs_root, job_id, LOST)  # first: the run must not stay "running" if Redis goes now
        self.finish_keys(job_id)
        return True

    def _stop(self, job: RemoteJob) -> None:
        with reachable(self.url):
            self.redis.set(key(job.id, "stop"), "1", ex=KEEP_SECONDS)
        if self.transition(job.id, (QUEUED,), event=status_event(STOPPED, "Cancelled before it started."),
                           status=STOPPED, finished=repr(time.time()), error=""):
            from rq.exceptions import InvalidJobOperation, NoSuchJobError
            from rq.job import Job as RQJob

            try:
                with reachable(self.url):
                    RQJob.fetch(job.id, connection=self.redis).cancel()
            except (NoSuchJobError, InvalidJobOperation):
                pass  # a worker took it this instant: it reads the stop request before it trains
            self.finish_keys(job.id)
        else:
            self.transition(job.id, (RUNNING,), status=STOPPING)


def queue_of(client) -> RedisQueue:
    """A :class:`RedisQueue` over an open client (an RQ worker's connection), named by its address."""
    where = client.connection_pool.connection_kwargs
    url = (f"unix://{where['path']}" if "path" in where
           else f"redis://{where.get('host', 'localhost')}:{where.get('port', 6379)}/{where.get('db', 0)}")
    return RedisQueue(url, client=client)


_QUEUES: dict[str, RedisQueue] = {}
_QUEUES_LOCK = threading.Lock()


def redis_queue(url: str) -> RedisQueue:
    """The process-wide :class:`RedisQueue` for ``url`` (connected on first use; retried while it fails)."""
    with _QUEUES_LOCK:
        queue = _QUEUES.get(url)
        if queue is None:
            queue = _QUEUES[url] = RedisQueue(url)
        return queue
