"""The run store over SQLAlchemy: an SQLite file by default, PostgreSQL for teams.

One class serves both: SQLite (the embedded default, WAL mode so a page reads while a
worker writes, ``BEGIN IMMEDIATE`` for writes so concurrent writers queue instead of
failing) and PostgreSQL (``DASHCORE_DB=postgresql://…`` through psycopg 3, so several web
servers and workers on other hosts share one store). The schema is versioned
(:mod:`dashcore.store.schema`). Every database failure becomes :class:`StoreDamaged`
with a sentence; a password in the URL is never shown.
"""

from __future__ import annotations

import fcntl
import importlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, delete, event, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from dashcore.errors import NotFoundError, UserError
from dashcore.store import schema
from dashcore.store.runs import RunRecord, RunStore, clean_run_name


class StoreDamaged(UserError):
    """The run store cannot be read or written (corrupt file, disk full, server down)."""


_F = TypeVar("_F", bound=Callable[..., Any])
_DISPATCH_LOCK = 0x6A6F6273  # "jobs": PostgreSQL advisory lock key for dispatching


def store_problem(exc: BaseException, where: str | Path) -> str:
    """A sentence for a database failure: what happened to the store and what to do."""
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    message = message[0] if message else type(exc).__name__
    lowered = message.lower()
    if "full" in lowered:
        return (f"The disk holding the run store {where} is full ({message}): nothing new can "
                "be recorded. Free some space; what was recorded so far is kept.")
    if "locked" in lowered or "busy" in lowered:
        return (f"The run store {where} is busy ({message}): another process holds it. Try "
                "again in a moment.")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return (f"The run store {where} is damaged ({message}), so runs and their metrics "
                "cannot be read. Move the file aside (a fresh, empty store is then created) "
                "or restore it from a backup; saved models are not affected.")
    if "connect" in lowered or "connection" in lowered or "password" in lowered:
        return (f"The run store database {where} could not be reached ({message}). Check "
                "that the database server is running and that DASHCORE_DB names it with the "
                "right user and password; runs recorded so far are kept there.")
    return (f"The run store {where} could not be used ({type(exc).__name__}: {message}). Check "
            "that the data folder is writable and has free space.")


