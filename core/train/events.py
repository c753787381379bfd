"""Progress reporting: the listener interface, and the clock that turns steps into progress and ETA.

The engine calls a :class:`Listener` with plain, JSON-able dicts:

- ``on_status({"kind": "status", "status", "message", ...})`` when the phase changes
  (``starting`` when a job's child process starts, see :mod:`core.train.worker`; then ``loading``,
  ``features``, ``stage1``, ``stage2``, ``evaluating``, ``saving``, then ``complete``, ``stopped`` or
  ``failed``);
- ``on_batch({"kind": "batch", "phase", "epoch", "epochs", "step", "steps", "loss", "accuracy", ...})``
  after every training batch (``loss``/``accuracy`` are running means over the epoch so far; feature
  extraction batches have ``phase == "features"`` and no loss);
- ``on_epoch({"kind": "epoch", "phase", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", ...})``.

Every event carries ``progress`` (0..1 over the whole run), ``eta_seconds`` (None until it can be
estimated) and ``elapsed_seconds``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# Relative cost of one step, in units of one forward pass over a batch, used to guess the time of
# phases that have not started yet (replaced by the measured time as soon as a phase has steps).
FORWARD = 1.0  # feature extraction, evaluation
TRAIN = 3.0  # forward and backward through the whole network
HEAD = 0.01  # a dense head on precomputed features


def status_event(status: str, message: str) -> dict:
    """A status event from outside the engine (queued, starting, cancelled, ...): no progress yet."""
    return {"kind": "status", "status": status, "message": message, "progress": 0.0, "eta_seconds": None,
            "elapsed_seconds": 0.0}


class Listener:
    """Receives training events; override what you need. Methods must return quickly."""

    def on_status(self, event: dict) -> None:  # noqa: B027 - optional hook
        pass

    def on_batch(self, event: dict) -> None:  # noqa: B027
        pass

    def on_epoch(self, event: dict) -> None:  # noqa: B027
        pass


class ForwardingListener(Listener):
    """Hands every event, whatever its kind, to :meth:`send`: the training process's pipe to the server
    (:mod:`core.train.worker`), a queued job's Redis stream (:mod:`core.jobs.task`)."""

    def send(self, event: dict) -> None:
        raise NotImplementedError

    def on_status(self, event: dict) -> None:
        self.send(event)

    def on_batch(self, event: dict) -> None:
        self.send(event)

    def on_epoch(self, event: dict) -> None:
        self.send(event)


class PrintListener(Listener):
    """Human-readable progress on a stream (the CLI): one line per status change and per epoch."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self._last_feature_report = 0.0

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def on_status(self, event: dict) -> None:
        self._write(f"[{event['status']}] {event.get('message', '')}".rstrip())

    def on_batch(self, event: dict) -> None:
        if event["phase"] != "features" or time.monotonic() - self._last_feature_report < 5:
            return
        self._last_feature_report = time.monotonic()
        rate = event.get("images_per_second") or 0
        self._write(f"  features {event['step']}/{event['steps']} batches, {rate:.0f} images/s, "
                    f"eta {format_eta(event['eta_seconds'])}")

    def on_epoch(self, event: dict) -> None:
        val = ""
        if event.get("val_loss") is not None:
            val = f"  val_loss {event['val_loss']:.4f}  val_accuracy {event['val_accuracy']:.4f}"
        self._write(f"  {event['phase']} epoch {event['epoch']}/{event['epochs']}  loss {event['loss']:.4f}  "
                    f"accuracy {event['accuracy']:.4f}{val}  ({event['seconds']:.1f}s, "
                    f"eta {format_eta(event['eta_seconds'])})")


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class _Phase:
    name: str
    steps: int  # planned steps (batches) in the phase, all epochs together
    cost: float  # relative cost of one step (FORWARD, TRAIN, HEAD)
    done: int = 0
    seconds: float = 0.0  # time spent in measured steps


@dataclass
class Clock:
    """Planned phases -> overall progress and an ETA. Call :meth:`plan` once, then :meth:`step`."""

    phases: dict[str, _Phase] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    current: str | None = None
    _last: float = field(default_factory=time.monotonic)

    def plan(self, name: str, steps: int, cost: float = TRAIN) -> None:
        self.phases[name] = _Phase(name, max(int(steps), 0), cost)

    def begin(self, name: str) -> None:
        self.current = name
        self._last = time.monotonic()

    def resume(self) -> None:
        """Time since the last step (e.g. spent on validation) does not count towards the next step."""
        self._last = time.monotonic()

    def step(self, count: int = 1) -> None:
        """Record ``count`` steps of the current phase, timed since the previous call."""
        now = time.monotonic()
        phase = self.phases.get(self.current or "")
        if phase is not None:
            phase.done += count
            phase.seconds += now - self._last
        self._last = now

    def finish(self, name: str) -> None:
        """A phase ended (perhaps early, e.g. early stopping): nothing of it remains."""
        phase = self.phases.get(name)
        if phase is not None:
            phase.steps = phase.done

    def _seconds_per_step(self, phase: _Phase) -> float | None:
        if phase.done and phase.seconds > 0:
            return phase.seconds / phase.done
        # Not measured yet: scale a measured phase by the relative costs.
        for other in self.phases.values():
            if other.done and other.seconds > 0:
                return other.seconds / other.done * phase.cost / other.cost
        return None

    def eta(self) -> float | None:
        total = 0.0
        for phase in self.phases.values():
            remaining = max(phase.steps - phase.done, 0)
            if not remaining:
                continue
            per_step = self._seconds_per_step(phase)
            if per_step is None:
                return None
            total += remaining * per_step
        return total

    def elapsed_in(self, name: str) -> float:
        """Seconds spent in the steps of phase ``name`` so far."""
        phase = self.phases.get(name)
        return phase.seconds if phase is not None else 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def progress(self) -> float:
        eta = self.eta()
        elapsed = self.elapsed()
        if eta is not None and elapsed + eta > 0:
            return min(1.0, elapsed / (elapsed + eta))
        steps = sum(p.steps for p in self.phases.values())
        return min(1.0, sum(min(p.done, p.steps) for p in self.phases.values()) / steps) if steps else 0.0

    def stamp(self, event: dict) -> dict:
        """Add progress, ETA and elapsed time to an event."""
        eta = self.eta()
        event["progress"] = round(self.progress(), 4)
        event["eta_seconds"] = None if eta is None else round(eta, 1)
        event["elapsed_seconds"] = round(self.elapsed(), 2)
        return event
