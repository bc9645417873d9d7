"""Jobs: the queue with a fake launcher (no processes), then real detached workers:
one that completes, one that is stopped, and a restart (a SIGKILLed worker: test_faults.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from dashcore.errors import UserError
from dashcore.jobs import display, local, queue
from dashcore.models.registry import read_card
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, INTERRUPTED, QUEUED, RUNNING, STOPPED, RunRecord
from dashcore.training.config import TrainConfig
from tests.helpers.jobs import LONG, QUICK, FakeLauncher, dead_pid, finished, wait_for

pytestmark = pytest.mark.usefixtures("no_stray_workers")  # kill what a failed test leaves running


def test_one_job_runs_at_a_time_and_the_rest_wait_in_order(settings):
    launcher = FakeLauncher()
    first = queue.submit(QUICK, name="first", launcher=launcher, settings=settings)
    second = queue.submit(QUICK, name="second", launcher=launcher, settings=settings)
    third = queue.submit(QUICK, name="third", launcher=launcher, settings=settings)
    assert first.status == "starting" and launcher.started == [first.run_id]
    assert (second.status, third.status) == (QUEUED, QUEUED)
    runs = open_store(settings).list_runs()
    assert queue.queue_positions(runs) == {second.run_id: 1, third.run_id: 2}

    open_store(settings).update_run(first.run_id, status=COMPLETED)
    assert queue.dispatch(launcher=launcher, settings=settings) == [second.run_id]
    assert launcher.started == [first.run_id, second.run_id]


def test_the_concurrency_setting_allows_more_jobs_at_once(monkeypatch):
    monkeypatch.setenv("DASHCORE_CONCURRENT_JOBS", "2")
    launcher = FakeLauncher()
    runs = [queue.submit(QUICK, launcher=launcher, settings=get_settings()) for _ in range(3)]
    assert launcher.started == [runs[0].run_id, runs[1].run_id]


def test_a_queued_run_stops_at_once_and_a_final_one_cannot_be_stopped(settings):
    launcher = FakeLauncher()
    queue.submit(QUICK, launcher=launcher, settings=settings)
    queued = queue.submit(QUICK, launcher=launcher, settings=settings)
    stopped = queue.stop(queued.run_id, settings=settings)
    assert stopped.status == STOPPED and "before it started" in stopped.reason
    with pytest.raises(UserError, match="already stopped"):
        queue.stop(queued.run_id, settings=settings)


def test_stopping_a_working_run_raises_its_flag(settings):
    running = queue.submit(QUICK, launcher=FakeLauncher(), settings=settings)
    assert queue.stop(running.run_id, settings=settings).stop_requested


def test_a_user_cannot_queue_more_than_the_limit(monkeypatch):
    monkeypatch.setenv("DASHCORE_QUEUED_PER_USER", "2")
    launcher = FakeLauncher()
    queue.submit(QUICK, owner="ann", launcher=launcher, settings=get_settings())
    queue.submit(QUICK, owner="ann", launcher=launcher, settings=get_settings())
    with pytest.raises(UserError, match="already have 2 runs queued or running"):
        queue.submit(QUICK, owner="ann", launcher=launcher, settings=get_settings())
    queue.submit(QUICK, owner="bob", launcher=launcher,
                 settings=get_settings())  # others are not blocked


def test_an_invalid_config_is_refused_and_nothing_is_queued(settings):
    with pytest.raises(UserError, match="Batch size 0"):
        queue.submit(TrainConfig(batch_size=0), launcher=FakeLauncher(), settings=settings)
    assert open_store(settings).list_runs() == []


def _running_run(pid: int, progress: dict | None = None) -> RunRecord:
    store = open_store(get_settings())
    run = store.create_run(RunRecord(run_id=f"r-{pid}", name="orphan", status=RUNNING,
                                     config=QUICK.to_dict(), pid=pid, started=time.time(),
                                     pid_created=local.process_identity(pid)))
    store.update_run(run.run_id, progress=progress or {})
    return run


def test_a_run_whose_worker_vanished_is_failed_with_where_it_was(settings):
    run = _running_run(dead_pid(), {"epoch": 2, "epochs": 5, "batch": 130, "steps": 422})
    queue.dispatch(launcher=FakeLauncher(), settings=settings)
    after = open_store(settings).get_run(run.run_id)
    assert after.status == FAILED
    assert "ended without reporting a result during epoch 2 of 5 (batch 130 of 422)" \
        in after.reason
    assert "metrics so far are kept" in after.reason


def test_after_a_restart_runs_without_a_worker_are_interrupted_and_live_ones_kept(settings):
    gone = _running_run(dead_pid())
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = _running_run(sleeper.pid)
        assert queue.startup(launcher=FakeLauncher(), settings=settings) == [gone.run_id]
        store = open_store(settings)
        assert store.get_run(gone.run_id).status == INTERRUPTED
        assert "app restarted" in store.get_run(gone.run_id).reason
        assert store.get_run(alive.run_id).status == RUNNING  # its worker still trains
        assert queue.startup(settings) == []  # only once per process
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_recycled_pid_is_not_taken_for_the_worker(settings):
    store = open_store(settings)
    run = store.create_run(RunRecord(run_id="recycled", name="x", status=RUNNING,
                                     config=QUICK.to_dict(), pid=os.getpid(),
                                     pid_created=local.process_identity(os.getpid()) - 1))
    assert not local.worker_alive(run)[0]


def test_the_page_texts_say_where_a_run_is():
    run = RunRecord(run_id="q", name="q", status=QUEUED)
    assert display.status_line(run, 2) == ("Queued: position 2 in the queue. It starts when a "
                                        "running job finishes.")
    fraction, caption = display.progress_caption(
        {"epoch": 2, "epochs": 5, "batch": 130, "steps": 422, "samples_per_s": 1850.4,
         "eta_s": 75, "fraction": 0.5})
    assert fraction == 0.5
    assert caption == "epoch 2/5 · batch 130/422 · 1,850 samples/s · ETA 1 min 15 s"


# ---------------------------------------------------------------- real worker processes


@pytest.mark.slow
def test_a_real_worker_trains_a_tiny_job_to_a_registered_model(settings):
    run = queue.submit(QUICK, name="real tiny", settings=settings)
    wait_for(finished(run.run_id), "the tiny job to finish")
    run = open_store(settings).get_run(run.run_id)
    assert run.status == COMPLETED, run.reason
    assert open_store(settings).batch_points(run.run_id) and open_store(settings).epoch_points(
        run.run_id)
    card = read_card(run.summary["model_id"], settings=settings)
    assert card["run_id"] == run.run_id and card["name"] == "real tiny"
    assert (get_settings().models_dir / f"{run.summary['model_id']}.keras").is_file()
    assert run.progress["phase"] == "finished" and run.started and run.finished


def _wait_until_training(run_id: str) -> None:
    """Wait for two batch points; a worker that ended first fails at once, saying why."""
    def training() -> bool:
        run = open_store(get_settings()).get_run(run_id)
        if not run.active:
            log = get_settings().runs_dir / run_id / "worker.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
            raise AssertionError(f"run ended as {run.status} ({run.reason}) before training "
                                 f"was seen; worker log:\n{tail}")
        return len(open_store(get_settings()).batch_points(run_id)) >= 2

    wait_for(training, "the first batch points")


@pytest.mark.slow
def test_stop_halts_a_real_worker_and_keeps_the_model_so_far(settings):
    run = queue.submit(LONG, name="to stop", settings=settings)
    _wait_until_training(run.run_id)
    queue.stop(run.run_id, settings=settings)
    wait_for(finished(run.run_id), "the stopped job to wind up")
    run = open_store(settings).get_run(run.run_id)
    assert run.status == STOPPED and run.reason.startswith("Stopped on request")
    assert read_card(run.summary["model_id"], settings=settings)["status"] == STOPPED
    assert run.progress["epoch"] < LONG.epochs
