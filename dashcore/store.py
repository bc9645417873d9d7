"""The run store: every training run, its status, progress and metrics, in one place.

Workers write here; pages only read (on a timer), so a refresh, a closed tab or a
server restart loses nothing. :class:`RunStore` is the small interface the rest of the
workbench depends on; :class:`SQLiteRunStore` is the embedded default (standard
library ``sqlite3`` in WAL mode, so the page can read while a worker writes). Another
database can replace it by implementing the same methods.

Statuses: ``queued`` → ``starting`` (worker process spawned, TensorFlow loading) →
``running`` → one of ``completed``, ``stopped``, ``failed``, ``interrupted``.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from dashcore.errors import NotFoundError, UserError
from dashcore.settings import Settings, get_settings


class StoreDamaged(UserError):
    """The run store file cannot be read or written (corrupt, not a database, disk full)."""


_F = TypeVar("_F", bound=Callable[..., Any])


def store_problem(exc: sqlite3.Error, path: Path) -> str:
    """A sentence for an SQLite failure: what happened to the store file and what to do."""
    message = str(exc).strip() or type(exc).__name__
    lowered = message.lower()
    if "full" in lowered:
        return (f"The disk holding the run store {path} is full ({message}): nothing new can "
                "be recorded. Free some space; what was recorded so far is kept.")
    if "locked" in lowered or "busy" in lowered:
        return (f"The run store {path} is busy ({message}): another process holds it. Try "
                "again in a moment.")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return (f"The run store {path} is damaged ({message}), so runs and their metrics "
                "cannot be read. Move the file aside (a fresh, empty store is then created) "
                "or restore it from a backup; saved models are not affected.")
    return (f"The run store {path} could not be used ({type(exc).__name__}: {message}). Check "
            "that the data folder is writable and has free space.")


def _in_words(method: _F) -> _F:
    """Turn an SQLite failure inside a store method into :class:`StoreDamaged`."""

    @wraps(method)
    def wrapper(self: SQLiteRunStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreDamaged(store_problem(exc, self.path)) from exc

    return wrapper  # type: ignore[return-value]


QUEUED, STARTING, RUNNING = "queued", "starting", "running"
COMPLETED, STOPPED, FAILED, INTERRUPTED = "completed", "stopped", "failed", "interrupted"
ACTIVE = (QUEUED, STARTING, RUNNING)  # a run that may still change
WORKING = (STARTING, RUNNING)  # a run that has (or should have) a live worker process
FINAL = (COMPLETED, STOPPED, FAILED, INTERRUPTED)
STATUSES = ACTIVE + FINAL
MAX_NAME = 80  # characters in a run's display name


def new_run_id() -> str:
    """Sortable, unique, filesystem-safe: ``r20250101-120000-1a2b3c``."""
    return f"r{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def clean_run_name(name: str) -> str:
    """Refuse names a table cannot show (empty or very long)."""
    clean = " ".join(str(name).split())
    if not 1 <= len(clean) <= MAX_NAME:
        raise UserError(f"A run name needs 1 to {MAX_NAME} characters; got {len(clean)}.")
    return clean


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

    def rename_run(self, run_id: str, name: str) -> RunRecord:
        """Give a run a new display name (any status)."""
        self.get_run(run_id)
        self.update_run(run_id, name=clean_run_name(name))
        return self.get_run(run_id)


# ------------------------------------------------------------------ SQLite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    dataset TEXT NOT NULL DEFAULT '',
    architecture TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    reason TEXT,
    pid INTEGER,
    pid_created REAL,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    progress TEXT NOT NULL DEFAULT '{}',
    summary TEXT NOT NULL DEFAULT '{}',
    owner TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE TABLE IF NOT EXISTS batch_points (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epoch_points (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
"""
_JSON_FIELDS = ("config", "progress", "summary")
_COLUMNS = ("run_id", "name", "status", "config", "dataset", "architecture", "created",
            "started", "finished", "reason", "pid", "pid_created", "stop_requested",
            "progress", "summary", "owner")