def _in_words(method: _F) -> _F:
    """Turn a database failure inside a store method into :class:`StoreDamaged`."""

    @wraps(method)
    def wrapper(self: SQLAlchemyRunStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise StoreDamaged(store_problem(exc, self.where)) from exc

    return wrapper  # type: ignore[return-value]


def _readable_points(rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
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


def engine_for(url: str) -> Engine:
    """An engine for a store URL: SQLite with WAL and eager write locks, or PostgreSQL
    through psycopg 3 (``postgresql://`` is mapped to it whatever SQLAlchemy defaults to)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "postgresql+psycopg":
        require_psycopg(parsed.render_as_string(hide_password=True))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)


def require_psycopg(where: str) -> None:
    """Refuse a PostgreSQL store in a sentence when its driver (an optional extra) is missing,
    instead of the bare ``ModuleNotFoundError`` SQLAlchemy would raise."""
    try:
        importlib.import_module("psycopg")
    except ImportError:
        raise StoreDamaged(
            f"The run store database {where} is a PostgreSQL server, but its driver psycopg is "
            "not installed on this host. Install it with: pip install 'dashcore[postgres]' "
            "(or unset DASHCORE_DB to use the built-in SQLite store).") from None


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    for pragma in ("busy_timeout=30000", "journal_mode=WAL", "synchronous=NORMAL",
                   "foreign_keys=ON"):
        dbapi_conn.execute(f"PRAGMA {pragma}")


def _sqlite_begin(conn: Any) -> None:
    # Writers take the write lock up front so concurrent writers queue (busy_timeout)
    # instead of failing on lock upgrade; readers take a WAL snapshot and never wait.
    writing = conn.get_execution_options().get("write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


class SQLAlchemyRunStore(RunStore):
    """A :class:`RunStore` on any database SQLAlchemy reaches (SQLite and PostgreSQL tested).

    Thread-safe: every call checks a connection out of the engine's pool. Safe across
    processes and hosts: writes are transactions, final statuses are compare-and-set.
    """

    @_in_words
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)
        self.dialect = self.engine.dialect.name
        database = self.engine.url.database or ""
        self.path: Path | None = Path(database) if self.dialect == "sqlite" else None
        try:
            with self._write() as conn:
                schema.migrate(conn)
        except schema.SchemaTooNew as exc:
            self.engine.dispose()
            raise StoreDamaged(
                f"The run store {self.where} has schema version {exc.version}, newer than this "
                f"workbench's {schema.SCHEMA_VERSION}: a newer version of the workbench wrote "
                "it. Upgrade the workbench on this host (every server and worker must run the "
                "same version); nothing in the store was changed.") from None

    @property
    def where(self) -> str:
        """The store named for a person: the file, or the URL without its password."""
        if self.path is not None:
            return str(self.path)
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        """Close pooled connections (a new call reconnects)."""
        self.engine.dispose()

    # ------------------------------------------------------------ locking

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held by whoever dispatches or counts queued runs, across threads, processes
        and (on PostgreSQL) hosts, so two web servers never start the same run twice.

        PostgreSQL: a session advisory lock on a dedicated connection (released if that
        connection dies). SQLite: a file lock beside the store file.
        """
        if self.dialect == "postgresql":
            with self._pg_lock():
                yield
            return
        lock_path = (self.path.parent if self.path else Path(".")) / "jobs.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _pg_lock(self) -> Iterator[None]:
        try:
            conn = self.engine.connect()
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _DISPATCH_LOCK})
            conn.commit()
        except SQLAlchemyError as exc:
            raise StoreDamaged(store_problem(exc, self.where)) from exc
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _DISPATCH_LOCK})
                conn.commit()
                conn.close()
            except SQLAlchemyError:
                conn.invalidate()  # drop the session, and with it the lock

    # ------------------------------------------------------------ encoding

    @staticmethod
    def _encode(fields: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in fields.items():
            if key not in schema.RUN_COLUMNS or key == "run_id":
                raise ValueError(f"unknown run field {key!r}")
            if key in schema.JSON_COLUMNS:
                value = json.dumps(value, default=str)
            elif key == "stop_requested":
                value = int(bool(value))
            out[key] = value
        return out

    @staticmethod
    def _decode(row: Any) -> RunRecord:
        """A row as a :class:`RunRecord`; a damaged JSON column becomes ``{}`` and the
        run's reason says which column was lost, so one bad row never breaks a listing."""
        data = dict(zip(schema.RUN_COLUMNS, row, strict=True))
        damaged = []
        for key in schema.JSON_COLUMNS:
            try:
                value = json.loads(data[key] or "{}")
            except (TypeError, ValueError):
                value = None
            if not isinstance(value, dict):
                damaged.append(key)
                value = {}
            data[key] = value
        data["stop_requested"] = bool(data["stop_requested"])
        data["backend"] = data["backend"] or "local"
        if damaged:
            data["reason"] = (f"Part of this run's stored record is damaged (its "
                              f"{' and '.join(damaged)} could not be read), so that part is not "
                              "shown; the rest of the run and its metrics are kept."
                              + (f" Earlier reason: {data['reason']}" if data["reason"] else ""))
        return RunRecord(**data)

    def _upsert(self, table: Any, rows: list[dict[str, Any]], key: tuple[str, ...]) -> Any:
        """INSERT … ON CONFLICT DO UPDATE: a rewritten point replaces the old one."""
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        statement = insert(table).values(rows)
        return statement.on_conflict_do_update(index_elements=list(key),
                                               set_={"data": statement.excluded.data})

    # ------------------------------------------------------------ the contract

    @_in_words
    def create_run(self, run: RunRecord) -> RunRecord:
        run.name = clean_run_name(run.name)
        run.created = run.created or time.time()
        values = {key: getattr(run, key) for key in schema.RUN_COLUMNS if key != "run_id"}
        with self._write() as conn:
            conn.execute(schema.runs.insert().values(run_id=run.run_id, **self._encode(values)))
        return run

    @_in_words
    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            row = conn.execute(select(schema.runs).where(schema.runs.c.run_id == run_id)).first()
        if row is None:
            raise NotFoundError(f"Run {run_id!r} does not exist.")
        return self._decode(row)

    @_in_words
    def list_runs(self, statuses: Iterable[str] | None = None) -> list[RunRecord]:
        query = select(schema.runs).order_by(schema.runs.c.created, schema.runs.c.run_id)
        if statuses is not None:
            query = query.where(schema.runs.c.status.in_(list(statuses)))
        with self._read() as conn:
            rows = conn.execute(query).fetchall()
        return [self._decode(row) for row in rows]

    @_in_words
    def update_run(self, run_id: str, only_if_status: Iterable[str] | None = None,
                   **fields: Any) -> bool:
        if not fields:
            return False
        statement = update(schema.runs).where(schema.runs.c.run_id == run_id)
        if only_if_status is not None:
            statement = statement.where(schema.runs.c.status.in_(list(only_if_status)))
        with self._write() as conn:
            return conn.execute(statement.values(**self._encode(fields))).rowcount > 0

    @_in_words
    def request_stop(self, run_id: str) -> None:
        self.get_run(run_id)
        table = schema.runs
        with self._write() as conn:  # the first press's time is kept (the grace counts from it)
            conn.execute(update(table).where(table.c.run_id == run_id).values(
                stop_requested=1,
                stop_requested_at=func.coalesce(table.c.stop_requested_at, time.time())))

    @_in_words
    def stop_requested(self, run_id: str) -> bool:
        with self._read() as conn:
            flag = conn.execute(select(schema.runs.c.stop_requested)
                                .where(schema.runs.c.run_id == run_id)).scalar()
        return bool(flag)

    @_in_words
    def add_batch_points(self, run_id: str, points: list[dict[str, Any]]) -> None:
        if not points:
            return
        rows = {int(p["step"]): json.dumps(p) for p in points}  # last write of a step wins
        with self._write() as conn:
            conn.execute(self._upsert(schema.batch_points, [
                {"run_id": run_id, "step": step, "data": data} for step, data in rows.items()],
                ("run_id", "step")))

    @_in_words
    def add_epoch_point(self, run_id: str, point: dict[str, Any]) -> None:
        with self._write() as conn:
            conn.execute(self._upsert(schema.epoch_points, [
                {"run_id": run_id, "epoch": int(point["epoch"]), "data": json.dumps(point)}],
                ("run_id", "epoch")))

    @_in_words
    def drop_points_after(self, run_id: str, epoch: int) -> None:
        # A batch point's epoch is inside its JSON: read the run's steps once, delete the
        # later ones by key (portable across SQLite and PostgreSQL; points are throttled).
        batches = schema.batch_points
        with self._write() as conn:
            conn.execute(delete(schema.epoch_points).where(
                schema.epoch_points.c.run_id == run_id,
                schema.epoch_points.c.epoch > int(epoch)))
            rows = conn.execute(select(batches.c.step, batches.c.data).where(
                batches.c.run_id == run_id)).fetchall()
            later = [step for step, data in rows
                     if int(json.loads(data).get("epoch", 0)) > int(epoch)]
            if later:
                conn.execute(delete(batches).where(batches.c.run_id == run_id,
                                                   batches.c.step.in_(later)))

    @_in_words
    def batch_points(self, run_id: str, after_step: int = -1) -> list[dict[str, Any]]:
        # One range scan of the (run_id, step) primary key: the live chart's poll.
        table = schema.batch_points
        with self._read() as conn:
            rows = conn.execute(select(table.c.data).where(
                table.c.run_id == run_id, table.c.step > after_step).order_by(table.c.step))
            return _readable_points(rows.fetchall())

    @_in_words
    def epoch_points(self, run_id: str) -> list[dict[str, Any]]:
        table = schema.epoch_points
        with self._read() as conn:
            rows = conn.execute(select(table.c.data).where(table.c.run_id == run_id)
                                .order_by(table.c.epoch))
            return _readable_points(rows.fetchall())
