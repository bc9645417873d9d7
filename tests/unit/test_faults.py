"""Faults survived, nothing lost: one test per fault, asserting what a user would notice.

A worker killed mid-epoch, the server restarted mid-run, the disk filling while a file is
saved, a corrupt model or store row, two people pressing Train at once, and a model
deleted while someone predicts with it. Only the first trains (a tiny model in a real
worker process); the rest use fakes, threads or small processes.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dashcore.atomic import DiskFull
from dashcore.datasets import drawings, uploads
from dashcore.errors import NotFoundError, UserError
from dashcore.inference.predictor import clear_cache, get_predictor
from dashcore.jobs import display, local, queue, worker
from dashcore.models import registry
from dashcore.models.builder import build_model
from dashcore.models.export import file_problem
from dashcore.models.specs import ModelSpec
from dashcore.settings import get_settings
from dashcore.store import factory
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, INTERRUPTED, QUEUED, RUNNING, RunRecord
from dashcore.store.sqlite import StoreDamaged
from tests.helpers import REPO_ROOT
from tests.helpers.datasets import npz
from tests.helpers.jobs import LONG, QUICK, TINY, FakeLauncher, dead_pid, finished, wait_for
from tests.helpers.pg import pg_schema_url

pytestmark = pytest.mark.usefixtures("no_stray_workers")  # kill what a failed test leaves running

# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _fresh_predictors():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="module")
def tiny_model():
    """A 28×28 → 10 classifier small enough to save and load in a blink."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name → bytes), to prove nothing changed."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def temp_leftovers(folder: Path) -> list[str]:
    """Half-written temp files an atomic write would leave behind (``.<stem>.xxxx``)."""
    if not folder.exists():
        return []
    return [str(p) for p in folder.rglob(".*") if p.is_file() and p.name != ".lock"]


# ---------------------------------------------------------------- (a) worker killed


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_fails_the_run_and_keeps_metrics_and_best_checkpoint(settings):
    run = queue.submit(LONG, name="killed mid-epoch", settings=settings)
    the_store = open_store(settings)
    best = get_settings().runs_dir / run.run_id / "best.weights.h5"

    def in_second_epoch() -> bool:
        progress = the_store.get_run(run.run_id).progress or {}
        return (best.is_file() and len(the_store.epoch_points(run.run_id)) >= 1
                and progress.get("epoch", 0) >= 2 and progress.get("batch", 0) >= 1)

    wait_for(in_second_epoch, "the second epoch to begin")
    os.kill(the_store.get_run(run.run_id).pid, signal.SIGKILL)
    wait_for(finished(run.run_id), "the killed worker to be noticed")

    after = the_store.get_run(run.run_id)
    assert after.status == FAILED
    assert "killed (SIGKILL) during epoch" in after.reason
    assert "metrics so far are kept" in after.reason and str(best) in after.reason
    first_epoch = the_store.epoch_points(run.run_id)[0]
    assert first_epoch["epoch"] == 1 and "val_loss" in first_epoch
    assert len(the_store.batch_points(run.run_id)) >= 2
    # the checkpoint loads: nothing half-written
    model = build_model(ModelSpec.from_dict(TINY), settings.limits.max_params)
    model.load_weights(best)
    assert len(model.get_weights()) == 4


# ---------------------------------------------------------------- (b) server restarted


