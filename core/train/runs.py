"""Run folders: create, list, reload, rename, share and delete training runs.

A run is ``runs/<id>/`` holding ``run.json`` (status and summary), ``config.json``, ``history.json``,
``metrics.json``, ``split.json`` and ``model.keras``. Every file is written atomically
(:mod:`core.atomic`), and ``run.json`` says ``"complete"`` only after everything else is in place, so a
process killed at any moment leaves either a complete run or one whose status is not ``complete``.
A run marked ``running`` whose process is gone is reported as ``interrupted``.

Runs have an ``owner``: a dashboard session id, or None for shared runs (the CLI's). A session sees
its own runs and the shared ones; :data:`EVERYONE` sees all (the CLI).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import atomic, config
from core.errors import GlasswingError, ParameterError, UnknownNameError
from core.i18n import N_
from core.paths import OutsideRootError, child_folder

RUN_META = "run.json"
MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
SPLIT_FILE = "split.json"

# A run's status: stored in run.json as these English words, shown by the dashboard in its language.
RUNNING, COMPLETE, STOPPED, FAILED = N_("running"), N_("complete"), N_("stopped"), N_("failed")
INTERRUPTED = N_("interrupted")  # was running, its process is gone
INCOMPLETE = N_("incomplete")  # a folder without a readable run.json
EVERYONE = "*"  # owner value that sees every run (the CLI, an administrator)

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ACTIVE: set[str] = set()  # run folders this process is training right now
_ACTIVE_LOCK = threading.Lock()
_META_LOCK = threading.Lock()  # read-modify-write of run.json within this process


class RunError(GlasswingError):
    """A run cannot be found, or an operation on it is refused (the message says why)."""


@dataclass
class RunInfo:
    """What a run folder says about itself (``meta`` is the whole run.json)."""

    id: str
    path: Path
    name: str
    status: str
    base_model: str | None = None
    owner: str | None = None
    created: str | None = None
    finished: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": str(self.path), "name": self.name, "status": self.status,
                "base_model": self.base_model, "owner": self.owner, "created": self.created,
                "finished": self.finished, "metrics": self.metrics, "error": self.error}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def runs_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root).expanduser().resolve() if root is not None else config.runs_dir()


def new_run_id(model: str) -> str:
    """``20250101-120000-efficientnet_lite0-a1b2c3``: sortable by time, unique, safe as a folder name."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(str(model)).name).strip("-")[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}-{secrets.token_hex(3)}"


# -- the process that writes a run -----------------------------------------------------------------------
def _process_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def process_record() -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "start": _process_start(pid)}


def _process_alive(record: dict[str, Any]) -> bool | None:
    """True/False when we can tell, None for a run written on another host."""
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return False
    if record.get("host") != socket.gethostname():
        return None
    pid = record["pid"]
    if os.name == "nt":  # there os.kill(pid, 0) would terminate the process, not probe it
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    start = _process_start(pid)
    return start is None or record.get("start") is None or start == record["start"]


class active_run:
    """Context manager marking a run folder as being trained by this process (see :func:`run_status`)."""

    def __init__(self, run_dir: Path) -> None:
        self.key = str(Path(run_dir).resolve())

    def __enter__(self) -> active_run:
        with _ACTIVE_LOCK:
            _ACTIVE.add(self.key)
        return self

    def __exit__(self, *exc: object) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self.key)


def run_status(run_dir: Path, meta: dict[str, Any] | None) -> str:
    """The status to show: run.json's, except that a ``running`` run with no live writer is interrupted."""
    if not meta or not isinstance(meta.get("status"), str):
        return INCOMPLETE
    status = meta["status"]
    if status != RUNNING:
        return status
    record = meta.get("process") or {}
    mine = isinstance(record, dict) and record.get("pid") == os.getpid()
    if mine and record.get("host") == socket.gethostname():
        with _ACTIVE_LOCK:
            return RUNNING if str(Path(run_dir).resolve()) in _ACTIVE else INTERRUPTED
    alive = _process_alive(record)
    return INTERRUPTED if alive is False else RUNNING


