"""The Ray job backend: one Ray job per run, through the Jobs API at ``RAY_ADDRESS``.

A Ray job runs its entrypoint under a detached supervisor on the cluster, so a run outlives
the web server that submitted it (Ray *tasks* started from the Streamlit process would die
with it). The entrypoint (:mod:`dashcore.jobs.ray_entry`) hands the run to a warm spare
worker on the host the job landed on, or trains it there itself when none is ready; the
run id is the submission id (so asking Ray about a run needs nothing stored), and the
worker sees the server's DASHCORE_* settings through the job's ``runtime_env``: it reads
its config from and writes its metrics to the shared run store, and saves its model to
the shared artefacts.

Ray is an optional extra (``pip install -e ".[ray]"``) imported only when
``DASHCORE_BACKEND=ray``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from dashcore.errors import UserError
from dashcore.jobs.backends import JobState, Started
from dashcore.settings import Settings
from dashcore.store.runs import RunRecord

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def _client_class() -> Any:
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as exc:
        raise UserError("DASHCORE_BACKEND=ray needs Ray on this server: pip install -e "
                        "\".[ray]\" (the same Ray and Python version as the cluster).") from exc
    return JobSubmissionClient


def unreachable(address: str, exc: BaseException) -> str:
    """A sentence for a Ray cluster that did not answer."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return (f"The Ray cluster at {address or '(RAY_ADDRESS is not set)'} did not answer "
            f"({detail}). Check that its head node is running and that RAY_ADDRESS names its "
            "dashboard (http://head:8265); runs already submitted keep running there.")


def resources(run: RunRecord, settings: Settings) -> tuple[float, float]:
    """(CPUs, GPUs) the run's job asks the cluster for: CPUs from the settings, GPUs from
    the run's form (``gpus``) or else the settings."""
    asked = (run.config or {}).get("gpus")
    return float(settings.ray_cpus), float(settings.ray_gpus if asked is None else asked)


def waiting_sentence(cpus: float, gpus: float) -> str:
    """What a person sees while Ray holds the job back for resources."""
    if gpus > 0:
        return (f"Waiting for a GPU: the job asks the Ray cluster for {gpus:g} GPU(s) and "
                f"{cpus:g} CPU(s), and none is free yet (all busy, or no GPU host has joined "
                "the cluster). It starts as soon as one is free; Stop cancels it.")
    return (f"Waiting for the Ray cluster: the job asks for {cpus:g} CPU(s) and none is free "
            "yet. It starts as soon as a running job finishes; Stop cancels it.")


class RayBackend:
    """Runs each training run as one Ray job (not Ray Train: see README, Scaling out)."""

    name = "ray"

    def __init__(self, settings: Settings) -> None:
        self.address = settings.ray_address
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The Jobs API client (created on first use; it checks the cluster's version)."""
        if self._client is None:
            if not self.address:
                raise UserError("DASHCORE_BACKEND=ray needs RAY_ADDRESS: the Ray head's "
                                "dashboard address, e.g. http://head-node:8265.")
            try:
                self._client = _client_class()(self.address)
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001 - any connection failure, in words
                raise UserError(unreachable(self.address, exc)) from exc
        return self._client

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. connection refused, HTTP 5xx
            self._client = None  # reconnect next time (the head may have restarted)
            raise UserError(unreachable(self.address, exc)) from exc

    def start(self, run: RunRecord, settings: Settings) -> tuple[int | None, float | None]:
        cpus, gpus = resources(run, settings)
        env = {key: value for key, value in settings.worker_env().items() if value}
        env.update({
            "DASHCORE_RAY_ADDRESS": self.address, "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            # The head of a test cluster shares this checkout; on a real cluster the
            # workbench is installed on every host and this folder is simply absent.
            "PYTHONPATH": str(_PACKAGE_ROOT),
        })
        if os.environ.get("KERAS_BACKEND"):  # a cluster host trains on the server's backend,
            env["KERAS_BACKEND"] = os.environ["KERAS_BACKEND"]  # not on whatever it started with
        if settings.worker_threads <= 0:
            env["DASHCORE_WORKER_THREADS"] = str(max(1, math.ceil(cpus)))
        if gpus <= 0:
            env["CUDA_VISIBLE_DEVICES"] = ""  # Ray sets it for GPU jobs; CPU jobs see none
        self._call("submit_job", entrypoint=f"python -m dashcore.jobs.ray_entry {run.run_id}",
                   submission_id=run.run_id, entrypoint_num_cpus=cpus,
                   entrypoint_num_gpus=gpus or None, runtime_env={"env_vars": env},
                   metadata={"dashcore_run": run.run_id, "owner": run.owner or ""})
        return None, None

    def take_spare(self, run: RunRecord, settings: Settings) -> Started | None:
        """``None``: the server has no say over a cluster host's spares; the job's
        entrypoint takes one on the host it lands on (:mod:`dashcore.jobs.ray_entry`)."""
        return None

    def state(self, run: RunRecord, settings: Settings) -> JobState:
        info = self._call("get_job_info", run.run_id)
        status = str(getattr(info.status, "value", info.status)).upper()
        if status == "PENDING":
            return JobState(alive=True, waiting=waiting_sentence(*resources(run, settings)))
        if status == "RUNNING":
            return JobState(alive=True)
        message = (info.message or "").strip()
        return JobState(alive=False, exit_code=getattr(info, "driver_exit_code", None),
                        ended=f"Ray reports the job {status.lower()}"
                              + (f": {message[:300]}" if message else "."))

    def cancel(self, run: RunRecord, settings: Settings) -> None:
        self._call("stop_job", run.run_id)

    def log_tail(self, run: RunRecord, settings: Settings, lines: int = 30) -> str:
        text = self._call("get_job_logs", run.run_id) or ""
        return "\n".join(text.splitlines()[-lines:])