def test_a_server_restart_interrupts_orphaned_runs_and_keeps_every_runs_history(monkeypatch,
                                                                                settings):
    the_store = open_store(settings)
    done = the_store.create_run(RunRecord(run_id="r-done", name="done", status=COMPLETED,
                                          summary={"test_accuracy": 0.97}))
    orphan = the_store.create_run(RunRecord(run_id="r-orphan", name="orphan", status=RUNNING,
                                            config=QUICK.to_dict(), pid=dead_pid()))
    me = os.getpid()  # a worker that survived the restart: this very process
    alive = the_store.create_run(RunRecord(run_id="r-alive", name="alive", status=RUNNING,
                                           config=QUICK.to_dict(), pid=me,
                                           pid_created=local.process_identity(me)))
    waiting = the_store.create_run(RunRecord(run_id="r-waiting", name="waiting",
                                             config=QUICK.to_dict()))
    for run_id in ("r-done", "r-orphan"):
        the_store.add_batch_points(run_id, [{"step": s, "epoch": 1, "loss": 1.0 / (s + 1)}
                                            for s in range(5)])
        the_store.add_epoch_point(run_id, {"epoch": 1, "loss": 0.5, "val_loss": 0.6})
    the_store.update_run("r-orphan", progress={"epoch": 2, "epochs": 5, "batch": 7,
                                               "steps": 40})
    before = {r: (the_store.batch_points(r), the_store.epoch_points(r))
              for r in ("r-done", "r-orphan")}

    monkeypatch.setattr(queue, "_started_homes", set())  # a new server process
    launcher = FakeLauncher()
    assert queue.startup(launcher=launcher, settings=settings) == [orphan.run_id]

    runs = {r.run_id: r for r in the_store.list_runs()}
    assert runs["r-orphan"].status == INTERRUPTED
    assert "app restarted" in runs["r-orphan"].reason
    assert "during epoch 2 of 5 (batch 7 of 40)" in runs["r-orphan"].reason
    assert runs["r-alive"].status == RUNNING  # its detached worker still trains
    assert runs["r-done"].status == COMPLETED and runs["r-done"].summary == done.summary
    assert runs["r-waiting"].status == QUEUED and launcher.started == []  # one slot, taken
    assert queue.queue_positions(list(runs.values())) == {waiting.run_id: 1}
    for run_id, history in before.items():
        assert (the_store.batch_points(run_id), the_store.epoch_points(run_id)) == history
    assert alive.run_id in runs


# ---------------------------------------------------------------- (c) disk full


