"""Warm spare workers and the phases a run goes through.

First the phase clock and the page sentences (no processes), then the hand-over protocol
with a stand-in spare (a tiny process reading its FIFO, no TensorFlow), then real spares:
a run on a spare, isolation between runs, Stop, kill, restart recovery and the time limit
on spares, and a burst of more runs than spares.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dashcore.jobs import display, queue, spares
from dashcore.jobs.local import process_identity
from dashcore.models.registry import read_card
from dashcore.settings import Settings, get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, INTERRUPTED, RUNNING, STOPPED, RunRecord
from dashcore.training.phases import PhaseClock, PhaseSink, describe_phases
from dashcore.training.sinks import NullSink
from tests.helpers.jobs import LONG, QUICK, finished, wait_for

pytestmark = pytest.mark.usefixtures("no_stray_workers")

PHASES = ["waiting for a worker", "loading data", "compiling", "training", "testing"]


# ---------------------------------------------------------------- phases (no processes)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_phase_clock_times_each_phase_and_counts_the_current_one_up_to_now():
    clock, seen = Clock(), []
    phases = PhaseClock(on_change=seen.append, clock=clock)
    phases.enter("waiting for a worker", at=99.0)
    clock.now = 100.5
    phases.enter("loading data")
    clock.now = 101.0
    assert phases.summary() == [{"phase": "waiting for a worker", "s": 1.5, "done": True},
                                {"phase": "loading data", "s": 0.5, "done": False}]
    assert describe_phases(phases.summary()) == ("waiting for a worker 1.5 s · "
                                                 "loading data 0.5 s…")
    phases.end()
    clock.now = 200.0
    assert phases.summary()[-1] == {"phase": "loading data", "s": 0.5, "done": True}
    assert [row[-1]["phase"] for row in seen] == ["waiting for a worker", "loading data"]


def test_the_first_live_point_ends_compiling_and_every_progress_carries_the_phases():
    clock, got = Clock(), []

    class Keep(NullSink):
        def batches(self, points, progress):
            got.append(progress)

    phases = PhaseClock(clock=clock)
    phases.enter("compiling")
    clock.now = 102.0
    sink = PhaseSink(Keep(), phases)
    sink.batches([{"step": 0}], {"epoch": 1})
    clock.now = 103.0
    sink.batches([{"step": 5}], {"epoch": 1})
    assert [p["phase"] for p in got[0]["phases"]] == ["compiling", "training"]
    assert got[0]["phases"][0]["s"] == 2.0 and got[1]["phases"][1]["s"] == 1.0
    assert got[1]["epoch"] == 1


def test_a_starting_run_says_whether_a_warm_worker_took_it_or_how_long_a_cold_one_takes():
    import keras  # first: importing it takes seconds, and the wait below is timed from now

    loaded = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}[
        keras.backend.backend()]
    run = RunRecord(run_id="r-1", name="n", status="starting",
                    progress={"dispatched": time.time() - 2, "worker": "cold",
                              "expected_s": 7.2})
    assert display.status_line(run).startswith("Starting a worker: ~7 s. No warm worker")
    # It names what the cold worker loads: this process's backend, not always TensorFlow.
    assert display.status_line(run).endswith(f"loads Keras and {loaded} first.")
    assert display.phases_line(run).startswith("waiting for a worker 2.")
    warm = RunRecord(run_id="r-2", name="n", status="starting", progress={"worker": "spare"})
    assert display.status_line(warm) == "Starting: a warm worker is taking the run."
    compiling = RunRecord(run_id="r-3", name="n", status=RUNNING,
                          progress={"phases": [{"phase": "compiling", "s": 0.4}]})
    assert "compiling the model" in display.status_line(compiling)


def test_the_cold_start_estimate_is_the_median_of_recent_cold_waits():
    def run(i: int, worker: str, wait: float) -> RunRecord:
        return RunRecord(run_id=f"r-{i}", name="n", created=float(i), summary={
            "worker": worker, "phases": [{"phase": "waiting for a worker", "s": wait}]})

    assert spares.cold_start_estimate([]) is None
    runs = [run(1, "cold", 30.0), run(2, "cold", 6.0), run(3, "spare", 0.1),
            run(4, "cold", 5.0), run(5, "cold", 7.0)]
    assert spares.cold_start_estimate(runs) == 7.0  # of 30, 6, 5, 7; the spare's not counted


def test_visitors_and_read_only_users_start_no_spares(monkeypatch):
    from dashcore.access.auth import User

    monkeypatch.setenv("DASHCORE_SPARES", "1")
    settings = get_settings()
    assert spares.keep_ready_for(User(name=None, read_only=True), settings) == 0  # a visitor
    assert spares.keep_ready_for(User(name=None, read_only=True, demo=True), settings) == 0
    assert spares.list_spares(settings) == []


def test_a_ray_backend_starts_no_local_spares(monkeypatch):
    monkeypatch.setenv("DASHCORE_SPARES", "1")
    monkeypatch.setenv("DASHCORE_BACKEND", "ray")
    settings = get_settings()
    assert spares.top_up(settings) == 0 and spares.list_spares(settings) == []


def test_spares_are_capped_by_the_jobs_that_can_run_at_once(monkeypatch):
    monkeypatch.setenv("DASHCORE_SPARES", "4")
    monkeypatch.setenv("DASHCORE_CONCURRENT_JOBS", "2")
    assert spares.wanted(get_settings()) == 2
    monkeypatch.setenv("DASHCORE_SPARES", "0")
    assert spares.wanted(get_settings()) == 0


# ---------------------------------------------------------------- hand-over (stand-in spare)

STAND_IN = """
import os, sys
fifo, out = sys.argv[1], sys.argv[2]
tmp = fifo + ".making"
os.mkfifo(tmp)
fd = os.open(tmp, os.O_RDWR)
os.rename(tmp, fifo)
message = os.read(fd, 4096).decode()
open(out, "w").write(message)
"""


def _ready_stand_in(settings: Settings, tmp_path: Path, stamp: str) -> tuple[subprocess.Popen,
                                                                          Path]:
    folder = settings.spares_dir
    folder.mkdir(parents=True, exist_ok=True)
    out = tmp_path / f"message-{time.time_ns()}.txt"
    fifo_dir = tmp_path / f"fifo-{time.time_ns()}"
    fifo_dir.mkdir()
    # The FIFO is made under a neutral name and moved into the spare folder once its pid
    # is known, the way a real spare renames its FIFO into place when warm.
    script = STAND_IN.replace("os.rename(tmp, fifo)", "")
    proc = subprocess.Popen([sys.executable, "-c", script, str(fifo_dir / "f"), str(out)])
    wait_for(lambda: (fifo_dir / "f.making").exists(), "the stand-in's FIFO", timeout=30)
    os.rename(fifo_dir / "f.making", spares.ready_path(settings, proc.pid))
    spares.record_path(settings, proc.pid).write_text(json.dumps({
        "pid": proc.pid, "identity": process_identity(proc.pid), "started": time.time(),
        "fingerprint": stamp, "log": ""}))
    return proc, out


def test_a_run_is_handed_to_a_ready_spare_exactly_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHCORE_SPARES", "1")
    settings = get_settings()
    proc, out = _ready_stand_in(settings, tmp_path, spares.fingerprint(settings))
    assert spares.list_spares(settings)[0].ready
    assert spares.claim("r-first", settings) == (proc.pid, process_identity(proc.pid))
    assert spares.claim("r-second", settings) is None  # taken: the next run goes cold
    proc.wait(timeout=30)
    assert out.read_text() == "run r-first\n"
    assert spares.list_spares(settings) == []  # a run's worker now, no longer a spare


def test_a_spare_started_with_other_settings_or_code_is_told_to_exit(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHCORE_SPARES", "1")
    settings = get_settings()
    proc, out = _ready_stand_in(settings, tmp_path, "another-fingerprint")
    assert spares.claim("r-1", settings) is None
    proc.wait(timeout=30)
    assert out.read_text() == "exit\n"


def test_a_dead_spares_files_are_cleared_and_it_is_not_counted(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHCORE_SPARES", "1")
    settings = get_settings()
    proc, _ = _ready_stand_in(settings, tmp_path, spares.fingerprint(settings))
    proc.kill()
    proc.wait()
    assert spares.list_spares(settings) == []
    assert not spares.ready_path(settings, proc.pid).exists()
    assert spares.claim("r-1", settings) is None


# ---------------------------------------------------------------- real spares


@pytest.fixture
def with_spares(monkeypatch):
    """One warm spare kept ready; every spare and worker left at the end is killed."""
    monkeypatch.setenv("DASHCORE_SPARES", "1")
    settings = get_settings()
    yield settings
    for run in open_store(settings).list_runs(("starting", RUNNING)):
        if run.pid and run.pid != os.getpid() and process_identity(run.pid) is not None:
            os.kill(run.pid, signal.SIGKILL)
    time.sleep(0.5)  # a worker's replacement spare may just be starting
    for spare in spares.list_spares(settings):
        os.kill(spare.pid, signal.SIGKILL)


def _ready_spare(settings: Settings) -> spares.Spare:
    """Start a spare and wait until it is warm."""
    spares.top_up(settings)
    wait_for(lambda: any(s.ready for s in spares.list_spares(settings)), "a warm spare")
    return next(s for s in spares.list_spares(settings) if s.ready)


def _training(run_id: str) -> None:
    def check() -> bool:
        run = open_store(get_settings()).get_run(run_id)
        assert run.active, f"ended as {run.status}: {run.reason}"
        return len(open_store(get_settings()).batch_points(run_id)) >= 2
    wait_for(check, "the first batch points")


@pytest.mark.slow
def test_a_run_on_a_spare_trains_keeps_its_phases_and_the_next_run_gets_a_new_process(
        with_spares, settings):
    spare = _ready_spare(with_spares)
    first = queue.submit(QUICK, name="on a spare", settings=settings)
    assert first.progress["worker"] == "spare"
    wait_for(finished(first.run_id), "the first run")
    first = open_store(settings).get_run(first.run_id)
    assert first.status == COMPLETED, first.reason
    assert first.pid == spare.pid and first.summary["worker"] == "spare"
    assert [row["phase"] for row in first.summary["phases"]] == PHASES
    card = read_card(first.summary["model_id"], settings=settings)
    assert [row["phase"] for row in card["phases"]] == PHASES and card["worker"] == "spare"
    log = (with_spares.runs_dir / first.run_id / "worker.log").read_text()
    assert f"warm spare {spare.pid} took run {first.run_id}" in log
    # One run per process: the spare that trained it has exited; its replacement (started
    # when the run's first point came) is another, fresh process that takes the next run.
    wait_for(lambda: process_identity(spare.pid) is None, "the used spare to exit")
    replacement = _ready_spare(with_spares)
    assert replacement.pid != spare.pid
    second = queue.submit(QUICK, name="next", settings=settings)
    wait_for(finished(second.run_id), "the second run")
    second = open_store(settings).get_run(second.run_id)
    assert second.status == COMPLETED and second.pid == replacement.pid


def test_a_warm_up_leaves_keras_settings_and_threads_as_a_fresh_process_has_them():
    import keras

    from dashcore.jobs.spare import warm_up

    settings = get_settings()
    before = (keras.config.floatx(), keras.config.epsilon(), keras.config.image_data_format(),
              keras.config.dtype_policy().name)
    threads_before = {t.ident for t in threading.enumerate()}
    warm_up(settings)
    after = (keras.config.floatx(), keras.config.epsilon(), keras.config.image_data_format(),
             keras.config.dtype_policy().name)
    assert after == before == ("float32", 1e-07, "channels_last", "float32")
    assert {t.ident for t in threading.enumerate() if t.is_alive()} <= threads_before
    assert not list(settings.models_dir.glob("*.keras"))  # nothing registered


def test_between_two_trials_in_one_worker_keras_is_put_back_as_a_fresh_process_has_it():
    import keras

    from dashcore.jobs.worker import fresh_keras, keras_globals

    defaults = keras_globals()
    assert defaults == {"floatx": "float32", "epsilon": 1e-07,
                        "image_data_format": "channels_last", "dtype_policy": "float32"}
    keras.layers.Dense(2)  # a name taken, as a previous run's model takes them
    try:  # what a previous run might leave changed
        keras.config.set_floatx("float16")
        keras.config.set_epsilon(1e-3)
        keras.config.set_image_data_format("channels_first")
        keras.config.set_dtype_policy("mixed_float16")
    finally:
        fresh_keras(defaults)
    assert keras_globals() == defaults
    assert keras.layers.Dense(2).name == "dense"  # a cleared session: names start again


@pytest.mark.slow
def test_stop_halts_a_run_on_a_spare_and_keeps_the_model_so_far(with_spares, settings):
    _ready_spare(with_spares)
    run = queue.submit(LONG, name="to stop", settings=settings)
    _training(run.run_id)
    queue.stop(run.run_id, settings=settings)
    wait_for(finished(run.run_id), "the stopped run")
    run = open_store(settings).get_run(run.run_id)
    assert run.status == STOPPED and run.reason.startswith("Stopped on request")
    assert run.summary["worker"] == "spare"
    assert read_card(run.summary["model_id"], settings=settings)["status"] == STOPPED


@pytest.mark.slow
def test_a_killed_spare_worker_fails_its_run_saying_so(with_spares, settings):
    _ready_spare(with_spares)
    run = queue.submit(LONG, name="killed", settings=settings)
    _training(run.run_id)
    os.kill(open_store(settings).get_run(run.run_id).pid, signal.SIGKILL)
    wait_for(finished(run.run_id), "the killed worker to be noticed")
    run = open_store(settings).get_run(run.run_id)
    assert run.status == FAILED and "killed (SIGKILL) during epoch" in run.reason


@pytest.mark.slow
def test_a_run_on_a_spare_survives_a_server_restart_and_is_interrupted_once_it_is_gone(
        with_spares, settings):
    _ready_spare(with_spares)
    run = queue.submit(LONG, name="outlives the server", settings=settings)
    _training(run.run_id)
    assert queue.reconcile(on_start=True,
                           settings=settings) == []  # the restarted server keeps it running
    assert open_store(settings).get_run(run.run_id).status == RUNNING
    os.kill(open_store(settings).get_run(run.run_id).pid, signal.SIGKILL)
    wait_for(lambda: process_identity(run.pid or 0) is None, "the worker to die")
    assert queue.reconcile(on_start=True, settings=settings) == [run.run_id]
    assert open_store(settings).get_run(run.run_id).status == INTERRUPTED


@pytest.mark.slow
def test_the_job_time_limit_stops_a_run_on_a_spare(with_spares, monkeypatch):
    monkeypatch.setenv("DASHCORE_JOB_MAX_MINUTES", "0.05")  # 3 s of training
    settings = get_settings()
    _ready_spare(settings)
    run = queue.submit(LONG, name="over time", settings=settings)
    wait_for(finished(run.run_id), "the run to reach its time limit")
    run = open_store(get_settings()).get_run(run.run_id)
    assert run.status == STOPPED and "job time limit of 3 seconds" in run.reason
    assert run.summary["worker"] == "spare"


@pytest.mark.slow
def test_a_burst_of_more_runs_than_spares_queues_and_starts_them_all(with_spares, monkeypatch):
    monkeypatch.setenv("DASHCORE_CONCURRENT_JOBS", "2")
    settings = get_settings()
    _ready_spare(settings)
    runs = [queue.submit(QUICK, name=f"burst {i}", settings=settings) for i in range(3)]
    assert runs[0].progress["worker"] == "spare"
    assert display.status_line(runs[1]).startswith("Starting a worker")  # said so
    assert runs[2].status == "queued"
    for run in runs:
        wait_for(finished(run.run_id), f"{run.name} to finish")
    done = [open_store(get_settings()).get_run(run.run_id) for run in runs]
    assert [run.status for run in done] == [COMPLETED] * 3, [run.reason for run in done]
    assert done[0].summary["worker"] == "spare" and done[1].summary["worker"] == "cold"


def test_a_model_card_says_where_its_runs_time_went_and_an_older_card_says_nothing():
    from dashcore.models.cards import ModelCard

    card = ModelCard.from_dict({"name": "m", "worker": "spare", "phases": [
        {"phase": "waiting for a worker", "s": 0.04, "done": True},
        {"phase": "compiling", "s": 1.2, "done": True}]})
    assert card.phases_line() == ("waiting for a worker 0.0 s · compiling 1.2 s "
                                  "(a warm worker)")
    assert ModelCard.from_dict({"name": "old"}).phases_line() == "—"
    assert ModelCard.from_dict({"phases": "garbage"}).phases_line() == "—"
