"""``python -m core worker``: train the jobs of a Redis queue on this machine.

    python -m core worker --queue redis://HOST:6379/0 [--jobs 1] [--burst]

Runs go into this machine's GLASSWING_RUNS (the runs folder the dashboards list: a shared volume), and the
datasets jobs name must be at the same paths here as on the submitting machine (GLASSWING_DATA shared too).
SIGTERM or Ctrl-C stops the current training within a batch (its run is kept as stopped), then exits; a
second one stops at once (the job is marked failed).
"""

from __future__ import annotations

import argparse

from core.cli.common import positive_int


def _name(text: str) -> str:
    if not text.strip() or len(text) > 100 or any(c.isspace() or not c.isprintable() for c in text):
        raise argparse.ArgumentTypeError(f"--name must be 1 to 100 printable characters without spaces, got {text!r}")
    return text


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="take training jobs from a Redis queue (GLASSWING_QUEUE) and run them here")
    p.add_argument("--queue", metavar="URL", help="the Redis queue, e.g. redis://localhost:6379/0 "
                   "(default: GLASSWING_QUEUE)")
    p.add_argument("--jobs", type=positive_int("--jobs"), default=1,
                   help="trainings at the same time on this machine (default 1: one saturates a small machine)")
    p.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    p.add_argument("--name", type=_name, help="the worker's name in Redis (default: RQ's, host and pid)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.errors import ParameterError
    from core.jobs import check_queue_url, queue_url
    from core.jobs.worker import serve

    if args.name and args.jobs > 1:
        raise ParameterError("--name names one worker: leave it out with --jobs above 1 (RQ names a pool's "
                             "workers itself).")
    url = check_queue_url(args.queue, "--queue") if args.queue else queue_url()
    if url is None:
        raise ParameterError("worker needs a queue: --queue redis://HOST:PORT/DB (or GLASSWING_QUEUE).")
    return serve(url, jobs=args.jobs, burst=args.burst, name=args.name)
