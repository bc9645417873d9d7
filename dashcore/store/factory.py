"""Opening the run store the settings name: one store object per database per process."""

from __future__ import annotations

import threading
from pathlib import Path

from dashcore.settings import Settings, get_settings
from dashcore.store.runs import RunStore
from dashcore.store.sqlite import SQLiteRunStore

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
