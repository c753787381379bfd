"""Training in a child process: :func:`train_in_child` (the job queue's default runner) and the child's
entry point, ``python -m core.train.worker`` (started by it; not a command for people).

Why a process and not a thread of the server: TensorFlow's thread pools are per process, so a training
thread in the dashboard's server competes with every visitor's heatmap for them and a running batch
cannot be preempted. A child process at a lower scheduling priority (``GLASSWING_TRAIN_NICE``, default
10) leaves the cores to the pages whenever they want them and trains with what is left. A crash or an
out-of-memory kill during training ends that job, not the server, and the memory training used goes
back to the system when it ends.

The protocol, one JSON object per line:

- parent to child, on stdin: the job (``config``, ``runs_root``, ``owner``, ``run_id``), then ``stop``
  to ask for a stop; end of stdin (the parent died) stops the run too;
- child to parent, on its original stdout (fd 1 is pointed at stderr before anything else runs, so
  nothing but the protocol can write there): the listener's events as they happen, then one
  ``{"kind": "result", ...}`` or ``{"kind": "error", ...}``. Log lines and tracebacks go to stderr,
  which is the parent's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import IO, Any

from core.config import REPO_ROOT, env_number
from core.errors import GlasswingError
from core.train import runs
from core.train.config import TrainConfig
from core.train.events import ForwardingListener, Listener, status_event

EVENT_KINDS = ("status", "batch", "epoch")
DEFAULT_NICE = 10


class TrainingProcessError(GlasswingError):
    """The training process failed in a way its own code did not explain (a bug, a kill, a crash)."""


def train_nice() -> int:
    """``GLASSWING_TRAIN_NICE`` (default 10, 0..19): how much lower the training process's priority is."""
    return env_number("GLASSWING_TRAIN_NICE", DEFAULT_NICE, 0, 19)


