"""A team's setup for real: jobs on a Ray head, runs in PostgreSQL, models in S3 (moto).

What a person notices: a run submitted through Ray streams live points, Stop stops it and
keeps its model, which lands in the bucket and answers a drawing; a run goes on when the
web server restarts; two servers never start a run twice; a run asking for more GPUs than
the cluster has says it is waiting for a GPU instead of waiting silently.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from dashcore.jobs import display, queue
from dashcore.settings import get_settings
from dashcore.store import factory
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, QUEUED, RUNNING, STOPPED
from tests.helpers import REPO_ROOT
from tests.helpers.jobs import LONG, QUICK


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 240.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        # what every /train poll does: reconcile with Ray, fill slots
        queue.dispatch(get_settings())
        if condition():
            return
        time.sleep(0.5)
    runs = {r.run_id: (r.status, r.reason) for r in open_store(get_settings()).list_runs()}
    raise AssertionError(f"timed out waiting for {what}; runs: {runs}")


def test_a_run_on_ray_streams_points_into_postgres_stops_and_its_model_answers(team, settings):
    run = queue.submit(LONG, name="on the cluster", settings=settings)
    assert open_store(settings).get_run(run.run_id).backend == "ray"
    store = open_store(settings)
    wait_for(lambda: len(store.batch_points(run.run_id)) >= 3, "live points from the Ray job")
    assert store.get_run(run.run_id).status == RUNNING
    assert queue.job_log(run.run_id,
                         settings=settings).strip()  # the job's log is readable from the server
    queue.stop(run.run_id, settings=settings)
    wait_for(lambda: store.get_run(run.run_id).status == STOPPED, "the run to stop", 120)
    stopped = store.get_run(run.run_id)
    model_id = stopped.summary.get("model_id")
    assert model_id, stopped.reason

    from dashcore.inference.predictor import get_predictor
    from dashcore.models import registry

    entry = registry.get_entry(model_id, settings=settings)
    assert str(entry.location).startswith(team["DASHCORE_ARTIFACTS"])  # in the bucket
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[6:22, 12:16] = 255
    prediction = get_predictor(entry.path).predict_one(digit)
    assert prediction.shape == (10,) and abs(float(prediction.sum()) - 1.0) < 1e-3


def test_a_run_goes_on_when_the_web_server_restarts(team, monkeypatch, settings):
    run = queue.submit(LONG, name="outlives the server", settings=settings)
    store = open_store(settings)
    wait_for(lambda: len(store.batch_points(run.run_id)) >= 1, "the first live point")
    # A fresh server process: no cached store, no Ray client, startup reconciliation again.
    monkeypatch.setattr(factory, "_stores", {})
    monkeypatch.setattr(queue, "_backends", {})
    queue._started_homes.clear()
    assert queue.startup(settings) == []  # nothing marked interrupted: Ray says it is running
    store = open_store(settings)
    before = len(store.batch_points(run.run_id))
    wait_for(lambda: len(store.batch_points(run.run_id)) > before, "more points after restart")
    assert store.get_run(run.run_id).status == RUNNING
    queue.stop(run.run_id, settings=settings)
    wait_for(lambda: not store.get_run(run.run_id).active, "the run to stop", 120)


_DISPATCHER = """
import sys, time
from pathlib import Path
from dashcore.jobs import queue
from dashcore.settings import get_settings
go = Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
print(" ".join(queue.dispatch(get_settings())), flush=True)
"""


def test_two_app_processes_dispatching_at_once_submit_each_run_once(team, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("DASHCORE_CONCURRENT_JOBS", "2")
    monkeypatch.setenv("DASHCORE_MAX_EPOCHS", "500")
    store = open_store(get_settings())
    runs = [queue.submit(LONG, name=f"race {i}", launcher=lambda *a: (None, None),
                         settings=get_settings())
            for i in range(3)]
    # Put them back in the queue: the fake launcher above only filled the store.
    for run in runs:
        store.update_run(run.run_id, status=QUEUED)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _DISPATCHER, str(go)], cwd=REPO_ROOT,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    go.touch()
    started = [proc.communicate(timeout=120)[0].split() for proc in procs]
    assert sorted(sum(started, [])) == sorted(r.run_id for r in runs[:2])  # each once
    client = queue.get_backend("ray", get_settings()).client
    submitted = {job.submission_id for job in client.list_jobs()}
    assert {r.run_id for r in runs[:2]} <= submitted and runs[2].run_id not in submitted
    for run in runs:
        queue.stop(run.run_id, settings=get_settings())


def test_a_run_asking_for_more_gpus_than_the_cluster_has_says_it_waits_for_a_gpu(
        team, monkeypatch):
    monkeypatch.setenv("DASHCORE_RAY_GPUS", "2")  # the test head declares one GPU
    run = queue.submit(QUICK, name="needs two GPUs", settings=get_settings())
    store = open_store(get_settings())
    wait_for(lambda: "Waiting for a GPU" in display.status_line(store.get_run(run.run_id)),
             "the waiting-for-a-GPU sentence", 60)
    assert store.get_run(run.run_id).status == "starting"
    queue.stop(run.run_id, settings=get_settings())
    wait_for(lambda: store.get_run(run.run_id).status == STOPPED, "the cancel", 60)
    assert "nothing was trained" in store.get_run(run.run_id).reason


def test_a_dataset_uploaded_to_the_server_trains_on_the_cluster(team, settings):
    from dashcore.datasets import catalog, uploads
    from tests.helpers.datasets import arrays

    buffer = io.BytesIO()
    np.savez(buffer, **arrays(n_train=120, n_test=30))
    uploads.save_uploaded_dataset("team digits", buffer.getvalue(), settings=settings)
    assert "upload:team digits" in catalog.list_datasets(settings)  # listed from the bucket
    run = queue.submit(replace(QUICK, dataset="upload:team digits"), name="on an upload",
                       settings=settings)
    store = open_store(settings)
    wait_for(lambda: not store.get_run(run.run_id).active, "the run on the upload")
    done = store.get_run(run.run_id)
    assert done.status == COMPLETED, done.reason
    assert done.summary.get("model_id")


pytestmark = pytest.mark.timeout(600)
