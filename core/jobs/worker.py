"""``python -m core worker``'s body: RQ workers taking training jobs from the Redis queue.

Each worker runs one job at a time, each job in a fresh process (RQ's work horse), so nothing a training
loaded stays behind. ``jobs`` above 1 starts an RQ worker pool of that many workers. The worker writes runs
into its own ``GLASSWING_RUNS``: the folder every dashboard replica lists (a shared volume).
"""

from __future__ import annotations

import math
import sys
import time

from core.jobs import safe_url
from core.jobs.redis_queue import KEEP_SECONDS, QUEUE_NAME, connect, heartbeat_seconds, key, queue_of, reachable
from core.train import runs


def _worker_class():
    from rq import Worker

    class GlasswingWorker(Worker):
        """RQ's worker, except that a warm shutdown (the first SIGTERM or Ctrl-C: a pod being replaced, a
        machine going down) asks the current training to stop within a batch, so its run is kept as
        ``stopped`` instead of being killed at the end of the grace period and failed."""

        def __init__(self, *args, **kwargs) -> None:
            # The same intervals for a lone worker and for each worker of a pool (which passes none): RQ's own
            # heartbeat (a worker silent for longer is dead to the others) and how often a busy one looks up.
            kwargs.setdefault("worker_ttl", max(heartbeat_seconds() * 4, 60))
            kwargs.setdefault("job_monitoring_interval", min(heartbeat_seconds(), 30))
            super().__init__(*args, **kwargs)

        @property
        def dequeue_timeout(self) -> int:
            # An idle worker wakes at least every two heartbeats (RQ's default is every 405 s) to sweep.
            return max(1, min(self.worker_ttl - 15, 2 * heartbeat_seconds()))

        @property
        def should_run_maintenance_tasks(self) -> bool:
            return True  # at every wake-up: the sweep below; RQ's own cleaning keeps its interval

        def run_maintenance_tasks(self) -> None:
            if super().should_run_maintenance_tasks:
                super().run_maintenance_tasks()
            self._sweep()

        def maintain_heartbeats(self, job) -> None:  # while this worker's own job trains
            super().maintain_heartbeats(job)
            self._sweep()

        def _sweep(self) -> None:
            """Fail the jobs of workers that died with their machine (no work horse was left to say so), at
            most once per heartbeat: such a job ends within a heartbeat and two wake-ups, looked at or not."""
            moment = time.monotonic()
            if moment - getattr(self, "_swept_at", -math.inf) < heartbeat_seconds():
                return
            self._swept_at = moment
            try:
                for job_id in queue_of(self.connection).sweep():
                    self.log.warning("Job %s lost its worker; marked failed.", job_id)
            except Exception as exc:  # noqa: BLE001 - Redis or the runs folder away: the next wake-up retries
                self.log.warning("Could not sweep for lost jobs: %s", exc)

        def request_stop(self, signum, frame):
            try:
                job_id = self.get_current_job_id()
                if job_id:
                    self.connection.set(key(job_id, "stop"), "worker shutting down", ex=KEEP_SECONDS)
            except Exception:  # noqa: BLE001 - Redis gone: the job fails by its heartbeat; still shut down
                pass
            super().request_stop(signum, frame)

    return GlasswingWorker


def serve(url: str, jobs: int = 1, burst: bool = False, name: str | None = None) -> int:
    """Take jobs from the queue at ``url`` until stopped (SIGTERM or Ctrl-C stop the current training within
    a batch first); with ``burst``, until the queue is empty. Returns the exit code. A pool (``jobs`` > 1)
    uses RQ's own worker names."""
    from rq import Queue
    from rq.worker_pool import WorkerPool

    client = connect(url)
    queue = Queue(QUEUE_NAME, connection=client)
    sys.stderr.write(f"Glasswing worker: {jobs} at a time from {queue.name} at {safe_url(url)}; runs go to "
                     f"{runs.runs_root()}\n")
    sys.stderr.flush()
    with reachable(url):
        if jobs == 1:
            worker = _worker_class()([queue], connection=client, name=name)
            worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
        else:
            WorkerPool([queue], connection=client, num_workers=jobs, worker_class=_worker_class()).start(
                burst=burst, logging_level="WARNING")
    return 0
