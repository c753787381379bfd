"""Classroom mode: the teacher's file and environment, validation, and the limits students meet."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.classroom import (
    ClassroomConfig,
    ClassroomConfigError,
    TrainingNotAllowedError,
    from_env,
    from_toml,
    load_classroom,
)
from core.errors import GlasswingError, ParameterError

ZOO = ["efficientnet_lite0", "efficientnet_lite1", "resnet50", "vgg16"]


@pytest.fixture
def run_dir(tmp_path, monkeypatch) -> Path:
    runs = tmp_path / "runs"
    folder = runs / "flowers-mnv2"
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"placeholder")  # only its presence is checked here
    monkeypatch.setenv("GLASSWING_RUNS", str(runs))
    return folder


def test_default_allows_everything():
    cfg = load_classroom({})
    assert cfg.is_default and not cfg.read_only and cfg.can_train
    assert cfg.allowed_models(ZOO) == ZOO and cfg.allowed_datasets(["a", "b"]) == ["a", "b"]
    cfg.check_can_train(jobs_started=50)
    cfg.check_epochs(1000)
    cfg.check_upload(150 * 2**20)  # under the server's default 200 MB
    assert cfg.session_idle_minutes > 0 and cfg.describe() == []


def test_toml_file(tmp_path, run_dir):
    path = tmp_path / "classroom.toml"
    path.write_text('models = ["resnet50", "efficientnet_lite0"]\ndatasets = ["flowers"]\n'
                    'preloaded_run = "flowers-mnv2"\nmax_upload_mb = 5\nmax_epochs = 3\n'
                    "max_training_jobs_per_session = 2\nsession_idle_minutes = 30\n")
    cfg = load_classroom({"GLASSWING_CLASSROOM": str(path)})
    assert cfg.allowed_models(ZOO) == ["resnet50", "efficientnet_lite0"]  # the teacher's order
    assert cfg.datasets == ("flowers",) and cfg.preloaded_run == run_dir.resolve()
    assert (cfg.max_upload_mb, cfg.max_epochs, cfg.max_training_jobs_per_session) == (5, 3, 2)
    assert cfg.session_idle_minutes == 30 and cfg.to_dict()["preloaded_run"] == str(run_dir.resolve())
    assert any("3 epochs" in line for line in cfg.describe())


def test_classroom_table_is_accepted(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[classroom]\nread_only = true\n")
    assert from_toml(path).read_only


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("max_epochs = 3\nread_only = false\nmodels = ['vgg16']\n")
    cfg = load_classroom({"GLASSWING_CLASSROOM": str(path), "GLASSWING_MAX_EPOCHS": "7",
                          "GLASSWING_READ_ONLY": "yes", "GLASSWING_MODELS": "resnet50, efficientnet_lite0"})
    assert cfg.max_epochs == 7 and cfg.read_only and cfg.models == ("resnet50", "efficientnet_lite0")


def test_limits_are_enforced():
    cfg = ClassroomConfig(max_epochs=5, max_training_jobs_per_session=2, max_upload_mb=1)
    cfg.check_epochs(5)
    with pytest.raises(ParameterError, match="at most 5 epochs"):
        cfg.check_epochs(6)
    with pytest.raises(ParameterError, match="epochs"):
        cfg.check_epochs(0)
    cfg.check_can_train(jobs_started=1)
    with pytest.raises(TrainingNotAllowedError, match="2 per session"):
        cfg.check_can_train(jobs_started=2)
    cfg.check_upload(2**20)
    with pytest.raises(ParameterError, match="1 MB"):
        cfg.check_upload(2**20 + 1)


def test_read_only_forbids_training_only():
    cfg = from_env({"GLASSWING_READ_ONLY": "1"})
    assert not cfg.can_train
    with pytest.raises(TrainingNotAllowedError, match="explain and attack"):
        cfg.check_can_train()
    assert isinstance(TrainingNotAllowedError("x"), GlasswingError)
    assert cfg.allowed_models(ZOO) == ZOO  # explaining is still allowed
    assert not from_env({"GLASSWING_MAX_TRAINING_JOBS_PER_SESSION": "0"}).can_train


def test_model_whitelist():
    cfg = from_env({"GLASSWING_MODELS": "vgg16"})
    cfg.check_model("vgg16", ZOO)
    with pytest.raises(ParameterError, match="not available in this classroom"):
        cfg.check_model("resnet50", ZOO)
    with pytest.raises(ClassroomConfigError, match="'models' names 'resnet5'"):
        from_env({"GLASSWING_MODELS": "resnet5"}).allowed_models(ZOO)


@pytest.mark.parametrize("environ,message", [
    ({"GLASSWING_MAX_EPOCHS": "ten"}, "GLASSWING_MAX_EPOCHS must be a whole number"),
    ({"GLASSWING_MAX_EPOCHS": "0"}, "GLASSWING_MAX_EPOCHS must be a whole number from 1 to 10,000, got '0'"),
    ({"GLASSWING_MAX_UPLOAD_MB": "-3"}, "GLASSWING_MAX_UPLOAD_MB must be a whole number from 1 to 100,000"),
    ({"GLASSWING_MAX_UPLOAD_MB": "200000"}, "GLASSWING_MAX_UPLOAD_MB must be a whole number from 1 to 100,000"),
    ({"GLASSWING_READ_ONLY": "maybe"}, "GLASSWING_READ_ONLY must be true or false"),
    ({"GLASSWING_MODELS": " , "}, "GLASSWING_MODELS must name at least one"),
    ({"GLASSWING_PRELOADED_RUN": "no-such-run"}, "GLASSWING_PRELOADED_RUN: no finished run"),
    ({"GLASSWING_CLASSROOM": "/no/such/classroom.toml"}, "no such file"),
])
def test_env_errors_name_the_variable(environ, message, tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSWING_RUNS", str(tmp_path))
    with pytest.raises(ClassroomConfigError, match=message):
        load_classroom(environ)


@pytest.mark.parametrize("text,message", [
    ("max_epochs = 'ten'\n", "'max_epochs' must be a whole number"),
    ("max_epochs = true\n", "'max_epochs' must be a whole number"),
    ("max_upload_mb = 0\n", "'max_upload_mb' must be a whole number from 1 to 100,000, got 0"),
    ("read_only = 3\n", "'read_only' must be true or false"),
    ("models = 'vgg16'\nmodels_typo = 1\n", "unknown setting 'models_typo'"),
    ("models = [1, 2]\n", "'models' must be a list of names"),
    ("max_epochs = \n", "not valid TOML"),
])
def test_file_errors_name_the_key(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ClassroomConfigError, match=message) as info:
        from_toml(path)
    assert str(path) in str(info.value)


def test_empty_env_values_are_ignored():
    assert from_env({"GLASSWING_MAX_EPOCHS": "", "GLASSWING_MODELS": ""}).is_default


def test_the_classroom_upload_limit_holds_in_core_too(tmp_path, monkeypatch):
    """A teacher's max_upload_mb below core's 200 MB default is what core's own upload checks refuse
    (not only the dashboard's widget), and the environment variable still wins over the file."""
    from core import config
    from core.data.archive import ArchiveLimits
    from core.data.uploads import import_class_images, import_zip_bytes
    from core.errors import DataError

    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("GLASSWING_MAX_UPLOAD_MB", raising=False)
    path = tmp_path / "classroom.toml"
    path.write_text("max_upload_mb = 1\n")
    monkeypatch.setenv("GLASSWING_CLASSROOM", str(path))
    assert config.max_upload_bytes() == 2**20 == load_classroom().upload_limit_bytes
    assert ArchiveLimits.from_config().max_archive_bytes == 2**20
    big = b"\0" * (2**20 + 1)  # 1 MB and a byte: refused before anything is decoded
    with pytest.raises(DataError, match="more than the upload limit of 1 MB "):
        import_zip_bytes(big, "sess-classroom")
    with pytest.raises(DataError, match="more than the upload limit of 1 MB "):
        import_class_images({"cats": [("a.png", big)]}, "sess-classroom")
    monkeypatch.setenv("GLASSWING_MAX_UPLOAD_MB", "3")
    assert config.max_upload_bytes() == 3 * 2**20
    monkeypatch.delenv("GLASSWING_CLASSROOM")
    monkeypatch.delenv("GLASSWING_MAX_UPLOAD_MB")
    assert config.max_upload_bytes() == 200 * 2**20  # no classroom: core's default


def test_server_settings_check_leaves_a_broken_classroom_file_to_the_pages(tmp_path, monkeypatch):
    """check_settings (the launcher's) reads GLASSWING_MAX_UPLOAD_MB itself, not the whole classroom: a
    teacher's typo still gets a served page that names it, and core's own upload check names it too."""
    from core import config

    path = tmp_path / "classroom.toml"
    path.write_text("max_epochs = 'ten'\n")
    monkeypatch.setenv("GLASSWING_CLASSROOM", str(path))
    monkeypatch.delenv("GLASSWING_MAX_UPLOAD_MB", raising=False)
    config.check_settings()
    with pytest.raises(ClassroomConfigError, match="'max_epochs' must be a whole number"):
        config.max_upload_bytes()
    monkeypatch.setenv("GLASSWING_MAX_UPLOAD_MB", "abc")
    with pytest.raises(ParameterError, match="GLASSWING_MAX_UPLOAD_MB must be a whole number from 1 to 100,000"):
        config.check_settings()
