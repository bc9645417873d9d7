"""The job-backend seam: what starts a run's worker and tells whether it is still going.

``local`` (the default, :class:`LocalBackend`) runs each worker as a detached process on
this machine (:mod:`dashcore.jobs.local`); ``ray`` submits it to a Ray cluster through the
Jobs API (:mod:`dashcore.jobs.ray_jobs`). The queue in :mod:`dashcore.jobs.queue` picks
one by the settings (``get_backend``) and talks to it only through :class:`JobBackend`.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Protocol

from dashcore.jobs import local, spares
from dashcore.settings import Settings
from dashcore.store.runs import RunRecord

Started = tuple[int | None, float | None]  # a started worker's (pid, identity), where known


@dataclass(frozen=True)
class JobState:
    """Where a run's job is, as its backend sees it.

    Attributes:
        alive: the job is queued on the cluster or running (its worker may still report).
        exit_code: how the worker process ended, when known (negative: killed by a signal).
        ended: the backend's own sentence about how the job ended (e.g. Ray's message).
        waiting: a sentence while the job waits for resources (e.g. for a GPU).
    """

    alive: bool
    exit_code: int | None = None
    ended: str | None = None
    waiting: str | None = None


class JobBackend(Protocol):
    """Starts, watches and ends the worker of a run."""

    name: str

    def start(self, run: RunRecord, settings: Settings) -> tuple[int | None, float | None]:
        """Start ``python -m dashcore.jobs.worker <run_id>``; returns (pid, identity)
        where the backend knows them (the worker records its own when it starts)."""

    def take_spare(self, run: RunRecord, settings: Settings) -> Started | None:
        """Hand the run to a warm spare worker if one is ready; returns (pid, identity)
        like :meth:`start`, or ``None`` (the caller then calls :meth:`start`)."""

    def state(self, run: RunRecord, settings: Settings) -> JobState:
        """Is the run's job still going? Cheap: called on every page poll."""

    def cancel(self, run: RunRecord, settings: Settings) -> None:
        """End the job now (used when Stop was not honoured within the grace period)."""

    def log_tail(self, run: RunRecord, settings: Settings, lines: int = 30) -> str:
        """The last lines the worker printed (for the /train page)."""


class LocalBackend:
    """Each run is a detached worker process on this machine (the default): a warm spare
    when one is ready (:mod:`dashcore.jobs.spares`), else one started for it."""

    name = "local"

    def start(self, run: RunRecord, settings: Settings) -> tuple[int | None, float | None]:
        return local.spawn_worker(run.run_id, settings)

    def take_spare(self, run: RunRecord, settings: Settings) -> Started | None:
        return spares.claim(run.run_id, settings)

    def state(self, run: RunRecord, settings: Settings) -> JobState:
        alive, code = local.worker_alive(run)
        return JobState(alive=alive, exit_code=code)

    def cancel(self, run: RunRecord, settings: Settings) -> None:
        if run.pid and local.worker_alive(run)[0]:
            os.kill(run.pid, signal.SIGTERM)  # the worker stops at its next batch

    def log_tail(self, run: RunRecord, settings: Settings, lines: int = 30) -> str:
        path = settings.runs_dir / run.run_id / "worker.log"
        try:
            with open(path, "rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(0, size - 64_000))  # the tail only: logs can grow large
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