class _HalfThenFull:
    """A writer that writes half its bytes, then finds the disk full (ENOSPC)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, target: Path, payload: bytes) -> None:
        self.calls += 1
        with open(target, "wb") as handle:
            handle.write(payload[: len(payload) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(target))


class _FullDiskModel:
    """Stands in for a Keras model whose ``save`` runs out of disk space midway."""

    def __init__(self, model) -> None:
        self.model = model

    def save(self, target: Path) -> None:
        with open(target, "wb") as handle:
            handle.write(b"PK\x03\x04" + bytes(4096))
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    def count_params(self) -> int:
        return int(self.model.count_params())


def test_a_full_disk_while_a_model_is_saved_keeps_the_previous_model_and_card(tiny_model, settings):
    entry = registry.save_model(tiny_model, {"name": "Digits v1"}, model_id="digits-1",
                                settings=settings)
    models = get_settings().models_dir
    before = snapshot(models)

    with pytest.raises(DiskFull, match="The disk is full: digits-1.keras could not be saved, "
                                       "so the previous version is kept unchanged"):
        registry.save_model(_FullDiskModel(tiny_model), {"name": "Digits v2"},
                            model_id="digits-1", settings=settings)
    assert snapshot(models) == before and temp_leftovers(models) == []
    assert registry.read_card("digits-1", settings=settings)["name"] == "Digits v1"
    assert get_predictor(entry.path).predict_one(np.zeros((28, 28), np.uint8)).shape == (10,)

    with pytest.raises(DiskFull, match="so nothing was written"):
        registry.save_model(_FullDiskModel(tiny_model), {"name": "Brand new"}, settings=settings)
    assert snapshot(models) == before and temp_leftovers(models) == []


def test_a_full_disk_between_model_and_card_leaves_no_model_without_a_card(tiny_model,
                                                                           monkeypatch, settings):
    from dashcore import artifacts, atomic

    full = _HalfThenFull()  # the model file is written; the card then fills the disk
    monkeypatch.setattr(artifacts, "atomic_write_bytes", lambda path, payload: (
        atomic.atomic_write_with(path, lambda tmp: full(tmp, payload))))
    with pytest.raises(DiskFull, match="The disk is full"):
        registry.save_model(tiny_model, {"name": "No room for the card"}, settings=settings)
    models = get_settings().models_dir
    assert full.calls == 1 and snapshot(models) == {} and temp_leftovers(models) == []
    assert registry.list_models(include_builtin=False, settings=settings) == []


@pytest.mark.slow
def test_a_full_disk_when_a_worker_saves_its_model_fails_the_run_with_a_sentence(monkeypatch,
                                                                                 settings):
    from dashcore import artifacts, atomic

    real_write = atomic.atomic_write_with

    def full_for_models(path: Path, write, suffix: str = "") -> None:
        if Path(path).suffix != ".keras":
            return real_write(path, write, suffix)
        full = _HalfThenFull()
        return real_write(path, lambda tmp: full(tmp, b"PK\x03\x04" + bytes(8192)), suffix)

    monkeypatch.setattr(artifacts, "atomic_write_with", full_for_models)
    monkeypatch.setattr(worker, "configure_process", lambda settings: 1)
    monkeypatch.setattr(local, "spawn_worker", FakeLauncher())
    run = queue.submit(QUICK, name="no room to save", launcher=FakeLauncher(), settings=settings)
    assert worker.run_job(run.run_id, get_settings()) == 0  # the worker itself, in this process

    after = open_store(settings).get_run(run.run_id)
    assert after.status == FAILED
    assert after.reason.startswith("The disk is full: ") and "so nothing was written" \
        in after.reason and "Free some space" in after.reason
    assert open_store(settings).epoch_points(run.run_id)  # the metrics of the epoch are kept
    models = get_settings().models_dir
    assert registry.list_models(include_builtin=False,
                                settings=settings) == [] and temp_leftovers(models) == []


@pytest.mark.parametrize("what", ["dataset upload", "saved drawing"])
def test_a_full_disk_while_other_files_are_saved_keeps_what_was_there(what, monkeypatch):
    settings = get_settings().ensure_dirs()
    if what == "dataset upload":
        uploads.save_uploaded_dataset("first", npz(), settings=settings)
        save = lambda: uploads.save_uploaded_dataset("second", npz(seed=1), settings=settings)  # noqa: E731
        folder = settings.datasets_dir
    else:
        drawings.save_drawing(np.zeros((28, 28), np.uint8), 3, settings=settings)
        save = lambda: drawings.save_drawing(np.ones((28, 28), np.uint8), 4, settings=settings)  # noqa: E731
        folder = settings.drawings_dir
    before = snapshot(folder)
    full = _HalfThenFull()
    with monkeypatch.context() as patched:  # undo only this (DASHCORE_HOME stays set)
        patched.setattr(Path, "write_bytes", lambda self, payload: full(self, payload))
        with pytest.raises(DiskFull, match="The disk is full"):
            save()
    assert full.calls == 1
    assert snapshot(folder) == before and temp_leftovers(folder) == []


# ---------------------------------------------------------------- (d) corrupt model


def test_a_corrupt_model_file_is_flagged_on_its_own_row_and_predicting_gives_a_sentence(
        tiny_model, settings):
    good = registry.save_model(tiny_model, {"name": "Good"}, model_id="good-1", settings=settings)
    bad = registry.save_model(tiny_model, {"name": "Bad"}, model_id="bad-1", settings=settings)
    blob = bad.path.read_bytes()
    bad.path.write_bytes(blob[: len(blob) // 3])  # truncated, as by a crash mid-copy
    registry.card_file("garbled-1", settings=settings).write_text("{not json", "utf-8")
    registry.model_file("garbled-1", settings=settings).write_bytes(blob)

    rows = {e.model_id: e.error or file_problem(e.path)
            for e in registry.list_models(include_builtin=False, settings=settings)}
    assert rows["good-1"] is None
    assert "damaged or truncated" in rows["bad-1"]
    assert "card is damaged" in rows["garbled-1"]

    assert get_predictor(good.path).predict_one(np.zeros((28, 28), np.uint8)).shape == (10,)
    with pytest.raises(UserError, match="bad-1.keras cannot be loaded: it is damaged"):
        get_predictor(bad.path)
    assert registry.default_model_id(settings) in ("good-1", registry.BUILTIN_ID, None)


# ---------------------------------------------------------------- (e) corrupt store


def test_a_corrupt_store_row_is_shown_with_a_sentence_and_the_other_runs_are_fine(monkeypatch,
                                                                                  settings):
    the_store = open_store(settings)
    for run_id in ("r-1", "r-2"):
        the_store.create_run(RunRecord(run_id=run_id, name=run_id, status=COMPLETED,
                                       config=QUICK.to_dict(), summary={"test_accuracy": 0.9}))
        the_store.add_batch_points(run_id, [{"step": s, "epoch": 1, "loss": 0.5}
                                            for s in range(3)])
    conn = sqlite3.connect(get_settings().store_path)
    with conn:
        conn.execute("UPDATE runs SET config = '{\"lear', summary = 'null' "
                     "WHERE run_id = 'r-2'")
        conn.execute("UPDATE batch_points SET data = 'garbage' WHERE run_id = 'r-2' AND step = 1")
    conn.close()

    runs = {r.run_id: r for r in the_store.list_runs()}
    assert runs["r-1"].summary == {"test_accuracy": 0.9} and runs["r-1"].reason is None
    damaged = the_store.get_run("r-2")
    assert damaged.config == {} and damaged.summary == {}
    assert "stored record is damaged (its config and summary could not be read)" \
        in damaged.reason
    assert len(display.history_rows(list(runs.values()))) == 2  # the history table renders
    assert [p["step"] for p in the_store.batch_points("r-2")] == [0, 2]  # the rest is kept

    # A queued run whose settings cannot be read is refused, never trained on defaults.
    the_store.create_run(RunRecord(run_id="r-3", name="r-3", config=QUICK.to_dict()))
    conn = sqlite3.connect(get_settings().store_path)
    with conn:
        conn.execute("UPDATE runs SET config = '[' WHERE run_id = 'r-3'")
    conn.close()
    monkeypatch.setattr(worker, "configure_process", lambda settings: 1)
    monkeypatch.setattr(local, "spawn_worker", FakeLauncher())
    assert worker.run_job("r-3", get_settings()) == 0
    refused = the_store.get_run("r-3")
    assert refused.status == FAILED and "stored training settings are damaged" in refused.reason


def test_a_store_file_that_is_not_a_database_gives_a_sentence_and_is_left_alone(monkeypatch,
                                                                                settings):
    path = get_settings().store_path
    path.parent.mkdir(parents=True, exist_ok=True)
    garbage = b"this was a run store before the disk went bad " * 200
    path.write_bytes(garbage)
    monkeypatch.setattr(factory, "_stores", {})  # a fresh server process
    with pytest.raises(StoreDamaged, match=r"runs.sqlite3 is damaged \(file is not a database\)"
                                           r".*Move the file aside"):
        open_store(settings)
    with pytest.raises(UserError, match="is damaged"):
        queue.dispatch(launcher=FakeLauncher(), settings=settings)  # what every /train poll calls
    assert path.read_bytes() == garbage  # nothing overwritten: it may still be rescued
    path.unlink()  # moved aside: a fresh store opens (and the teardown can check for workers)
    assert open_store(settings).list_runs() == []


# ---------------------------------------------------------------- (f) two people press Train


def test_people_pressing_train_at_the_same_moment_each_get_one_run_and_one_starts(settings):
    launcher = FakeLauncher()
    people = ["ann", "bob", "cy", "dee"]
    barrier = threading.Barrier(len(people))
    made: dict[str, RunRecord] = {}
    errors: list[BaseException] = []

    def press(person: str) -> None:
        try:
            barrier.wait()
            made[person] = queue.submit(QUICK, name=f"{person}'s run", owner=person,
                                       launcher=launcher, settings=get_settings())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=press, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    runs = open_store(settings).list_runs()
    assert sorted(r.owner for r in runs) == people  # each press queued exactly once
    assert len({r.run_id for r in runs}) == len(people)
    assert len(launcher.started) == 1  # concurrent_jobs = 1: only one starts
    started = [r for r in runs if r.status == "starting"]
    assert [r.run_id for r in started] == launcher.started
    positions = queue.queue_positions(runs)
    assert sorted(positions.values()) == [1, 2, 3]
    assert set(positions) == {r.run_id for r in runs} - set(launcher.started)


_DISPATCHER = """
import os, sys, time
from pathlib import Path
from dashcore.jobs import local, queue
from dashcore.settings import get_settings

