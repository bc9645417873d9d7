"""The run store contract: what workers write is what pages read, in order, across
connections and threads; a final status cannot be undone by a late writer.

Every contract test runs against SQLite, and against PostgreSQL too when
``DASHCORE_TEST_PG`` names a server (``postgresql://user@127.0.0.1:port/db``); each
PostgreSQL test gets its own schema, dropped afterwards."""

from __future__ import annotations

import sqlite3
import sys
import threading

import pytest
from sqlalchemy import text

from dashcore.errors import NotFoundError, UserError
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, QUEUED, RUNNING, WORKING, RunRecord, StoreSink
from dashcore.store.schema import SCHEMA_VERSION
from dashcore.store.sql import SQLAlchemyRunStore, StoreDamaged, engine_for
from dashcore.store.sqlite import SQLiteRunStore
from tests.helpers.pg import pg_schema_url

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    """A fresh, empty store's URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    else:
        with pg_schema_url() as url:
            yield url


@pytest.fixture
def store(store_url) -> SQLAlchemyRunStore:
    the_store = SQLAlchemyRunStore(store_url)
    yield the_store
    the_store.close()


def make_run(store: SQLAlchemyRunStore, run_id: str = "r1", **fields) -> RunRecord:
    return store.create_run(RunRecord(run_id=run_id, name=fields.pop("name", "first run"),
                                      config={"epochs": 2}, dataset="MNIST",
                                      architecture="Dense 64", **fields))


def test_a_created_run_reads_back_with_its_config_and_defaults(store):
    make_run(store)
    run = store.get_run("r1")
    assert (run.name, run.status, run.config, run.dataset) == ("first run", QUEUED,
                                                                {"epochs": 2}, "MNIST")
    assert run.created > 0 and run.started is None and not run.stop_requested
    assert run.active


def test_an_unknown_run_is_a_not_found_error_with_its_id(store):
    with pytest.raises(NotFoundError, match="nope"):
        store.get_run("nope")


def test_runs_list_oldest_first_and_filter_by_status(store):
    make_run(store, "a", created=100.0)
    make_run(store, "b", created=50.0)
    store.update_run("a", status=RUNNING)
    assert [r.run_id for r in store.list_runs()] == ["b", "a"]
    assert [r.run_id for r in store.list_runs(WORKING)] == ["a"]


def test_a_final_status_is_not_overwritten_by_a_late_conditional_update(store):
    make_run(store)
    assert store.update_run("r1", only_if_status=WORKING + (QUEUED,), status=COMPLETED)
    assert not store.update_run("r1", only_if_status=WORKING, status=FAILED, reason="late")
    run = store.get_run("r1")
    assert run.status == COMPLETED and run.reason is None


def test_unknown_fields_are_refused(store):
    make_run(store)
    with pytest.raises(ValueError, match="colour"):
        store.update_run("r1", colour="red")


def test_metrics_come_back_in_step_order_and_from_a_given_step(store):
    make_run(store)
    store.add_batch_points("r1", [{"step": 2, "loss": 0.5}, {"step": 0, "loss": 0.9}])
    store.add_batch_points("r1", [{"step": 5, "loss": 0.3}])
    assert [p["step"] for p in store.batch_points("r1")] == [0, 2, 5]
    assert [p["step"] for p in store.batch_points("r1", after_step=2)] == [5]
    store.add_epoch_point("r1", {"epoch": 1, "loss": 0.4})
    store.add_epoch_point("r1", {"epoch": 1, "loss": 0.35})  # a rewrite replaces
    assert store.epoch_points("r1") == [{"epoch": 1, "loss": 0.35}]


def test_the_stop_flag_is_raised_for_that_run_only(store):
    make_run(store, "a")
    make_run(store, "b")
    store.request_stop("a")
    assert store.stop_requested("a") and not store.stop_requested("b")
    assert not store.stop_requested("missing")


def test_renaming_keeps_the_run_and_refuses_empty_or_long_names(store):
    make_run(store)
    assert store.rename_run("r1", "  better   name ").name == "better name"
    with pytest.raises(UserError, match="1 to 80 characters"):
        store.rename_run("r1", "   ")
    with pytest.raises(UserError, match="1 to 80 characters"):
        store.rename_run("r1", "x" * 81)


def test_the_sqlite_store_is_in_wal_mode_so_pages_read_while_a_worker_writes(tmp_path):
    make_run(SQLiteRunStore(tmp_path / "runs.sqlite3"))
    with sqlite3.connect(tmp_path / "runs.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_second_connection_and_another_thread_see_the_writes(store, store_url):
    make_run(store)
    other = SQLAlchemyRunStore(store_url)  # as a worker process would open it
    other.add_batch_points("r1", [{"step": 0, "loss": 1.0}])
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(len(store.batch_points("r1"))))
    thread.start()
    thread.join()
    assert seen == [1]


def test_the_store_sink_forwards_points_and_progress(store):
    make_run(store)
    sink = StoreSink(store, "r1")
    sink.batches([{"step": 0, "loss": 2.0}], {"epoch": 1, "batch": 1})
    sink.epoch({"epoch": 1, "loss": 1.5}, {"epoch": 1, "batch": 10})
    assert store.batch_points("r1") == [{"step": 0, "loss": 2.0}]
    assert store.epoch_points("r1") == [{"epoch": 1, "loss": 1.5}]
    assert store.get_run("r1").progress == {"epoch": 1, "batch": 10}


def test_open_store_uses_the_configured_data_folder(dashcore_home, settings):
    store = open_store(settings)
    assert store is open_store(settings)
    assert get_settings().store_path.is_file()
    assert get_settings().store_path.parent == dashcore_home


# ---------------------------------------------------------------- schema and locking


_V1_STORE = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
    config TEXT NOT NULL, dataset TEXT NOT NULL DEFAULT '', architecture TEXT NOT NULL
    DEFAULT '', created REAL NOT NULL, started REAL, finished REAL, reason TEXT, pid INTEGER,
    pid_created REAL, stop_requested INTEGER NOT NULL DEFAULT 0, progress TEXT NOT NULL
    DEFAULT '{}', summary TEXT NOT NULL DEFAULT '{}', owner TEXT);
CREATE INDEX runs_status ON runs(status);
CREATE TABLE batch_points (run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    step INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (run_id, step)) WITHOUT ROWID;
CREATE TABLE epoch_points (run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (run_id, epoch)) WITHOUT ROWID;
INSERT INTO runs (run_id, name, status, config, created) VALUES ('old', 'kept run',
    'completed', '{"epochs": 3}', 1.0);
INSERT INTO batch_points VALUES ('old', 0, '{"step": 0, "loss": 2.0}');
"""


