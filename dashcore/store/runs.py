"""The run store: every training run, its status, progress and metrics, in one place.

Workers write here; pages only read (on a timer), so a refresh, a closed tab or a
server restart loses nothing. :class:`RunStore` is the small interface the rest of the
workbench depends on; :class:`~dashcore.store.sql.SQLAlchemyRunStore` implements it on an
SQLite file (the embedded default, WAL mode so the page reads while a worker writes) or on
PostgreSQL (``DASHCORE_DB``) when several servers or hosts share the runs.

Statuses: ``queued`` → ``starting`` (worker process spawned, TensorFlow loading) →
``running`` → one of ``completed``, ``stopped``, ``failed``, ``interrupted``.
"""

from __future__ import annotations

import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dashcore.text import check_name

QUEUED, STARTING, RUNNING = "queued", "starting", "running"
COMPLETED, STOPPED, FAILED, INTERRUPTED = "completed", "stopped", "failed", "interrupted"
ACTIVE = (QUEUED, STARTING, RUNNING)  # a run that may still change
WORKING = (STARTING, RUNNING)  # a run that has (or should have) a live worker process
FINAL = (COMPLETED, STOPPED, FAILED, INTERRUPTED)
STATUSES = ACTIVE + FINAL
MAX_NAME = 80  # characters in a run's display name
_local_lock = threading.Lock()


def new_run_id() -> str:
    """Sortable, unique, filesystem-safe: ``r20250101-120000-1a2b3c``."""
    return f"r{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def clean_run_name(name: str) -> str:
    """The name every page shows: :func:`dashcore.text.check_name`, inner spaces collapsed."""
    return " ".join(check_name("run", name, MAX_NAME).split())


@dataclass
class RunRecord:
    """One run as the store keeps it.

    Attributes:
        run_id: unique id, also the run folder's name.
        name: display name the user can edit.
        status: one of :data:`STATUSES`.
        config: the ``TrainConfig`` as a dict (what the worker trains).
        dataset, architecture: shown in the history table.
        created, started, finished: Unix times in seconds (``None`` until they happen).
        reason: a sentence saying why a run ended the way it did (failed, stopped, …).
        pid, pid_created: the worker process and its start time (guards against pid reuse).
        stop_requested: the Stop button was pressed; the worker reads it every batch.
        progress: epoch/batch counters, samples per second and ETA (see training).
        summary: results: best/final metrics, test accuracy, model id, duration.
        owner: the signed-in user, ``None`` while the workbench has no accounts.
        backend: which job backend runs it (``local`` process or ``ray`` job).
    """

    run_id: str
    name: str
    status: str = QUEUED
    config: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""
    architecture: str = ""
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    reason: str | None = None
    pid: int | None = None
    pid_created: float | None = None
    stop_requested: bool = False
    progress: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    backend: str = "local"  # the job backend that started it: "local" or "ray"
    stop_requested_at: float | None = None  # when Stop was first pressed (Unix seconds)
    host: str | None = None  # the machine whose process ``pid`` is (local backend)

    @property
    def active(self) -> bool:
        """True while the run may still change (queued, starting or running)."""
        return self.status in ACTIVE

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish (or to now while running)."""
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started


class RunStore(ABC):
    """What the workbench needs from a run store. Every method is safe to call from
    any thread or process; metrics are append-only and read back in order."""

    @abstractmethod
    def create_run(self, run: RunRecord) -> RunRecord:
        """Insert a new run (status ``queued``) and return it."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """One run; raises :class:`NotFoundError` when there is none."""

    @abstractmethod
    def list_runs(self, statuses: Iterable[str] | None = None) -> list[RunRecord]:
        """All runs (or those with the given statuses), oldest first."""

    @abstractmethod
    def update_run(self, run_id: str, only_if_status: Iterable[str] | None = None,
                   **fields: Any) -> bool:
        """Change fields of a run; with ``only_if_status`` only while its status is one
        of those (a compare-and-set, so a late writer cannot undo a final status).
        Returns whether the run was changed."""

    @abstractmethod
    def request_stop(self, run_id: str) -> None:
        """Raise the stop flag the worker reads every batch."""

    @abstractmethod
    def stop_requested(self, run_id: str) -> bool:
        """Has Stop been pressed? Called once per batch, so it must be cheap."""

    @abstractmethod
    def add_batch_points(self, run_id: str, points: list[dict[str, Any]]) -> None:
        """Append per-batch metric points (each has ``step``, ``epoch``, ``x``, metrics)."""

    @abstractmethod
    def add_epoch_point(self, run_id: str, point: dict[str, Any]) -> None:
        """Append (or replace) one epoch's metrics (``epoch`` is 1-based)."""

    @abstractmethod
    def batch_points(self, run_id: str, after_step: int = -1) -> list[dict[str, Any]]:
        """Per-batch points with ``step > after_step``, in order."""

    @abstractmethod
    def epoch_points(self, run_id: str) -> list[dict[str, Any]]:
        """Per-epoch points, in order."""

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """A lock held while dispatching, shared by every process using this store.
        Stores that can be shared between hosts must override it."""
        with _local_lock:
            yield

    def drop_points_after(self, run_id: str, epoch: int) -> None:
        """Forget the metric points of epochs after ``epoch`` (1-based), batch and epoch
        alike: a continued run retrains them from its last whole-epoch checkpoint.

        Stores that support continuing runs override this.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot continue runs yet.")

    def rename_run(self, run_id: str, name: str) -> RunRecord:
        """Give a run a new display name (any status)."""
        self.get_run(run_id)
        self.update_run(run_id, name=clean_run_name(name))
        return self.get_run(run_id)


# ------------------------------------------------------------------ adapters


class StoreSink:
    """The training sink a worker uses: forwards the callback's records into a store.

    Keeps ``dashcore.training`` independent of any store; scripts can pass another sink.
    """

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Per-batch points (throttled by the callback) and the latest progress."""
        self.store.add_batch_points(self.run_id, points)
        self.store.update_run(self.run_id, progress=progress)

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        """One finished epoch, in full."""
        self.store.add_epoch_point(self.run_id, point)
        self.store.update_run(self.run_id, progress=progress)
