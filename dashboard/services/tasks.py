"""Long work that goes on while the person looks elsewhere: one process-wide pool of background tasks.

A page starts a task under a key naming everything its result depends on; the same key from any page or
session finds the same task (two students checking one dataset share one check). The work reports through
core's ``progress(fraction, text)`` convention; the page shows the latest report until the task is done
(:mod:`dashboard.components.task_status`), then reads the result. Finished tasks are kept in an LRU
(pages read their results, never change them); a failed task keeps the one sentence that says why.
Each task remembers the sessions that asked for it, so a reloaded page finds the work it started
(:func:`latest`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.errors import GlasswingError, Message
from core.i18n import N_
from core.progress import Progress

log = logging.getLogger(__name__)

# Threads, not cores: the pool keeps long work off the pages' script threads, and the model's lock already
# serialises work on one model. Several, so that two long Score-CAMs never queue everyone's Grad-CAM.
WORKERS = 8
KEEP = 48  # tasks remembered, running ones included; the least recently used finished ones go first
# The pool's own messages (kept as Messages, in English; each page shows them in its language).
STARTING = N_("Starting ...")
WAITING = N_("Waiting for a free worker ({n} ahead) ...")
OUT_OF_MEMORY = N_("{title} ran out of memory; try fewer or smaller images.")
FAILED = N_("{title} failed unexpectedly ({error}).")


@dataclass
class Task:
    key: Hashable
    title: str  # what the work is, for its progress line ("Checking every image of digits"), in English
    fraction: float = 0.0
    text: str = STARTING
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    result: Any = None
    error: str | None = None
    owners: set[str] = field(default_factory=set)  # the sessions that asked for it
    # The title, the latest report and the error as templates with values (core.errors.Message), so that
    # each page that shows them says them in its own language: a task one session started in English is
    # followed in Chinese by another, or by the same session after switching.
    title_message: Message | None = field(default=None, repr=False)
    text_message: Message | None = field(default_factory=lambda: Message(STARTING), repr=False)
    error_message: Message | None = field(default=None, repr=False)
    exception: GlasswingError | None = field(default=None, repr=False)  # core's error, kept for its template
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self.finished is not None

    def wait(self, seconds: float) -> bool:
        """Block up to ``seconds`` for the task to finish; whether it has."""
        self._finished.wait(max(seconds, 0.0))
        return self.done

    def report(self, fraction: float, text: str | Message) -> None:
        """The work's progress: core's English text, or a page's :class:`Message` of it (said later in
        each viewer's language)."""
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.text, self.text_message = str(text), text if isinstance(text, Message) else None

    def _say(self, attr: str, message: str, **fields: Any) -> None:
        said = Message(message, **fields)
        setattr(self, attr, str(said))
        setattr(self, attr + "_message", said)

    def shown_title(self, translate: Callable[[str], str]) -> str:
        return _shown(self.title, self.title_message, translate)

    def shown_text(self, translate: Callable[[str], str]) -> str:
        """The latest report through ``translate`` (a Message's template with its values)."""
        return _shown(self.text, self.text_message, translate)

    def shown_error(self, translate: Callable[[str], str]) -> str | None:
        """The error's sentence through ``translate`` (None if the task did not fail); core's errors raised
        with a template are translated with their values, as on the page itself."""
        if self.error is None:
            return None
        if self.exception is not None:
            return self.exception.translated(translate)
        return _shown(self.error, self.error_message, translate)


def _shown(text: str, message: Message | None, translate: Callable[[str], str]) -> str:
    return translate(text) if message is None else message.translated(translate)


class TaskPool:
    def __init__(self, workers: int = WORKERS, keep: int = KEEP) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="glasswing-task")
        self._tasks: OrderedDict[Hashable, Task] = OrderedDict()
        self._keep, self._workers = keep, workers
        self._lock = threading.Lock()

    def find(self, key: Hashable) -> Task | None:
        with self._lock:
            task = self._tasks.get(key)
            if task is not None:
                self._tasks.move_to_end(key)
            return task

    def start(self, key: Hashable, title: str | Message, work: Callable[[Progress], Any],
              owner: str | None = None) -> Task:
        """The task for ``key``: the one already running or finished (failed ones too, until
        :meth:`forget`), else ``work(progress)`` started now. ``owner`` (a session) is remembered as
        one that asked for it. ``title`` is best a Message, so that every viewer reads it in their language."""
        with self._lock:
            task = self._tasks.get(key)
            if task is not None:
                self._tasks.move_to_end(key)
                if owner is not None:
                    task.owners.add(owner)
                return task
            ahead = sum(1 for t in self._tasks.values() if not t.done) - self._workers + 1
            task = self._tasks[key] = Task(key, str(title), owners={owner} - {None},
                                           title_message=title if isinstance(title, Message) else None)
            if ahead > 0:
                task._say("text", WAITING, n=ahead)
            self._prune()
        future: Future = self._executor.submit(self._run, task, work)
        del future  # the task holds the outcome; nobody waits on the future
        return task

    def _run(self, task: Task, work: Callable[[Progress], Any]) -> None:
        task.report(0.0, Message(STARTING))  # a worker has it now
        try:
            task.result = work(task.report)
        except GlasswingError as exc:
            # Kept for its template, without its traceback: the frames would hold the work's inputs (an upload).
            exc.__traceback__ = exc.__context__ = exc.__cause__ = None
            task.error, task.exception = str(exc), exc
        except MemoryError:
            task._say("error", OUT_OF_MEMORY, title=task.title_message or task.title)
        except Exception as exc:  # noqa: BLE001 - the page shows one sentence; the log keeps the traceback
            log.exception("background task %r failed", task.title)
            task._say("error", FAILED, title=task.title_message or task.title, error=f"{type(exc).__name__}: {exc}")
        task.finished = time.monotonic()
        task._finished.set()

    def _prune(self) -> None:
        finished = [k for k, t in self._tasks.items() if t.done]
        for key in finished[: max(len(self._tasks) - self._keep, 0)]:
            del self._tasks[key]

    def latest(self, owner: str, kind: str) -> Task | None:
        """Of the kept tasks of ``kind`` (its key's first item) that ``owner`` asked for, the one used last."""
        with self._lock:
            return next((t for k, t in reversed(self._tasks.items())
                         if owner in t.owners and isinstance(k, tuple) and k[:1] == (kind,)), None)

    def forget(self, key: Hashable) -> None:
        """Forget a finished task, so that the next start computes it again (it failed, or its files were
        removed)."""
        with self._lock:
            if key in self._tasks and self._tasks[key].done:
                del self._tasks[key]

    def clear(self, kind: str | None = None) -> None:
        """Forget finished tasks, or those whose key starts with ``kind`` (tests; running ones finish unseen)."""
        with self._lock:
            for key in [k for k, t in self._tasks.items()
                        if t.done and (kind is None or (isinstance(k, tuple) and k[:1] == (kind,)))]:
                del self._tasks[key]


_POOL = TaskPool()


def start(key: Hashable, title: str | Message, work: Callable[[Progress], Any], owner: str | None = None) -> Task:
    return _POOL.start(key, title, work, owner)


def latest(owner: str, kind: str) -> Task | None:
    return _POOL.latest(owner, kind)


def find(key: Hashable) -> Task | None:
    return _POOL.find(key)


def forget(key: Hashable) -> None:
    _POOL.forget(key)


def clear(kind: str | None = None) -> None:
    _POOL.clear(kind)
