"""Warm spare workers on a Ray host: a run's job hands it to a spare on the host it lands on.

What a person notices: with no spare on the host the run still completes, its worker
started cold and saying so, and a spare is left warm there; the next run is trained by
that spare; Stop stops a run on a spare, and so does Ray ending its job, and the spare
that trained it is gone. Here the Ray head is this box, so the job's host is this host.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from dashcore.jobs import queue, spares
from dashcore.jobs.local import process_identity
from dashcore.settings import Settings, get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, INTERRUPTED, RUNNING, STOPPED
from tests.helpers.jobs import LONG, QUICK, finished, wait_for

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def ray_host(team, monkeypatch) -> Settings:
    """The team setup with one warm spare kept on each Ray host; every spare and worker
    left on this host at the end is killed."""
    monkeypatch.setenv("DASHCORE_SPARES", "1")
    monkeypatch.setenv("DASHCORE_SPARE_IDLE_MINUTES", "5")  # a leftover retires by itself
    settings = get_settings()
    yield settings
    for run in open_store(settings).list_runs(("starting", RUNNING)):
        if run.pid and run.pid != os.getpid() and process_identity(run.pid) is not None:
            os.kill(run.pid, signal.SIGKILL)
    time.sleep(1.0)  # a minder may just be starting a replacement
    for spare in spares.list_spares(settings):
        os.kill(spare.pid, signal.SIGKILL)


def _done(run_id: str, settings: Settings, what: str):
    wait_for(finished(run_id), what, timeout=400)
    return open_store(settings).get_run(run_id)


def _warm_spare_on_the_host(settings: Settings) -> spares.Spare:
    """A first run trains cold; its job leaves a spare on the host: wait until it is warm."""
    first = queue.submit(QUICK, name="warms the host", settings=settings)
    assert _done(first.run_id, settings, "the cold run").status == COMPLETED
    wait_for(lambda: any(s.ready for s in spares.list_spares(settings)),
             "a warm spare on the Ray host", timeout=400)
    return next(s for s in spares.list_spares(settings) if s.ready)


def _training(run_id: str, settings: Settings) -> None:
    def check() -> bool:
        queue.dispatch(settings)
        run = open_store(settings).get_run(run_id)
        assert run.active, f"ended as {run.status}: {run.reason}"
        return len(open_store(settings).batch_points(run_id)) >= 2
    wait_for(check, "the first batch points", timeout=400)


def test_with_no_spare_on_its_host_a_ray_run_starts_its_worker_cold_says_so_and_warms_one(
        ray_host):
    run = queue.submit(QUICK, name="cold on Ray", settings=ray_host)
    done = _done(run.run_id, ray_host, "the cold run")
    assert done.status == COMPLETED, done.reason
    assert done.summary["worker"] == "cold" and done.summary.get("model_id")
    log = queue.job_log(run.run_id, settings=ray_host, lines=400)
    assert "No warm worker was ready on" in log  # the job's log says how it started
    # The job left a replacement spare on its host, started once the run had trained.
    wait_for(lambda: spares.list_spares(ray_host), "a spare on the Ray host", timeout=120)


def test_a_ray_run_is_trained_by_the_warm_spare_on_its_host(ray_host):
    spare = _warm_spare_on_the_host(ray_host)
    began = time.monotonic()
    run = queue.submit(QUICK, name="warm on Ray", settings=ray_host)
    store = open_store(ray_host)
    wait_for(lambda: bool(store.batch_points(run.run_id)) or not store.get_run(run.run_id).active,
             "the first live point", timeout=400)
    first_point = time.monotonic() - began
    done = _done(run.run_id, ray_host, "the run on the spare")
    print(f"submit → first live point on a spare via Ray: {first_point:.1f} s (load "
          f"{os.getloadavg()[0]:.1f}); phases {done.summary.get('phases')}")
    assert done.status == COMPLETED, done.reason
    assert done.pid == spare.pid and done.summary["worker"] == "spare"
    assert done.summary.get("model_id") and done.summary.get("test_accuracy") is not None
    log = queue.job_log(run.run_id, settings=ray_host, lines=400)
    assert f"handed to warm worker {spare.pid}" in log
    assert f"warm spare {spare.pid} took run {run.run_id}" in log  # the spare's own output
    # One run per process, as on one box: the spare exits once it has recorded the run.
    wait_for(lambda: process_identity(spare.pid) is None, "the used spare to exit", timeout=60)


def test_stop_stops_a_ray_run_on_a_spare_and_the_spare_is_gone(ray_host):
    spare = _warm_spare_on_the_host(ray_host)
    run = queue.submit(LONG, name="stop on Ray", settings=ray_host)
    _training(run.run_id, ray_host)
    assert open_store(ray_host).get_run(run.run_id).pid == spare.pid
    queue.stop(run.run_id, settings=ray_host)
    done = _done(run.run_id, ray_host, "the stopped run")
    assert done.status == STOPPED, done.reason
    assert done.summary["worker"] == "spare" and done.summary.get("model_id")
    wait_for(lambda: process_identity(spare.pid) is None, "the spare to exit", timeout=60)


def test_ray_ending_the_job_of_a_run_on_a_spare_ends_its_training(ray_host):
    spare = _warm_spare_on_the_host(ray_host)
    run = queue.submit(LONG, name="job stopped on Ray", settings=ray_host)
    _training(run.run_id, ray_host)
    # What the app does when Stop went unheeded: Ray SIGTERMs the job, SIGKILLs it later.
    queue.get_backend("ray", ray_host).cancel(open_store(ray_host).get_run(run.run_id),
                                              ray_host)
    wait_for(lambda: process_identity(spare.pid) is None, "the spare to end", timeout=60)
    done = _done(run.run_id, ray_host, "the run to end")
    assert done.status in (INTERRUPTED, FAILED), done.reason
    points = len(open_store(ray_host).batch_points(run.run_id))
    time.sleep(2)
    assert len(open_store(ray_host).batch_points(run.run_id)) == points  # no more training
