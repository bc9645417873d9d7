"""Sign-in failure counts in the run store's database, so they outlive a restart and every
server on the same database (replicas behind a proxy) counts the same failures.

A :class:`StoreBook` is the :class:`~dashcore.access.throttle.FailureBook` over the
``sign_in_failures`` table; each change is one write transaction (SQLite takes its write
lock up front; PostgreSQL locks the rows it reads). Times are wall-clock seconds, which
mean the same on every host.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from sqlalchemy import and_, delete, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from dashcore.access.throttle import Change, FailureRecord, Key, SignInThrottle
from dashcore.settings import Settings
from dashcore.store import schema
from dashcore.store.factory import open_store
from dashcore.store.sql import SQLAlchemyRunStore, StoreDamaged, store_problem

_table = schema.sign_in_failures
_throttles: dict[str, SignInThrottle] = {}
_throttles_lock = threading.Lock()


def _match(keys: Sequence[Key]):
    return or_(*(and_(_table.c.kind == kind, _table.c.value == value) for kind, value in keys))


class StoreBook:
    """Failure records in the run store's database."""

    def __init__(self, store: SQLAlchemyRunStore) -> None:
        self.store = store

    def read(self, keys: Sequence[Key]) -> dict[Key, FailureRecord]:
        if not keys:
            return {}
        try:
            with self.store.engine.connect() as conn:
                rows = conn.execute(select(_table).where(_match(keys))).all()
        except SQLAlchemyError as exc:
            raise StoreDamaged(store_problem(exc, self.store.where)) from exc
        return {(r.kind, r.value): FailureRecord(r.failures, r.locked_until, r.last_failure)
                for r in rows}

    def change(self, keys: Sequence[Key], change: Change, forget_before: float,
               max_keys: int) -> None:
        insert = pg_insert if self.store.dialect == "postgresql" else sqlite_insert
        try:
            with self.store.engine.connect().execution_options(write=True) as conn, \
                    conn.begin():
                query = select(_table).where(_match(keys)) if keys else None
                if query is not None and self.store.dialect == "postgresql":
                    query = query.with_for_update()
                rows = conn.execute(query).all() if query is not None else []
                current = {(r.kind, r.value): FailureRecord(r.failures, r.locked_until,
                                                            r.last_failure) for r in rows}
                for (kind, value), record in change(current).items():
                    if record is None:
                        conn.execute(delete(_table).where(_match([(kind, value)])))
                        continue
                    values = {"kind": kind, "value": value, **vars(record)}
                    statement = insert(_table).values(values)
                    conn.execute(statement.on_conflict_do_update(
                        index_elements=["kind", "value"],
                        set_={k: statement.excluded[k] for k in vars(record)}))
                conn.execute(delete(_table).where(_table.c.last_failure < forget_before))
                count = conn.execute(select(func.count()).select_from(_table)).scalar_one()
                if count > max_keys:
                    oldest = (select(_table.c.kind, _table.c.value)
                              .order_by(_table.c.last_failure).limit(count - max_keys))
                    conn.execute(delete(_table).where(
                        tuple_(_table.c.kind, _table.c.value).in_(oldest)))
        except SQLAlchemyError as exc:
            raise StoreDamaged(store_problem(exc, self.store.where)) from exc

    def __len__(self) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_table)).scalar_one())

    def clear(self) -> None:
        with self.store.engine.connect().execution_options(write=True) as conn, conn.begin():
            conn.execute(delete(_table))


def shared_throttle(settings: Settings) -> SignInThrottle:
    """The sign-in throttle the pages use: counts in the configured run store, wall clock.
    One per database per process."""
    store = open_store(settings)
    with _throttles_lock:
        throttle = _throttles.get(store.url)  # type: ignore[attr-defined]
        if throttle is None:
            throttle = SignInThrottle(clock=time.time, book=StoreBook(store))  # type: ignore[arg-type]
            _throttles[store.url] = throttle  # type: ignore[attr-defined]
        return throttle
