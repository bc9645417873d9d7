"""The Ray job backend's logic with a hand-written fake of Ray's Jobs API client (no Ray):
what is submitted, what a person sees while a job waits for a GPU, how Stop escalates, how
a job's end is reconciled, and a cluster that does not answer."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, replace

import pytest

from dashcore.errors import UserError
from dashcore.jobs import display, queue, ray_jobs
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import FAILED, QUEUED, RUNNING, STARTING, STOPPED, RunRecord
from dashcore.training.config import TrainConfig
from tests.helpers.jobs import QUICK, dead_pid

ADDRESS = "http://ray-head.test:8265"


@dataclass
class JobInfo:
    status: str
    message: str = ""
    driver_exit_code: int | None = None


class FakeJobsClient:
    """Ray's JobSubmissionClient as far as the backend uses it."""

    def __init__(self) -> None:
        self.submitted: dict[str, dict] = {}
        self.status: dict[str, JobInfo] = {}
        self.stopped: list[str] = []
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("Connection refused")

    def submit_job(self, **kwargs) -> str:
        self._check()
        self.submitted[kwargs["submission_id"]] = kwargs
        self.status[kwargs["submission_id"]] = JobInfo("PENDING")
        return kwargs["submission_id"]

    def get_job_info(self, job_id: str) -> JobInfo:
        self._check()
        return self.status[job_id]

    def stop_job(self, job_id: str) -> bool:
        self._check()
        self.stopped.append(job_id)
        return True

    def get_job_logs(self, job_id: str) -> str:
        self._check()
        return "loading data\nepoch 1/1\n"


@pytest.fixture
def ray(monkeypatch) -> FakeJobsClient:
    monkeypatch.setenv("DASHCORE_BACKEND", "ray")
    monkeypatch.setenv("DASHCORE_RAY_ADDRESS", ADDRESS)
    monkeypatch.setenv("DASHCORE_STOP_GRACE_S", "30")
    client = FakeJobsClient()
    # The backend makes its client through this (and again after a failed call).
    monkeypatch.setattr(ray_jobs, "_client_class", lambda: lambda address: client)
    monkeypatch.setattr(queue, "_backends", {})
    return client


def test_a_run_is_submitted_as_one_ray_job_named_by_its_run_id_with_the_settings(
        ray, settings, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # the server's backend goes with the job
    run = queue.submit(replace(QUICK, gpus=1), name="on the cluster", settings=settings)
    job = ray.submitted[run.run_id]
    assert job["entrypoint"] == f"python -m dashcore.jobs.ray_entry {run.run_id}"
    assert job["entrypoint_num_gpus"] == 1 and job["entrypoint_num_cpus"] == 1
    env = job["runtime_env"]["env_vars"]
    assert env["DASHCORE_HOME"] == str(get_settings().home) and env["DASHCORE_BACKEND"] == "ray"
    assert env["KERAS_BACKEND"] == "jax"
    stored = open_store(settings).get_run(run.run_id)
    assert (stored.status, stored.backend) == (STARTING, "ray")


def test_a_job_held_back_for_a_gpu_says_so_and_stop_cancels_it(ray, settings):
    run = queue.submit(replace(QUICK, gpus=2), name="needs GPUs", settings=settings)
    queue.dispatch(settings)  # the page's poll: Ray says PENDING
    line = display.status_line(open_store(settings).get_run(run.run_id))
    assert line.startswith("Waiting for a GPU: the job asks the Ray cluster for 2 GPU(s)")
    queue.stop(run.run_id, settings=settings)
    queue.dispatch(settings)
    stopped = open_store(settings).get_run(run.run_id)
    assert stopped.status == STOPPED and "nothing was trained" in stopped.reason
    assert ray.stopped == [run.run_id]


def test_stop_asks_ray_to_end_the_job_only_after_the_grace_period(ray, settings):
    run = queue.submit(QUICK, name="stuck", settings=settings)
    ray.status[run.run_id] = JobInfo("RUNNING")
    open_store(settings).update_run(run.run_id, status=RUNNING)
    queue.stop(run.run_id, settings=settings)
    queue.dispatch(settings)
    assert ray.stopped == []  # the worker gets its chance to stop and save the model
    open_store(settings).update_run(run.run_id, stop_requested_at=time.time() - 31)
    queue.dispatch(settings)
    assert ray.stopped == [run.run_id]
    ray.status[run.run_id] = JobInfo("STOPPED", "Job was intentionally stopped.")
    queue.dispatch(settings)
    ended = open_store(settings).get_run(run.run_id)
    assert ended.status == STOPPED and "so Ray ended it" in ended.reason


def test_a_job_that_failed_on_the_cluster_is_failed_with_rays_message_and_the_log_shows(ray,
                                                                                        settings):
    run = queue.submit(QUICK, name="crashes", settings=settings)
    ray.status[run.run_id] = JobInfo("FAILED", "Job entrypoint command failed with exit code 1")
    queue.dispatch(settings)
    failed = open_store(settings).get_run(run.run_id)
    assert failed.status == FAILED and "exit code 1" in failed.reason
    assert "epoch 1/1" in queue.job_log(run.run_id, settings=settings)


def test_a_running_job_is_not_interrupted_when_the_app_restarts(ray, monkeypatch, settings):
    run = queue.submit(QUICK, name="outlives the app", settings=settings)
    ray.status[run.run_id] = JobInfo("RUNNING")
    monkeypatch.setattr(queue, "_started_homes", set())
    assert queue.startup(settings) == []
    assert open_store(settings).get_run(run.run_id).status == STARTING


def test_a_cluster_that_does_not_answer_keeps_the_run_queued_with_a_sentence(ray, settings):
    ray.down = True
    run = queue.submit(QUICK, name="cluster down", settings=settings)
    stored = open_store(settings).get_run(run.run_id)
    assert stored.status == QUEUED
    assert display.status_line(stored, 1).startswith(
        f"Queued: position 1 in the queue. The Ray cluster at {ADDRESS} did not answer")
    ray.down = False
    assert queue.dispatch(settings) == [run.run_id]  # sent once it answers


def test_gpus_per_run_are_checked_like_any_other_setting():
    assert TrainConfig(gpus=None).validate() == [] and TrainConfig(gpus=2).validate() == []
    assert any("GPUs 9 is not allowed" in p for p in TrainConfig(gpus=9).validate())
    assert any("GPUs 1.5 is not allowed" in p for p in TrainConfig(gpus=1.5).validate())


def test_an_unknown_backend_is_refused_with_the_choices():
    """From the environment it is refused at start-up (test_settings.py); a Settings built
    in code with another name is refused here, with the same choices."""
    settings = replace(get_settings(), backend="slurm")
    with pytest.raises(UserError, match="'slurm' is not offered: set DASHCORE_BACKEND to local"):
        queue.get_backend(settings.backend, settings)


def test_a_local_worker_on_another_server_is_left_for_that_server_to_judge(settings):
    store = open_store(settings)
    store.create_run(RunRecord(run_id="r-elsewhere", name="elsewhere", status=RUNNING,
                               pid=dead_pid(), host="other-app-server"))
    store.create_run(RunRecord(run_id="r-here", name="here", status=RUNNING, pid=dead_pid(),
                               host=socket.gethostname()))
    assert queue.reconcile(on_start=True,
                           settings=settings) == ["r-here"]  # its process is gone: interrupted
    assert store.get_run("r-elsewhere").status == RUNNING
