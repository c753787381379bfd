"""Training config, run folders and the job queue, without training anything (fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.errors import ParameterError, UnknownNameError
from core.jobs.local import COMPLETE, FAILED, QUEUED, STOPPED, JobQueue, max_training_jobs
from core.train import runs
from core.train.config import AdversarialConfig, TrainConfig, resolve_augment


# -- config ------------------------------------------------------------------------------------------------
def test_config_round_trips_through_json():
    config = TrainConfig(data="shapes", epochs=3, augment="light",
                         adversarial=AdversarialConfig(method="pgd", eps=2.0, ratio=0.25,
                                                       params={"steps": 3}))
    again = TrainConfig.from_dict(json.loads(config.to_json()))
    assert again == config
    assert isinstance(again.adversarial, AdversarialConfig)
    assert again.validate() is again


@pytest.mark.parametrize("changes, parameter", [
    ({"epochs": 0}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"batch_size": 0}, "batch_size"),
    ({"fine_tune_layers": -1}, "fine_tune_layers"),
    ({"fine_tune_unit": "stages"}, "fine_tune_unit"),
    ({"fine_tune_learning_rate": -1e-4}, "fine_tune_learning_rate"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"dropout": 1.0}, "dropout"),
    ({"val_fraction": 0.0}, "val_fraction"),
    ({"val_fraction": 0.6, "test_fraction": 0.4}, "val_fraction + test_fraction"),
    ({"augment_views": 0}, "augment_views"),
    ({"seed": -1}, "seed"),
    ({"class_weights": "yes"}, "class_weights"),
    ({"augment": "wild"}, "augment"),
    ({"adversarial": AdversarialConfig(eps=0.0)}, "adversarial.eps"),
    ({"adversarial": AdversarialConfig(ratio=1.5)}, "adversarial.ratio"),
])
def test_validate_names_the_parameter(changes, parameter):
    with pytest.raises(ParameterError) as info:
        TrainConfig(data="shapes", **changes).validate()
    assert str(info.value).startswith(parameter)


def test_unknown_keys_are_refused_not_ignored():
    with pytest.raises(ParameterError, match="Unknown training setting 'epoch'"):
        TrainConfig.from_dict({"data": "shapes", "epoch": 3})
    with pytest.raises(ParameterError, match="data is required"):
        TrainConfig.from_dict({"epochs": 3})
    with pytest.raises(ParameterError, match="adversarial"):
        TrainConfig.from_dict({"data": "shapes", "adversarial": {"method": "fgsm", "epsilon": 4}})


def test_augment_resolves_presets_files_and_mappings(tmp_path):
    assert resolve_augment(None) is None
    assert resolve_augment("none") is None  # the identity spec means no augmentation
    light = resolve_augment("light")
    assert light.flip == "none" and light.rotation == 10.0  # "light" never flips (issue #17)
    path = tmp_path / "aug.json"
    path.write_text(json.dumps({"rotation": 15, "flip": "vertical"}))
    from_file = resolve_augment(str(path))
    assert from_file.rotation == 15.0 and from_file.flip == "vertical"
    assert resolve_augment({"zoom": 0.1}).zoom == 0.1
    with pytest.raises(ParameterError, match="Unknown augmentation setting"):
        resolve_augment({"zooom": 0.1})


def test_cli_flags_build_the_config(tmp_path):
    from core.cli import build_parser
    from core.cli.train_cmd import build_config

    base = tmp_path / "base.json"
    base.write_text(TrainConfig(data="shapes", epochs=7, dropout=0.5).to_json())
    args = build_parser().parse_args(["train", "--config", str(base), "--model", "small_cnn", "--epochs", "2",
                                      "--image-size", "32", "--adversarial", "fgsm:2:0.5",
                                      "--no-class-weights"])
    config = build_config(args)
    assert (config.data, config.model, config.epochs, config.dropout, config.image_size) == (
        "shapes", "small_cnn", 2, 0.5, 32)
    assert config.adversarial == AdversarialConfig(method="fgsm", eps=2.0, ratio=0.5)
    assert config.class_weights is False
    with pytest.raises(ParameterError, match="--data is required"):
        build_config(build_parser().parse_args(["train", "--model", "small_cnn"]))
    with pytest.raises(ParameterError, match="--adversarial"):
        build_config(build_parser().parse_args(["train", "--data", "shapes", "--adversarial", "fgsm"]))


# -- run folders -------------------------------------------------------------------------------------------
def _fake_run(root: Path, run_id: str, status: str, owner: str | None = None, **meta) -> Path:
    meta = {"name": run_id, "base_model": "small_cnn", "owner": owner, **meta}
    run_dir = runs.create_run(meta, root, run_id)
    if status != runs.RUNNING:
        runs.update_meta(run_dir, status=status)
    return run_dir


def test_runs_are_listed_per_owner(tmp_path):
    _fake_run(tmp_path, "a-shared", runs.COMPLETE)
    _fake_run(tmp_path, "b-alice", runs.COMPLETE, owner="alice")
    _fake_run(tmp_path, "c-bob", runs.FAILED, owner="bob")
    (tmp_path / ".deleting-old").mkdir()  # a half-finished delete is never listed

    def ids(owner, shared=True):
        return sorted(i.id for i in runs.list_runs(owner, include_shared=shared, root=tmp_path))

    assert ids("alice") == ["a-shared", "b-alice"]
    assert ids("alice", shared=False) == ["b-alice"]
    assert ids(None) == ["a-shared"]
    assert ids(runs.EVERYONE) == ["a-shared", "b-alice", "c-bob"]
    with pytest.raises(runs.RunError, match="another session"):
        runs.get_run("c-bob", owner="alice", root=tmp_path)
    with pytest.raises(UnknownNameError, match="No run"):
        runs.get_run("nope", root=tmp_path)


def test_rename_share_and_delete(tmp_path):
    run_dir = _fake_run(tmp_path, "r1", runs.COMPLETE, owner="alice")
    assert runs.rename_run("r1", "  My   model ", owner="alice", root=tmp_path).name == "My model"
    # renaming keeps the folder (and the path)
    assert runs.get_run(run_dir, root=tmp_path).path == run_dir.resolve()
    with pytest.raises(runs.RunError, match="another session"):
        runs.rename_run("r1", "x", owner="bob", root=tmp_path)
    with pytest.raises(ParameterError, match="name"):
        runs.rename_run("r1", "\x00", owner="alice", root=tmp_path)
    runs.share_run("r1", owner="alice", root=tmp_path)
    assert [i.id for i in runs.list_runs("bob", root=tmp_path)] == ["r1"]
    with pytest.raises(runs.RunError, match="not yours"):
        runs.delete_run("r1", owner="bob", root=tmp_path)  # shared, but still not bob's to delete
    # Shared, but still alice's to change.
    assert runs.rename_run("r1", "Ours", owner="alice", root=tmp_path).name == "Ours"
    runs.delete_run("r1", root=tmp_path)  # the CLI may
    assert runs.list_runs(runs.EVERYONE, root=tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_a_running_run_whose_process_died_is_interrupted(tmp_path):
    # A real process that has exited: its pid is (for now) unused.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True)
    run_dir = _fake_run(tmp_path, "ghost", runs.RUNNING)
    meta = runs.read_meta(run_dir)
    runs.update_meta(run_dir, process={**meta["process"], "pid": int(dead.stdout), "start": None})
    assert runs.get_run("ghost", root=tmp_path).status == runs.INTERRUPTED
    # Started by this process but not being trained by it any more: interrupted too.
    mine = _fake_run(tmp_path, "mine", runs.RUNNING)
    assert runs.get_run("mine", root=tmp_path).status == runs.INTERRUPTED
    with runs.active_run(mine):
        assert runs.get_run("mine", root=tmp_path).status == runs.RUNNING
        with pytest.raises(runs.RunError, match="still training"):
            runs.delete_run("mine", root=tmp_path)
    # A folder without run.json (killed between mkdir and the first write) is listed as incomplete, but
    # is not a run to act on: nothing without run.json is ever deleted.
    (tmp_path / "empty").mkdir()
    assert {i.id: i.status for i in runs.list_runs(runs.EVERYONE, root=tmp_path)}["empty"] == runs.INCOMPLETE
    with pytest.raises(runs.RunError, match="not a training run"):
        runs.delete_run("empty", root=tmp_path)
    assert (tmp_path / "empty").is_dir()


def _outside_run(tmp_path: Path) -> tuple[Path, Path]:
    """A runs folder and, beside it, a folder that looks like a run (with a file that must survive)."""
    root, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (elsewhere / "run.json").write_text('{"status": "complete", "id": "elsewhere"}')
    (elsewhere / "precious.txt").write_text("keep me")
    return root, elsewhere


@pytest.mark.parametrize("how", ["symlink by id", "symlink by path", "dot-dot path", "absolute path",
                                 "link inside the path"])
@pytest.mark.parametrize("action", ["delete", "rename", "share", "export"])
def test_runs_outside_the_runs_folder_are_never_touched(tmp_path, how, action):
    from core.train.export import export_run

    root, elsewhere = _outside_run(tmp_path)
    if how.startswith("symlink"):
        (root / "link").symlink_to(elsewhere, target_is_directory=True)
        ref = "link" if how == "symlink by id" else str(root / "link")
    elif how == "dot-dot path":
        ref = f"{root}/../elsewhere"
    elif how == "absolute path":
        ref = str(elsewhere)
    else:  # runs/sub -> tmp_path, then runs/sub/elsewhere
        (root / "sub").symlink_to(tmp_path, target_is_directory=True)
        ref = str(root / "sub" / "elsewhere")
    act = {"delete": lambda: runs.delete_run(ref, root=root),
           "rename": lambda: runs.rename_run(ref, "x", root=root),
           "share": lambda: runs.share_run(ref, shared=False, new_owner="mallory", root=root),
           "export": lambda: export_run(ref, ["keras"], root=root)}[action]
    with pytest.raises(runs.RunError, match="symbolic link|not a run inside"):
        act()
    assert (elsewhere / "precious.txt").read_text() == "keep me"
    assert (elsewhere / "run.json").read_text() == '{"status": "complete", "id": "elsewhere"}'
    assert sorted(p.name for p in elsewhere.iterdir()) == ["precious.txt", "run.json"]


def test_cli_runs_delete_refuses_a_link_and_a_path_out(tmp_path):
    root, elsewhere = _outside_run(tmp_path)
    (root / "link").symlink_to(elsewhere, target_is_directory=True)
    for ref in ("link", f"{root}/../elsewhere"):
        proc = subprocess.run([sys.executable, "-m", "core", "runs", "--root", str(root), "delete", ref, "--yes"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1 and ("symbolic link" in proc.stderr or "not a run inside" in proc.stderr)
    assert (elsewhere / "precious.txt").is_file()
    assert (root / "link").is_symlink()


def test_a_deleted_runs_leftovers_are_cleaned_by_the_next_delete(tmp_path):
    leftover = tmp_path / ".deleting-old-abc123"
    leftover.mkdir()
    (leftover / "model.keras").write_bytes(b"x")
    os.utime(leftover, (0, 0))  # left by a process killed long ago
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / ".deleting-link").symlink_to(outside, target_is_directory=True)
    os.utime(tmp_path / ".deleting-link", (0, 0), follow_symlinks=False)
    _fake_run(tmp_path, "r2", runs.COMPLETE)
    runs.delete_run("r2", root=tmp_path)
    assert not leftover.exists() and outside.is_dir()


def test_split_json_cannot_lead_outside_its_dataset(tmp_path):
    from core.errors import DataError
    from core.train.data import items_from_split

    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"x")
    (tmp_path / "data" / "a" / "ok.png").write_bytes(b"x")
    (tmp_path / "data" / "a" / "link.png").symlink_to(tmp_path / "secret.png")
    good = {"root": str(tmp_path / "data"), "splits": {"val": [["a/ok.png", 0]]}}
    assert [i.path.name for i in items_from_split(good, "val")] == ["ok.png"]
    for rel in ("../secret.png", str(tmp_path / "secret.png"), "a/link.png", "a/../../secret.png"):
        with pytest.raises(DataError, match="split.json names"):
            items_from_split({**good, "splits": {"val": [[rel, 0]]}}, "val")
    for broken in ({}, {"root": "x", "splits": {"val": [["a"]]}}, {"root": "x", "splits": []}):
        with pytest.raises(DataError, match="split.json is not a split"):
            items_from_split(broken, "val")


def test_run_ids_cannot_escape_the_runs_folder(tmp_path):
    with pytest.raises(ParameterError):
        runs.create_run({}, tmp_path, "../evil")
    with pytest.raises(ParameterError):
        runs.create_run({}, tmp_path, ".hidden")


# -- the job queue (with a stand-in for the engine) --------------------------------------------------------
class _FakeResult:
    def __init__(self, status: str) -> None:
        self.status = status

    def to_dict(self) -> dict:
        return {"status": self.status, "val_accuracy": 0.5}


def _fake_runner(gate: threading.Event, fail: bool = False):
    def runner(config, runs_root, owner, listener, stop_event, run_id):
        for step in range(1, 10_000):
            if stop_event.is_set():
                return _FakeResult(STOPPED)
            listener.on_batch({"kind": "batch", "phase": "stage1", "epoch": 1, "step": step, "loss": 1.0,
                               "accuracy": 0.5, "progress": 0.1, "eta_seconds": 5.0})
            if gate.wait(0.01):
                break
        if fail:
            raise ParameterError("learning_rate is far too high.")
        return _FakeResult(COMPLETE)
    return runner


def test_queue_runs_one_job_at_a_time_and_shows_places(tmp_path):
    gate = threading.Event()
    queue = JobQueue(max_concurrent=1, runs_root=tmp_path, runner=_fake_runner(gate))
    config = TrainConfig(data="shapes", model="small_cnn")
    first, second, third = (queue.submit(config, owner=o) for o in ("alice", "bob", "alice"))
    time.sleep(0.1)
    assert first.status == "running" and first.position is None
    assert (second.status, second.position) == (QUEUED, 1)
    assert (third.status, third.position) == (QUEUED, 2)
    assert [j.id for j in queue.jobs("alice")] == [third.id, first.id]  # bob's job is invisible to alice
    with pytest.raises(UnknownNameError):
        queue.get(second.id, owner="alice")
    second.stop()  # a queued job is cancelled at once and never starts
    assert second.status == STOPPED and third.position == 1
    gate.set()
    assert first.wait(5) and third.wait(5)
    assert (first.status, third.status) == (COMPLETE, COMPLETE)
    assert first.snapshot()["val_accuracy"] == 0.5
    assert first.curves()["batch"], "batch events are kept for the curves"


def test_queue_runs_jobs_side_by_side_when_allowed(tmp_path):
    gate = threading.Event()
    queue = JobQueue(max_concurrent=2, runs_root=tmp_path, runner=_fake_runner(gate))
    jobs = [queue.submit(TrainConfig(data="shapes")) for _ in range(3)]
    time.sleep(0.1)
    assert [j.status for j in jobs] == ["running", "running", QUEUED]
    for job in jobs[:2]:
        job.stop()
    assert jobs[0].wait(5) and jobs[1].wait(5)
    assert jobs[0].status == STOPPED
    gate.set()
    assert jobs[2].wait(5) and jobs[2].status == COMPLETE


def test_a_failing_job_ends_with_its_message(tmp_path):
    gate = threading.Event()
    gate.set()
    queue = JobQueue(max_concurrent=1, runs_root=tmp_path, runner=_fake_runner(gate, fail=True))
    job = queue.submit(TrainConfig(data="shapes"))
    assert job.wait(5)
    assert job.status == FAILED and job.error == "learning_rate is far too high."
    assert job.snapshot()["status"] == FAILED
    assert job.events()[-1]["status"] == FAILED


def test_bad_config_is_refused_at_submit(tmp_path):
    queue = JobQueue(max_concurrent=1, runs_root=tmp_path, runner=_fake_runner(threading.Event()))
    with pytest.raises(ParameterError, match="epochs"):
        queue.submit(TrainConfig(data="shapes", epochs=0))
    assert queue.jobs(runs.EVERYONE) == []


def test_batch_events_stay_bounded(tmp_path, monkeypatch):
    from core.jobs import local as jobs_module

    monkeypatch.setattr(jobs_module, "MAX_BATCH_EVENTS", 100)
    job = jobs_module.Job(id="j", owner=None, config=TrainConfig(data="shapes"), run_dir=tmp_path / "j")
    for step in range(1000):
        job.on_batch({"kind": "batch", "step": step, "loss": 1.0})
    job.on_epoch({"kind": "epoch", "epoch": 1})
    events = job.events()
    assert len(events) <= 101
    assert events[0]["step"] == 0 and events[-1]["kind"] == "epoch"
    assert job.events(since=events[-2]["seq"]) == events[-1:]


def test_max_training_jobs_reads_the_environment(monkeypatch):
    monkeypatch.delenv("GLASSWING_MAX_TRAINING_JOBS", raising=False)
    assert max_training_jobs() == 1
    monkeypatch.setenv("GLASSWING_MAX_TRAINING_JOBS", "3")
    assert max_training_jobs() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("GLASSWING_MAX_TRAINING_JOBS", bad)
        with pytest.raises(ParameterError, match="GLASSWING_MAX_TRAINING_JOBS"):
            max_training_jobs()


def test_importing_the_package_does_not_import_tensorflow():
    code = "import sys, core.train, core.jobs.local, core.train.runs; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, env={**os.environ})
    assert out.stdout.strip() == "False", out.stderr


def test_a_job_steps_aside_between_batches_while_someone_waits_for_a_heatmap(tmp_path, monkeypatch):
    from core import priority
    from core.jobs import local as jobs_module

    monkeypatch.setattr(jobs_module, "PRIORITY_MAX_WAIT", 0.5)
    gate = threading.Event()
    queue = JobQueue(max_concurrent=1, runs_root=tmp_path, runner=_fake_runner(gate))
    job = queue.submit(TrainConfig(data="shapes"))
    time.sleep(0.2)
    with priority.foreground():  # a page computing a heatmap: each batch waits the full max_wait
        before = len(job.curves()["batch"])
        time.sleep(1.2)
        during = len(job.curves()["batch"]) - before
    time.sleep(0.5)
    after = len(job.curves()["batch"]) - before - during
    gate.set()
    assert job.wait(5) and job.status == COMPLETE
    assert 1 <= during <= 4, during  # about one batch per 0.5 s: it progresses, slowly
    assert after > 3 * during, (during, after)  # quiet again: full speed (a batch per 10 ms)
