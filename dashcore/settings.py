"""One typed settings object for the whole workbench.

Everything configurable lives here, read once from the environment, so pages,
workers and tests agree on where data lives and which limits apply. Tests point
``DASHCORE_HOME`` at a temporary folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOME = Path.home() / ".dashcore"


def _env_int(name: str, default: int) -> int:
    """Read a whole number from the environment, falling back to ``default``."""
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# The environment variable behind each limit, so a refusal can name what to change.
LIMIT_ENV = {
    "upload_mb": "DASHCORE_UPLOAD_MB",
    "dataset_images": "DASHCORE_MAX_DATASET_IMAGES",
    "max_epochs": "DASHCORE_MAX_EPOCHS",
    "max_params": "DASHCORE_MAX_PARAMS",
    "queued_per_user": "DASHCORE_QUEUED_PER_USER",
    "unpacked_mb": "DASHCORE_UNPACKED_MB",
    "image_pixels": "DASHCORE_MAX_IMAGE_PIXELS",
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
    unpacked_mb: int = 1_000  # most megabytes a zip of images may unpack or decode to
    image_pixels: int = 25_000_000  # most pixels in one uploaded image (e.g. 5000×5000)


@dataclass(frozen=True)
class Settings:
    """Where the workbench keeps its data and how much it may do.

    Defaults to ``~/.dashcore``; ``DASHCORE_HOME`` moves the whole data folder.
    """

    home: Path = DEFAULT_HOME  # root of runs, models, uploads, drawings
    concurrent_jobs: int = 1  # training jobs running at once (1 suits a 2-core box)
    worker_threads: int = 0  # TF intra-op threads per worker; 0 = cores minus one, at least 1
    limits: Limits = field(default_factory=Limits)

    @property
    def runs_dir(self) -> Path:
        """Per-run folders: logs, TensorBoard events, checkpoints."""
        return self.home / "runs"

    @property
    def models_dir(self) -> Path:
        """The model registry: ``<id>.keras`` plus ``<id>.json`` cards."""
        return self.home / "models"

    @property
    def datasets_dir(self) -> Path:
        """Validated uploaded datasets, one ``.npz`` each."""
        return self.home / "datasets"

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
        """The SQLite run store."""
        return self.home / "runs.sqlite3"

    def ensure_dirs(self) -> Settings:
        """Create every data folder; cheap and idempotent."""
        for path in (self.runs_dir, self.models_dir, self.datasets_dir, self.drawings_dir,
                     self.uploads_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


def get_settings() -> Settings:
    """Build settings from the environment (read on every call, so tests can change it)."""
    home = Path(os.environ.get("DASHCORE_HOME") or DEFAULT_HOME).expanduser()
    limits = Limits(
        **{name: _env_int(env, getattr(Limits, name)) for name, env in LIMIT_ENV.items()})
    return Settings(
        home=home,
        concurrent_jobs=max(1, _env_int("DASHCORE_CONCURRENT_JOBS", 1)),
        worker_threads=_env_int("DASHCORE_WORKER_THREADS", 0),
        limits=limits,
    )