# -- reading and writing run.json ------------------------------------------------------------------------
def read_meta(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(run_dir) / RUN_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def create_run(meta: dict[str, Any], root: str | os.PathLike | None = None,
               run_id: str | None = None) -> Path:
    """Make ``root/<id>/`` with a ``run.json`` saying ``running``; returns the folder."""
    base = runs_root(root)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. train --out names a file
        raise RunError(f"Cannot use {base} as the runs folder ({exc.strerror or exc}); choose a folder "
                       "(train --out or GLASSWING_RUNS).") from None
    run_id = run_id or new_run_id(str(meta.get("base_model") or "run"))
    if not _RUN_ID.match(run_id):
        raise ParameterError(f"run id {run_id!r} may only hold letters, digits, '.', '_' and '-'.")
    run_dir = base / run_id
    try:
        run_dir.mkdir()
    except FileExistsError:
        raise RunError(f"A run called {run_id} already exists in {base}.") from None
    record = {"id": run_id, "status": RUNNING, "created": now_iso(), "updated": now_iso(),
              "process": process_record(), "creator": meta.get("owner"), **meta}
    atomic.write_json(run_dir / RUN_META, record)
    return run_dir


def update_meta(run_dir: str | os.PathLike, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into run.json atomically and return the new content."""
    with _META_LOCK:
        meta = read_meta(run_dir) or {}
        meta.update(changes)
        meta["updated"] = now_iso()
        atomic.write_json(Path(run_dir) / RUN_META, meta)
    return meta


def write_json(run_dir: str | os.PathLike, name: str, obj: Any) -> None:
    atomic.write_json(Path(run_dir) / name, obj)


def read_json(run_dir: str | os.PathLike, name: str) -> Any:
    path = Path(run_dir) / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# -- listing ---------------------------------------------------------------------------------------------
def _info(run_dir: Path) -> RunInfo:
    meta = read_meta(run_dir)
    status = run_status(run_dir, meta)
    meta = meta or {}
    return RunInfo(id=run_dir.name, path=run_dir, name=str(meta.get("name") or run_dir.name), status=status,
                   base_model=meta.get("base_model"), owner=meta.get("owner"), created=meta.get("created"),
                   finished=meta.get("finished"), metrics=meta.get("metrics") or {}, error=meta.get("error"),
                   meta=meta)


def _visible(info: RunInfo, owner: str | None, include_shared: bool) -> bool:
    if owner == EVERYONE:
        return True
    if info.owner is None:
        return include_shared or owner is None
    return info.owner == owner


def list_runs(owner: str | None = None, include_shared: bool = True,
              root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Runs visible to ``owner``, newest first: its own and (``include_shared``) the shared ones.

    ``owner=None`` lists the shared runs; :data:`EVERYONE` lists all. Folders starting with a dot
    (runs being deleted) are never listed.
    """
    base = runs_root(root)
    if base.exists() and not base.is_dir():
        raise RunError(f"The runs folder {base} is a file, not a folder. Point --root (or GLASSWING_RUNS) "
                       "at a folder.")
    if not base.is_dir():
        return []
    infos = []
    for entry in base.iterdir():
        if entry.name.startswith(".") or not entry.is_dir() or entry.is_symlink():
            continue
        info = _info(entry)
        if _visible(info, owner, include_shared):
            infos.append(info)
    return sorted(infos, key=lambda i: (i.created or "", i.id), reverse=True)


def get_run(ref: str | os.PathLike, owner: str | None = EVERYONE,
            root: str | os.PathLike | None = None) -> RunInfo:
    """A run by id (a folder of ``root``) or by path; raises RunError if missing or not visible.

    Only real folders directly inside the runs root are runs: a symbolic link, a path that climbs out
    (``root/../elsewhere``) or a folder elsewhere is refused, since delete, rename and export act on
    what this returns.
    """
    text = str(ref)
    base = runs_root(root)
    path = base / text if _RUN_ID.match(text) else Path(text).expanduser()
    if not os.path.lexists(path):
        known = [i.id for i in list_runs(owner, root=root)][:20]
        raise UnknownNameError(f"No run {text!r} in {base}. Known runs: {', '.join(known) or 'none yet'}.")
    try:
        path = child_folder(base, path, "run")
    except OutsideRootError as exc:
        raise RunError(f"{exc} (Another runs folder: --root DIR or GLASSWING_RUNS.)") from None
    if not path.is_dir() or path.name.startswith("."):
        raise RunError(f"{text} is not a run folder.")
    if not (path / RUN_META).is_file() or (path / RUN_META).is_symlink():
        raise RunError(f"{text} is not a training run (it has no {RUN_META}).")
    info = _info(path)
    if not _visible(info, owner, include_shared=True):
        raise RunError(f"Run {info.id} belongs to another session.")
    return info


def _owned(info: RunInfo, owner: str | None) -> None:
    """Only the owner changes a run; a shared run stays its creator's (and the CLI's) to change."""
    creator = info.meta.get("creator")
    if owner == EVERYONE or info.owner == owner:
        return
    if info.owner is None and owner is not None and creator == owner:
        return
    raise RunError(f"Run {info.id} is not yours to change.")


def rename_run(ref: str | os.PathLike, new_name: str, owner: str | None = EVERYONE,
               root: str | os.PathLike | None = None) -> RunInfo:
    """Change a run's display name (its folder, and so its path, stays the same)."""
    name = " ".join(str(new_name).split())
    if not name or len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise ParameterError("name must be 1 to 200 printable characters.")
    info = get_run(ref, owner, root)
    _owned(info, owner)
    update_meta(info.path, name=name)
    return _info(info.path)


def share_run(ref: str | os.PathLike, shared: bool = True, owner: str | None = EVERYONE,
              root: str | os.PathLike | None = None, new_owner: str | None = None) -> RunInfo:
    """Make a run visible to every session (owner None), or give it back to ``new_owner``."""
    info = get_run(ref, owner, root)
    _owned(info, owner)
    target = None if shared else (new_owner if new_owner is not None else owner)
    if target == EVERYONE:
        raise ParameterError("new_owner must be a session id when a run is made private.")
    update_meta(info.path, owner=target)
    return _info(info.path)


def delete_run(ref: str | os.PathLike, owner: str | None = EVERYONE,
               root: str | os.PathLike | None = None) -> None:
    """Delete a run folder. It is first renamed to a hidden name, so it vanishes from listings at once
    and a crash half-way leaves nothing that looks like a run."""
    info = get_run(ref, owner, root)
    _owned(info, owner)
    if info.status == RUNNING:
        raise RunError(f"Run {info.id} is still training; stop it first.")
    hidden = info.path.parent / f".deleting-{info.id}-{secrets.token_hex(3)}"
    try:
        os.rename(info.path, hidden)
    except OSError as exc:
        raise RunError(f"Could not delete run {info.id}: {exc.strerror or exc}.") from None
    shutil.rmtree(hidden, ignore_errors=True)
    forget_model(info.path)
    clean_partial_deletes(info.path.parent)  # what an earlier delete left when its process died


def forget_model(run_dir: Path) -> None:
    """Drop a deleted run's model from the zoo's process cache, if loaded."""
    from core import zoo

    zoo.forget(run_dir)


def clean_partial_deletes(root: str | os.PathLike | None = None, older_than: float = 3600.0) -> int:
    """Remove leftovers of deletes interrupted by a crash; returns how many were removed."""
    base = runs_root(root)
    removed = 0
    if not base.is_dir():
        return 0
    for entry in base.iterdir():
        if (entry.name.startswith(".deleting-") and entry.is_dir() and not entry.is_symlink()
                and time.time() - entry.stat().st_mtime > older_than):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed
