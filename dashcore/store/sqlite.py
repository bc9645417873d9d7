"""The SQLite run store (WAL mode): the embedded default behind :class:`RunStore`."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from dashcore.errors import NotFoundError, UserError
from dashcore.store.runs import RunRecord, RunStore, clean_run_name


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
    def drop_points_after(self, run_id: str, epoch: int) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM epoch_points WHERE run_id = ? AND epoch > ?",
                         (run_id, int(epoch)))
            conn.execute("DELETE FROM batch_points WHERE run_id = ? AND "
                         "CAST(json_extract(data, '$.epoch') AS INTEGER) > ?",
                         (run_id, int(epoch)))

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
