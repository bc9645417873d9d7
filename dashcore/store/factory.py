"""Opening the run store the settings name: one store object per database per process."""

from __future__ import annotations

import threading

from dashcore.settings import Settings
from dashcore.store.runs import RunStore
from dashcore.store.sql import SQLAlchemyRunStore
from dashcore.system import folder_size

_stores: dict[str, SQLAlchemyRunStore] = {}
_stores_lock = threading.Lock()


def open_store(settings: Settings) -> RunStore:
    """The configured run store: ``settings.db`` (e.g. ``postgresql://…``) when set,
    otherwise the SQLite file in the data folder. One object (and connection pool) per
    database per process."""
    url = settings.db_url
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = SQLAlchemyRunStore(url)
        return store


def run_bytes(owner: str, settings: Settings) -> int:
    """What ``owner``'s run folders (checkpoints, TensorBoard logs, config) take; the disk
    quota asks. No store yet means no runs (counting never creates one)."""
    if not (settings.db or settings.store_path.exists()):
        return 0
    return sum(folder_size(settings.runs_dir / run.run_id)
               for run in open_store(settings).list_runs() if run.owner == owner)
