"""The SQLite run store: what workers write is what pages read, in order, across
connections and threads; a final status cannot be undone by a late writer."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from dashcore.errors import NotFoundError, UserError
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, QUEUED, RUNNING, WORKING, RunRecord, StoreSink
from dashcore.store.sqlite import SQLiteRunStore


@pytest.fixture
def store(tmp_path) -> SQLiteRunStore:
    return SQLiteRunStore(tmp_path / "runs.sqlite3")


def make_run(store: SQLiteRunStore, run_id: str = "r1", **fields) -> RunRecord:
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


def test_the_store_is_in_wal_mode_so_pages_read_while_a_worker_writes(store, tmp_path):
    make_run(store)
    with sqlite3.connect(tmp_path / "runs.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_second_connection_and_another_thread_see_the_writes(store, tmp_path):
    make_run(store)
    other = SQLiteRunStore(tmp_path / "runs.sqlite3")  # as a worker process would open it
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


def test_open_store_uses_the_configured_data_folder(dashcore_home):
    store = open_store()
    assert store is open_store()
    assert get_settings().store_path.is_file()
    assert get_settings().store_path.parent == dashcore_home