# -- the parent's side ----------------------------------------------------------------------------------------
def train_in_child(config: TrainConfig, runs_root: str | os.PathLike | None = None, owner: str | None = None,
                   listener: Listener | None = None, stop_event: threading.Event | None = None,
                   run_id: str | None = None) -> dict[str, Any]:
    """:func:`core.train.engine.train` in a child process; same arguments, returns the result as a dict.

    Events reach ``listener`` on the calling thread as the child sends them; setting ``stop_event`` stops
    the run within a batch. Errors the engine explains are raised again here with the same message.
    """
    listener = listener or Listener()
    stop_event = stop_event or threading.Event()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
           "GLASSWING_TRAIN_NICE": str(train_nice())}
    job = {"config": config.to_dict(), "runs_root": None if runs_root is None else str(runs_root),
           "owner": owner, "run_id": run_id}
    if stop_event.is_set():  # stopped between leaving the queue and now: do not start a process for nothing
        listener.on_status(status_event(runs.STOPPED, "Stopped before training started."))
        return {"run_dir": str(runs.runs_root(runs_root) / (run_id or "not-created")), "status": runs.STOPPED,
                "val_accuracy": None, "metrics": {}, "history": {}, "timings": {}}
    listener.on_status(status_event("starting", "Starting the training process"))
    try:
        # Same working directory as this process: relative paths (GLASSWING_DATA=mydata) mean the same there.
        proc = subprocess.Popen([sys.executable, "-m", "core.train.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, text=True, encoding="utf-8")
    except OSError as exc:
        raise TrainingProcessError(f"Cannot start the training process ({exc}).") from None
    finished = threading.Event()
    outcome: dict[str, Any] | None = None
    try:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
        except OSError:
            pass  # it died at once: its exit code says how, below
        threading.Thread(target=_forward_stop, args=(proc, stop_event, finished), daemon=True,
                         name=f"glasswing-train-stop-{run_id}").start()
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                continue  # not ours (cannot happen: fd 1 is the protocol's alone); never let it end the job
            kind = message.get("kind")
            if kind in ("result", "error"):
                outcome = message
            elif kind in EVENT_KINDS:
                getattr(listener, f"on_{kind}")(message)
        returncode = proc.wait()
    finally:
        finished.set()
        if proc.poll() is None:  # the caller is going away (an exception here): do not leave it training
            proc.kill()
            proc.wait()
            mark_failed(runs_root, run_id, "The training was ended because the server stopped following it.")
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
    if outcome is not None and outcome["kind"] == "result":
        return outcome["result"]
    if outcome is not None:
        error = _error_class(outcome.get("error", ""))(outcome.get("message") or "Training failed.")
    else:
        error = TrainingProcessError(_death_message(returncode))
    mark_failed(runs_root, run_id, str(error))  # the engine has done it, unless it never got the chance
    raise error


def _forward_stop(proc: subprocess.Popen, stop_event: threading.Event, finished: threading.Event) -> None:
    while not finished.is_set():
        if stop_event.wait(0.05):
            try:
                proc.stdin.write("stop\n")
                proc.stdin.flush()
            except (OSError, ValueError):
                pass  # already gone
            return


def _error_class(name: str) -> type[GlasswingError]:
    """The GlasswingError subclass called ``name`` (the engine's own errors), else TrainingProcessError."""
    from core.train import loop  # noqa: F401 - defines TrainingError, which the engine raises

    pending, known = [GlasswingError], {}
    while pending:
        cls = pending.pop()
        known[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return known.get(name, TrainingProcessError)


def _death_message(returncode: int) -> str:
    if returncode < 0:
        signal_number = -returncode
        hint = {9: " (the machine may have run out of memory)", 6: " (it crashed)", 11: " (it crashed)"}.get(
            signal_number, "")
        return (f"The training process was killed by signal {signal_number}{hint} before it finished; "
                "the run is marked failed.")
    return (f"The training process ended with exit code {returncode} before it finished; the server's log "
            "has the details.")


def mark_failed(runs_root: str | os.PathLike | None, run_id: str | None, message: str) -> None:
    """A killed child cannot say it failed: say it for it, if its run folder says it is still running."""
    if not run_id:
        return
    run_dir = runs.runs_root(runs_root) / run_id
    meta = runs.read_meta(run_dir)
    if meta and meta.get("status") == runs.RUNNING:
        runs.update_meta(run_dir, status=runs.FAILED, finished=runs.now_iso(), error=message)


# -- the child's side ---------------------------------------------------------------------------------------
class _PipeListener(ForwardingListener):
    """Writes each event as a JSON line to the protocol stream."""

    def __init__(self, stream: IO[str], stop: threading.Event) -> None:
        self.stream = stream
        self.stop = stop
        self.gone = False
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, default=_plain)
        with self.lock:
            if self.gone:
                return
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # the parent is gone: nobody reads on; stop within a batch
                self.gone = True
                self.stop.set()


def _plain(value: Any) -> Any:
    """NumPy scalars and paths in events, as JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()  # "stop", or end of input: the parent is gone and nobody will read this run's progress


def main() -> int:
    # Ctrl+C in the server's terminal reaches this process too: the server ends it (end of stdin).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # print() and TensorFlow's own output now go to stderr, never into the protocol
    sys.stdout = sys.stderr
    stop = threading.Event()
    listener = _PipeListener(protocol, stop)
    try:
        if hasattr(os, "nice"):  # POSIX; elsewhere the job trains at the server's priority
            os.nice(train_nice())
        job = json.loads(sys.stdin.readline() or "null")
        if not isinstance(job, dict):
            raise TrainingProcessError("The training process received no job.")
        threading.Thread(target=_watch_stdin, args=(stop,), daemon=True, name="glasswing-stop").start()
        from core.train.engine import train

        result = train(TrainConfig.from_dict(job["config"]), runs_root=job.get("runs_root"),
                       owner=job.get("owner"), listener=listener, stop_event=stop, run_id=job.get("run_id"))
        listener.send({"kind": "result", "result": result.to_dict()})
        return 0
    except GlasswingError as exc:
        listener.send({"kind": "error", "error": type(exc).__name__, "message": str(exc)})
        return 1
    except BaseException as exc:  # noqa: BLE001 - always tell the parent how it ended
        import traceback

        traceback.print_exc(file=sys.stderr)
        listener.send({"kind": "error", "error": "", "message":
                       f"Training failed unexpectedly ({type(exc).__name__}: {exc}); the server's log has the "
                       "details."})
        return 1


if __name__ == "__main__":
    sys.exit(main())