def _readable_points(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Metric points in order, skipping any whose stored JSON is damaged (a chart with a
    gap is better than no chart)."""
    points = []
    for (raw,) in rows:
        try:
            point = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if isinstance(point, dict):
            points.append(point)
    return points


class SQLiteRunStore(RunStore):
    """The embedded default: one SQLite file in WAL mode.

    Each thread gets its own connection (``sqlite3`` connections must not cross
    threads; Streamlit runs every session in its own thread). WAL lets the page read
    while a worker writes; ``busy_timeout`` makes concurrent writers wait instead of fail.
    """

    @_in_words
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)  # executescript manages its own transaction

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken eagerly so concurrent writers queue up."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the transaction is already gone (e.g. a damaged file): report the cause
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @staticmethod
    def _encode(fields: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in fields.items():
            if key not in _COLUMNS or key == "run_id":
                raise ValueError(f"unknown run field {key!r}")
            if key in _JSON_FIELDS:
                value = json.dumps(value, default=str)
            elif key == "stop_requested":
                value = int(bool(value))
            out[key] = value
        return out

    @staticmethod
    def _decode(row: sqlite3.Row | tuple) -> RunRecord:
        """A row as a :class:`RunRecord`; a damaged JSON column becomes ``{}`` and the
        run's reason says which column was lost, so one bad row never breaks a listing."""
        data = dict(zip(_COLUMNS, row, strict=True))
        damaged = []
        for key in _JSON_FIELDS:
            try:
                value = json.loads(data[key] or "{}")
            except (TypeError, ValueError):
                value = None
            if not isinstance(value, dict):
                damaged.append(key)
                value = {}
            data[key] = value
        data["stop_requested"] = bool(data["stop_requested"])
        if damaged:
            data["reason"] = (f"Part of this run's stored record is damaged (its "
                              f"{' and '.join(damaged)} could not be read), so that part is not "
                              "shown; the rest of the run and its metrics are kept."
                              + (f" Earlier reason: {data['reason']}" if data["reason"] else ""))
        return RunRecord(**data)

    @_in_words
    def create_run(self, run: RunRecord) -> RunRecord:
        run.name = clean_run_name(run.name)
        run.created = run.created or time.time()
        values = {key: getattr(run, key) for key in _COLUMNS}
        encoded = {"run_id": run.run_id, **self._encode(
            {k: v for k, v in values.items() if k != "run_id"})}
        with self._tx() as conn:
            conn.execute(f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES "
                         f"({', '.join('?' for _ in _COLUMNS)})",
                         [encoded[key] for key in _COLUMNS])
        return run

    @_in_words
    def get_run(self, run_id: str) -> RunRecord:
        row = self._conn().execute(f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE run_id = ?",
                                   (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"Run {run_id!r} does not exist.")
        return self._decode(row)

    @_in_words
    def list_runs(self, statuses: Iterable[str] | None = None) -> list[RunRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM runs"
        args: list[Any] = []
        if statuses is not None:
            wanted = list(statuses)
            sql += f" WHERE status IN ({', '.join('?' for _ in wanted)})"
            args = wanted
        rows = self._conn().execute(sql + " ORDER BY created, run_id", args).fetchall()
        return [self._decode(row) for row in rows]

    @_in_words
    def update_run(self, run_id: str, only_if_status: Iterable[str] | None = None,
                   **fields: Any) -> bool:
        if not fields:
            return False
        encoded = self._encode(fields)
        sql = f"UPDATE runs SET {', '.join(f'{k} = ?' for k in encoded)} WHERE run_id = ?"
        args = [*encoded.values(), run_id]
        if only_if_status is not None:
            wanted = list(only_if_status)
            sql += f" AND status IN ({', '.join('?' for _ in wanted)})"
            args += wanted
        with self._tx() as conn:
            return conn.execute(sql, args).rowcount > 0

    @_in_words
    def request_stop(self, run_id: str) -> None:
        self.get_run(run_id)
        self.update_run(run_id, stop_requested=True)

    @_in_words
    def stop_requested(self, run_id: str) -> bool:
        row = self._conn().execute("SELECT stop_requested FROM runs WHERE run_id = ?",
                                   (run_id,)).fetchone()
        return bool(row and row[0])

    @_in_words
    def add_batch_points(self, run_id: str, points: list[dict[str, Any]]) -> None:
        if not points:
            return
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO batch_points (run_id, step, data) VALUES (?, ?, ?)",
                [(run_id, int(p["step"]), json.dumps(p)) for p in points])

    @_in_words
    def add_epoch_point(self, run_id: str, point: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO epoch_points (run_id, epoch, data) VALUES (?, ?, ?)",
                (run_id, int(point["epoch"]), json.dumps(point)))

    @_in_words
    def batch_points(self, run_id: str, after_step: int = -1) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT data FROM batch_points WHERE run_id = ? AND step > ? ORDER BY step",
            (run_id, after_step)).fetchall()
        return _readable_points(rows)

    @_in_words
    def epoch_points(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT data FROM epoch_points WHERE run_id = ? ORDER BY epoch", (run_id,)
        ).fetchall()
        return _readable_points(rows)


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


_stores: dict[Path, SQLiteRunStore] = {}
_stores_lock = threading.Lock()


def open_store(settings: Settings | None = None) -> RunStore:
    """The run store of the configured data folder (one object per file per process)."""
    settings = settings or get_settings()
    path = settings.store_path
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = SQLiteRunStore(path)
        return store