def test_a_store_file_from_before_versioning_is_upgraded_and_keeps_its_runs(tmp_path):
    path = tmp_path / "runs.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1_STORE)
    store = SQLiteRunStore(path)
    old = store.get_run("old")
    assert (old.name, old.status, old.config, old.backend) == ("kept run", COMPLETED,
                                                               {"epochs": 3}, "local")
    assert store.batch_points("old") == [{"step": 0, "loss": 2.0}]
    make_run(store, "new", backend="ray")
    assert store.get_run("new").backend == "ray"
    with sqlite3.connect(path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    SQLiteRunStore(path)  # opening again applies nothing twice
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(versions)


def test_a_store_written_by_a_newer_workbench_is_refused_with_a_sentence(store_url):
    SQLAlchemyRunStore(store_url).close()
    engine = engine_for(store_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO schema_version (version) VALUES (99)"))
    engine.dispose()
    with pytest.raises(StoreDamaged, match="schema version 99, newer than this workbench"):
        SQLAlchemyRunStore(store_url)


def test_the_live_charts_poll_reads_the_primary_key_index(tmp_path):
    store = SQLiteRunStore(tmp_path / "runs.sqlite3")
    make_run(store)
    with sqlite3.connect(tmp_path / "runs.sqlite3") as conn:
        plan = " ".join(row[-1] for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT data FROM batch_points WHERE run_id = ? AND step > ? "
            "ORDER BY step", ("r1", 10)))
    # A range search of the (run_id, step) key, already in step order: no scan, no sort.
    assert "SEARCH batch_points USING" in plan and "(run_id=? AND step>?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_the_dispatch_lock_excludes_another_store_object_until_released(store, store_url):
    other = SQLAlchemyRunStore(store_url)  # as another web server would open it
    order: list[str] = []
    entered = threading.Event()

    def second() -> None:
        with other.exclusive():
            order.append("second")

    with store.exclusive():
        thread = threading.Thread(target=second)
        thread.start()
        entered.wait(0.5)  # give the second a chance to (wrongly) get in
        order.append("first done")
    thread.join(timeout=30)
    assert order == ["first done", "second"]
    other.close()


def test_an_unreachable_database_gives_a_sentence_without_the_password():
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    with pytest.raises(StoreDamaged) as caught:
        SQLAlchemyRunStore("postgresql://team:s3cret@127.0.0.1:1/runs")
    message = str(caught.value)
    assert "could not be reached" in message and "DASHCORE_DB" in message
    assert "s3cret" not in message and "team:***@127.0.0.1:1/runs" in message


def test_a_postgres_store_without_its_driver_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    with pytest.raises(StoreDamaged) as caught:
        SQLAlchemyRunStore("postgresql://team:s3cret@127.0.0.1:1/runs")
    message = str(caught.value)
    assert "psycopg is not installed" in message and "dashcore[postgres]" in message
    assert "s3cret" not in message and "team:***@127.0.0.1:1/runs" in message
