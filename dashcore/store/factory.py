"""Opening the run store the settings name: one store object per database per process."""

from __future__ import annotations

import threading

from dashcore.settings import Settings, get_settings
from dashcore.store.runs import RunStore
from dashcore.store.sql import SQLAlchemyRunStore

_stores: dict[str, SQLAlchemyRunStore] = {}
_stores_lock = threading.Lock()


def open_store(settings: Settings | None = None) -> RunStore:
    """The configured run store: ``settings.db`` (e.g. ``postgresql://…``) when set,
    otherwise the SQLite file in the data folder. One object (and connection pool) per
    database per process."""
    settings = settings or get_settings()
    url = settings.db_url
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = SQLAlchemyRunStore(url)
        return store
