"""One typed settings object for the whole workbench, and the one parser of its environment.

Everything configurable lives here, read from the environment by :func:`get_settings` at the
entry points (pages, worker, CLI), so pages, workers and tests agree on where data lives and
which limits apply. Every ``DASHCORE_*`` value is checked as it is read: a wrong one is
refused with a sentence naming the variable, the value, what is allowed and the default
(:class:`SettingsError`), never turned into a traceback later. Tests point ``DASHCORE_HOME``
at a temporary folder.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from dashcore.errors import UserError

DEFAULT_HOME = Path.home() / ".dashcore"


# The environment variable behind each limit, so a refusal can name what to change.
LIMIT_ENV = {
    "upload_mb": "DASHCORE_UPLOAD_MB",
    "dataset_images": "DASHCORE_MAX_DATASET_IMAGES",
    "max_epochs": "DASHCORE_MAX_EPOCHS",
    "max_params": "DASHCORE_MAX_PARAMS",
    "queued_per_user": "DASHCORE_QUEUED_PER_USER",
    "dataset_mb": "DASHCORE_DATASET_MB",
    "dataset_cache_mb": "DASHCORE_DATASET_CACHE_MB",
    "drawing_kb": "DASHCORE_DRAWING_KB",
    "canvas_pixels": "DASHCORE_CANVAS_PIXELS",
    "job_max_minutes": "DASHCORE_JOB_MAX_MINUTES",
    "max_training_tmac": "DASHCORE_MAX_TRAINING_TMAC",
    "max_activation_mb": "DASHCORE_MAX_ACTIVATION_MB",
    "user_disk_mb": "DASHCORE_USER_DISK_MB",
    "eval_max_seconds": "DASHCORE_EVAL_MAX_SECONDS",
    "unpacked_mb": "DASHCORE_UNPACKED_MB",
    "image_pixels": "DASHCORE_MAX_IMAGE_PIXELS",
    "import_megapixels": "DASHCORE_IMPORT_MEGAPIXELS",
    "import_max_seconds": "DASHCORE_IMPORT_MAX_SECONDS",
    "import_cpu_seconds": "DASHCORE_IMPORT_CPU_SECONDS",
    "import_workers": "DASHCORE_IMPORT_WORKERS",
    "drawings_per_user": "DASHCORE_DRAWINGS_PER_USER",
    "drawing_classes_per_user": "DASHCORE_DRAWING_CLASSES_PER_USER",
    "artifact_cache_mb": "DASHCORE_ARTIFACT_CACHE_MB",
    "table_rows": "DASHCORE_MAX_TABLE_ROWS",
    "table_columns": "DASHCORE_MAX_TABLE_COLUMNS",
}


def limit_setting(field_name: str) -> str:
    """The sentence ending a limit refusal: which setting raises it (e.g. for an admin)."""
    return f"This server's limit is set by {LIMIT_ENV[field_name]}."


@dataclass(frozen=True)
class Limits:
    """Caps that keep one user from exhausting a shared server. All configurable."""

    upload_mb: int = 100  # largest dataset or model upload, in megabytes
    dataset_images: int = 200_000  # most images (train + test) in an uploaded dataset
    max_epochs: int = 200  # most epochs a single training job may ask for
    max_params: int = 20_000_000  # most trainable parameters in a model to train
    queued_per_user: int = 3  # most queued or running jobs one user may have at once
    dataset_mb: int = 512  # most megabytes an uploaded dataset's arrays take decompressed
    dataset_cache_mb: int = 1024  # megabytes of uploaded datasets kept loaded, server-wide
    drawing_kb: int = 1024  # largest canvas PNG a drawing may send or save, in kilobytes
    canvas_pixels: int = 4_000_000  # most pixels a canvas image may decode to (2000×2000)
    job_max_minutes: float = 240.0  # a run's training is stopped (model kept) after this long
    max_training_tmac: float = 200.0  # most estimated training work per run, in tera
    # multiply-accumulates (epochs × steps × per-image cost × 3, plus per-step overhead);
    # 200 is about 75 minutes on a 2-core CPU
    max_activation_mb: int = 4096  # most memory the layer outputs may take while training at
    # the chosen batch size, in megabytes
    user_disk_mb: int = 2048  # most disk one signed-in user's models, datasets, drawings and
    # run folders may take, in megabytes
    eval_max_seconds: float = 300.0  # longest an uploaded model's evaluation may run (seconds)
    unpacked_mb: int = 1_000  # most megabytes a zip of images may unpack or decode to
    image_pixels: int = 25_000_000  # most pixels in one uploaded image (e.g. 5000×5000)
    import_megapixels: int = 5_000  # most pixels (in millions) all of one zip's images may
    # decode to together, summed from their headers before any is decoded
    import_max_seconds: float = 120.0  # wall-clock limit of one import, in seconds
    import_cpu_seconds: float = 120.0  # CPU-time limit of one import's worker, in seconds
    import_workers: int = 1  # imports running at once per server (more wait in a short queue)
    drawings_per_user: int = 1_000  # one person's share of the 10,000 "Your drawings"
    drawing_classes_per_user: int = 20  # classes one person may add to "Your drawings" (of 100)
    artifact_cache_mb: int = 2048  # local copies of object-store models (and, apart, datasets)
    # kept at most, in megabytes; the least recently used go first
    table_rows: int = 200_000  # most data rows in an uploaded CSV table
    table_columns: int = 500  # most columns in an uploaded CSV table (its header's count)


@dataclass(frozen=True)
class Settings:
    """Where the workbench keeps its data and how much it may do.

    Defaults to ``~/.dashcore``; ``DASHCORE_HOME`` moves the whole data folder.
    """

    home: Path = DEFAULT_HOME  # root of runs, models, uploads, drawings
    concurrent_jobs: int = 1  # training jobs running at once (1 suits a 2-core box)
    worker_threads: int = 0  # TF intra-op threads per worker; 0 = cores minus one, at least 1
    limits: Limits = field(default_factory=Limits)
    db: str = ""  # run store URL (DASHCORE_DB): "" = the SQLite file in home;
    # "postgresql://user:pass@host/db" when several servers or hosts share the runs
    backend: str = "local"  # job backend (DASHCORE_BACKEND): "local" worker processes or "ray"
    ray_address: str = ""  # Ray head's dashboard, http://head:8265, for the Jobs API
    # (DASHCORE_RAY_ADDRESS, else RAY_ADDRESS)
    ray_cpus: float = 1.0  # CPUs each Ray job asks for (DASHCORE_RAY_CPUS)
    ray_gpus: float = 0.0  # GPUs each Ray job asks for unless its config says (DASHCORE_RAY_GPUS)
    stop_grace_s: float = 30.0  # seconds a stopping Ray job gets to save before stop_job
    artifacts: str = ""  # where models live (DASHCORE_ARTIFACTS): "" = home; "s3://bucket/prefix"
    spares: int = 1  # warm spare workers kept ready on each host (DASHCORE_SPARES), at most
    # concurrent_jobs; 0 = every run starts its worker cold
    spare_mb: int = 3072  # most megabytes of memory this host's spares may hold together
    # (DASHCORE_SPARE_MB); no new spare starts past it
    spare_idle_minutes: float = 30.0  # an unused spare exits after this long
    # (DASHCORE_SPARE_IDLE_MINUTES), giving its memory back

    @property
    def runs_dir(self) -> Path:
        """Per-run folders: logs, TensorBoard events, checkpoints."""
        return self.home / "runs"

    @property
    def models_dir(self) -> Path:
        """The model registry when it is local: ``<id>.keras`` plus ``<id>.json`` cards
        (under ``artifacts`` when that is a shared path rather than an object store URL)."""
        if self.artifacts and "://" not in self.artifacts:
            return Path(self.artifacts).expanduser() / "models"
        return self.home / "models"

    @property
    def datasets_dir(self) -> Path:
        """Validated uploaded datasets, one ``.npz`` each, when kept locally (under
        ``artifacts`` when that is a shared path rather than an object store URL)."""
        if self.artifacts and "://" not in self.artifacts:
            return Path(self.artifacts).expanduser() / "datasets"
        return self.home / "datasets"

    @property
    def spares_dir(self) -> Path:
        """Warm spare workers waiting on this host (one FIFO and one record each)."""
        import socket

        return self.home / "spares" / socket.gethostname()

    @property
    def drawings_dir(self) -> Path:
        """Labelled drawings saved from /draw."""
        return self.home / "drawings"

    @property
    def uploads_dir(self) -> Path:
        """Quarantine for untrusted uploads before they are checked."""
        return self.home / "uploads"

    @property
    def store_path(self) -> Path:
        """The SQLite run store (the default when no ``db`` URL is set)."""
        return self.home / "runs.sqlite3"

    @property
    def db_url(self) -> str:
        """The run store's SQLAlchemy URL: ``db`` if set, else the SQLite file in home."""
        return self.db or f"sqlite:///{self.store_path}"

    @property
    def artifacts_url(self) -> str:
        """Root of saved models (a local folder or an fsspec URL such as ``s3://b/p``)."""
        return self.artifacts or str(self.home)  # home/models is models_dir

    def worker_env(self) -> dict[str, str]:
        """The DASHCORE_* variables a worker process (local or on a cluster) needs to see
        the same store, artefacts and limits as the server that started it."""
        env = {"DASHCORE_HOME": str(self.home), "DASHCORE_DB": self.db,
               "DASHCORE_BACKEND": self.backend, "DASHCORE_ARTIFACTS": self.artifacts,
               "DASHCORE_CONCURRENT_JOBS": str(self.concurrent_jobs),
               "DASHCORE_WORKER_THREADS": str(self.worker_threads),
               "DASHCORE_RAY_ADDRESS": self.ray_address, "DASHCORE_RAY_CPUS": str(self.ray_cpus),
               "DASHCORE_RAY_GPUS": str(self.ray_gpus),
               "DASHCORE_STOP_GRACE_S": str(self.stop_grace_s),
               "DASHCORE_SPARES": str(self.spares), "DASHCORE_SPARE_MB": str(self.spare_mb),
               "DASHCORE_SPARE_IDLE_MINUTES": str(self.spare_idle_minutes)}
        env.update({var: str(getattr(self.limits, name)) for name, var in LIMIT_ENV.items()})
        return env

    def ensure_dirs(self) -> Settings:
        """Create every data folder; cheap and idempotent."""
        for path in (self.runs_dir, self.models_dir, self.datasets_dir, self.drawings_dir,
                     self.uploads_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


BACKENDS = ("local", "ray")
# Run store URLs the store can open (``postgres`` and ``postgresql`` go through psycopg 3).
DB_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")


class SettingsError(UserError):
    """One or more ``DASHCORE_*`` values are wrong; the message has a sentence for each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class EnvSetting:
    """One environment variable: the field it sets, its default and how its text is read.

    ``parse`` turns the (stripped, non-empty) text into the value or raises ``ValueError``;
    ``allowed`` says in words what it accepts, for the refusal.
    """

    name: str  # the variable, e.g. DASHCORE_MAX_EPOCHS
    target: str  # the Settings field it sets; "limits.<field>" for a Limits field
    default: object  # the value when the variable is unset or blank
    parse: Callable[[str], object]
    allowed: str

    def default_text(self) -> str:
        """The default as a person would type it (README's tables quote the same text)."""
        if self.target == "home":
            return "~/.dashcore"
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default) if self.default != "" else "empty"

    def refusal(self, raw: str) -> str:
        return (f"{self.name} is {_shown(raw)!r}: it must be {self.allowed} (the default is "
                f"{self.default_text()}). Fix it or unset it to use the default.")


def _shown(raw: str) -> str:
    """The value as a refusal quotes it: a password inside a URL is hidden."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", raw)[:200]


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if value < minimum:
            raise ValueError(raw)
        return value
    return parse


def _number(minimum: float) -> Callable[[str], float]:
    """A number; fractions allowed (0.05 minutes is 3 s); never NaN or infinite."""
    def parse(raw: str) -> float:
        value = float(raw)
        if not math.isfinite(value) or value < minimum:
            raise ValueError(raw)
        return value
    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in options:
            raise ValueError(raw)
        return raw.lower()
    return parse


def _folder(raw: str) -> Path:
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(raw)
    return path


def _db_url(raw: str) -> str:
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme.lower() not in DB_SCHEMES or not rest:
        raise ValueError(raw)
    return raw


def _artifacts(raw: str) -> str:
    """A folder, or a URL whose protocol fsspec knows (its driver may still be missing)."""
    protocol, sep, _ = raw.partition("://")
    if sep and protocol.lower() != "file":
        from fsspec.registry import known_implementations  # only for a URL: fsspec is big

        if protocol.lower() not in known_implementations:
            raise ValueError(raw)
    return raw


def _text(raw: str) -> str:
    return raw


def _limit_setting(name: str) -> EnvSetting:
    default = next(f.default for f in fields(Limits) if f.name == name)
    minimum = 1 if name == "import_workers" else 0
    if isinstance(default, float):
        return EnvSetting(LIMIT_ENV[name], f"limits.{name}", default, _number(minimum),
                          f"a number, {minimum} or more; fractions allowed")
    return EnvSetting(LIMIT_ENV[name], f"limits.{name}", default, _whole(minimum),
                      f"a whole number, {minimum} or more")


# Every DASHCORE_* variable the workbench reads, in one place: get_settings reads these and
# nothing else. README's settings tables list the same names and defaults (a test checks).
ENVIRONMENT: tuple[EnvSetting, ...] = (
    EnvSetting("DASHCORE_HOME", "home", DEFAULT_HOME, _folder,
               "a folder (or a path where one can be made), not a file"),
    *(_limit_setting(name) for name in LIMIT_ENV),
    EnvSetting("DASHCORE_CONCURRENT_JOBS", "concurrent_jobs", 1, _whole(1),
               "a whole number, 1 or more"),
    EnvSetting("DASHCORE_WORKER_THREADS", "worker_threads", 0, _whole(0),
               "a whole number, 0 or more (0 = the cores left after one, shared between "
               "concurrent jobs)"),
    EnvSetting("DASHCORE_DB", "db", "", _db_url,
               "empty (the SQLite file in the data folder) or a sqlite:/// or "
               "postgresql:// URL"),
    EnvSetting("DASHCORE_BACKEND", "backend", "local", _choice(BACKENDS),
               " or ".join(BACKENDS)),
    EnvSetting("DASHCORE_RAY_ADDRESS", "ray_address", "", _text,
               "the Ray head's dashboard URL, e.g. http://head:8265"),
    EnvSetting("DASHCORE_RAY_CPUS", "ray_cpus", 1.0, _number(0), "a number, 0 or more"),
    EnvSetting("DASHCORE_RAY_GPUS", "ray_gpus", 0.0, _number(0), "a number, 0 or more"),
    EnvSetting("DASHCORE_STOP_GRACE_S", "stop_grace_s", 30.0, _number(0),
               "a number of seconds, 0 or more"),
    EnvSetting("DASHCORE_ARTIFACTS", "artifacts", "", _artifacts,
               "empty (the data folder), a folder, or an fsspec URL such as "
               "s3://bucket/prefix"),
    EnvSetting("DASHCORE_SPARES", "spares", 1, _whole(0),
               "a whole number, 0 or more (0 = no warm spare workers)"),
    EnvSetting("DASHCORE_SPARE_MB", "spare_mb", 3072, _whole(0),
               "a whole number of megabytes, 0 or more"),
    EnvSetting("DASHCORE_SPARE_IDLE_MINUTES", "spare_idle_minutes", 30.0, _number(0),
               "a number of minutes, 0 or more; fractions allowed"),
)


def read_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from ``environ``: each variable in :data:`ENVIRONMENT` checked, blank ones
    defaulted. Raises :class:`SettingsError` naming every wrong value at once."""
    values: dict[str, object] = {}
    problems: list[str] = []
    for setting in ENVIRONMENT:
        raw = environ.get(setting.name, "").strip()
        if setting.name == "DASHCORE_RAY_ADDRESS" and not raw:
            raw = environ.get("RAY_ADDRESS", "").strip()  # Ray's own variable, if set
        try:
            values[setting.target] = setting.parse(raw) if raw else setting.default
        except ValueError:
            problems.append(setting.refusal(raw))
    if problems:
        raise SettingsError(problems)
    limits = Limits(**{target.removeprefix("limits."): value
                       for target, value in values.items() if target.startswith("limits.")})
    return Settings(limits=limits, **{target: value for target, value in values.items()
                                      if not target.startswith("limits.")})


def get_settings() -> Settings:
    """Build settings from the environment (read on every call, so tests can change it)."""
    return read_settings(os.environ)