log, go = Path(sys.argv[1]), Path(sys.argv[2])
parent = int(os.environ["PARENT_PID"])

def launcher(run_id, settings):
    with open(log, "a") as handle:
        handle.write(run_id + "\\n")
    return parent, local.process_identity(parent)

print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
queue.dispatch(get_settings(), launcher=launcher)
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_db(request, monkeypatch):
    """The run store the server processes share: the SQLite file in DASHCORE_HOME (a file
    lock), or a PostgreSQL schema (an advisory lock) when DASHCORE_TEST_PG is set."""
    if request.param == "sqlite":
        yield request.param
        return
    with pg_schema_url() as url:
        monkeypatch.setenv("DASHCORE_DB", url)
        yield request.param
        monkeypatch.delenv("DASHCORE_DB")  # later teardowns look at the default store


def test_server_processes_dispatching_at_once_start_each_run_once_within_the_limit(
        tmp_path, shared_db):
    the_store = open_store(get_settings())
    for i in range(3):
        the_store.create_run(RunRecord(run_id=f"r-{i}", name=f"run {i}",
                                       config=QUICK.to_dict(), created=1000.0 + i))
    log, go = tmp_path / "launched.txt", tmp_path / "go"
    env = {**os.environ, "PARENT_PID": str(os.getpid()), "DASHCORE_CONCURRENT_JOBS": "2",
           "PYTHONPATH": str(REPO_ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _DISPATCHER, str(log), str(go)],
                              env=env, stdout=subprocess.PIPE, cwd=REPO_ROOT)
             for _ in range(4)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == b"ready"
        go.touch()
        assert [proc.wait(timeout=60) for proc in procs] == [0, 0, 0, 0]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    launched = log.read_text().split()
    assert sorted(launched) == ["r-0", "r-1"]  # the two oldest, each exactly once
    statuses = {r.run_id: r.status for r in the_store.list_runs()}
    assert statuses == {"r-0": "starting", "r-1": "starting", "r-2": QUEUED}


