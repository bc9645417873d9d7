"""The SQLite run store: the embedded default, an SQLite file in WAL mode.

Kept as its own name because it is the default most code and tests mean; the work is done
by :class:`~dashcore.store.sql.SQLAlchemyRunStore`, which also runs on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from dashcore.store.sql import SQLAlchemyRunStore, StoreDamaged, store_problem

__all__ = ["SQLiteRunStore", "StoreDamaged", "store_problem"]


class SQLiteRunStore(SQLAlchemyRunStore):
    """The run store in one SQLite file (created, with its folder, if missing)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"sqlite:///{Path(path)}")