# ---------------------------------------------------------------- (g) deleted while predicting


def test_a_model_deleted_while_someone_predicts_finishes_that_prediction_then_says_deleted(
        tiny_model, settings):
    entry = registry.save_model(tiny_model, {"name": "Soon gone"}, model_id="soon-gone-1",
                                settings=settings)
    predictor = get_predictor(entry.path)
    image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    expected = predictor.predict_one(image)
    answers: list[np.ndarray] = []
    errors: list[BaseException] = []
    first_done = threading.Event()

    def someone_drawing() -> None:
        try:
            for _ in range(50):
                answers.append(get_predictor(entry.path).predict_one(image)
                               if not answers else predictor.predict_one(image))
                first_done.set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_done.set()

    thread = threading.Thread(target=someone_drawing)
    thread.start()
    first_done.wait(timeout=60)
    registry.delete_model(entry.model_id,
                          settings=settings)  # someone else presses Delete on /models
    thread.join()
    assert errors == [] and len(answers) == 50  # the in-flight predictions complete
    assert all(np.allclose(a, expected, atol=1e-6) for a in answers)

    with pytest.raises(UserError, match="This model was deleted: its file soon-gone-1.keras "
                                        "no longer exists. Pick another model."):
        get_predictor(entry.path)
    with pytest.raises(NotFoundError, match="may have been deleted"):
        registry.get_entry(entry.model_id, settings=settings)
    assert registry.list_models(include_builtin=False, settings=settings) == []


def test_a_model_deleted_while_it_is_being_loaded_says_deleted(tiny_model, monkeypatch, settings):
    entry = registry.save_model(tiny_model, {"name": "Vanishing"}, model_id="vanishing-1",
                                settings=settings)

    def load_while_deleted(path: Path):
        registry.delete_model(entry.model_id,
                              settings=get_settings())  # Keras then fails to open the file
        raise ValueError(f"File not found: filepath={path}")

    monkeypatch.setattr(registry, "load_keras_model", load_while_deleted)
    with pytest.raises(UserError, match="This model was deleted"):
        get_predictor(entry.path)


def test_one_person_pressing_train_repeatedly_at_once_stays_within_their_queue_limit(
        monkeypatch):
    monkeypatch.setenv("DASHCORE_QUEUED_PER_USER", "2")
    the_store = open_store(get_settings())
    insert = the_store.create_run

    def slow_insert(run: RunRecord) -> RunRecord:  # widen the check-then-insert window
        time.sleep(0.5)
        return insert(run)

    monkeypatch.setattr(the_store, "create_run", slow_insert)
    barrier = threading.Barrier(4)
    refused: list[str] = []

    def press() -> None:
        barrier.wait()
        try:
            queue.submit(QUICK, owner="ann", launcher=FakeLauncher(), settings=get_settings())
        except UserError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=press) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(the_store.list_runs()) == 2
    assert len(refused) == 2 and all("already have 2 runs queued or running" in r
                                     for r in refused)
