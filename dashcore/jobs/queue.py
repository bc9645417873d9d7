"""Training jobs: submit, queue, dispatch to worker processes, stop, and reconcile.

A run is queued in the store, then started as its own detached worker process
(``python -m dashcore.jobs.worker <run_id>``, in a new session) so it outlives a rerun, a
closed tab and a server restart. At most ``settings.concurrent_jobs`` run at once; the
rest wait in order. Whoever looks next — a page poll, the app starting, a worker
finishing — calls :func:`dispatch`, which first *reconciles*: a run whose worker process
is gone is marked failed (or interrupted, when the app has just restarted) with the
reason in words, then free slots are filled from the queue.

Dispatching is serialised with the store's lock (a file lock beside an SQLite store, an
advisory lock in PostgreSQL), so two server threads, processes or hosts never start the
same run twice.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dashcore.access.auth import User, authorize
from dashcore.access.quota import check_quota
from dashcore.errors import UserError
from dashcore.jobs.backends import JobBackend, JobState, LocalBackend
from dashcore.jobs.local import Launcher
from dashcore.jobs.ray_jobs import RayBackend
from dashcore.jobs.spares import cold_start_estimate
from dashcore.settings import BACKENDS, Settings, limit_setting
from dashcore.store.factory import open_store
from dashcore.store.runs import (
    FAILED,
    INTERRUPTED,
    MAX_NAME,
    QUEUED,
    STARTING,
    STOPPED,
    WORKING,
    RunRecord,
    RunStore,
    clean_run_name,
    new_run_id,
)
from dashcore.training.phases import WAITING

REUSED = "reused"  # a run's worker: the process that trained the sweep's previous trial

_started_homes: set[Path] = set()  # data folders whose startup reconciliation ran here
_started_lock = threading.Lock()


_backends: dict[tuple[str, str], JobBackend] = {}


def get_backend(name: str, settings: Settings) -> JobBackend:
    """The backend called ``name`` (``local`` or ``ray``), one per Ray address per process."""
    if name not in BACKENDS:
        raise UserError(f"Job backend {name!r} is not offered: set DASHCORE_BACKEND to "
                        f"{' or '.join(BACKENDS)}.")
    key = (name, settings.ray_address if name == "ray" else "")
    backend = _backends.get(key)
    if backend is None:
        backend = RayBackend(settings) if name == "ray" else LocalBackend()  # Ray loads on use
        _backends[key] = backend
    return backend


@contextmanager
def dispatch_lock(settings: Settings) -> Iterator[None]:
    """An exclusive lock across threads, processes and servers sharing this run store
    (a file lock beside an SQLite store; an advisory lock in PostgreSQL)."""
    with open_store(settings).exclusive():
        yield


# ---------------------------------------------------------------- reconciliation


def _where(run: RunRecord) -> str:
    """Where training was, in words: 'during epoch 2 of 5 (batch 130 of 422)'."""
    progress = run.progress or {}
    if not progress.get("batch") and not progress.get("epoch"):
        return "before training began"
    text = f"during epoch {progress.get('epoch')} of {progress.get('epochs')}"
    if progress.get("batch"):
        text += f" (batch {progress['batch']} of {progress.get('steps')})"
    return text


def _log_tail(settings: Settings, run_id: str) -> str:
    """The last non-empty line of a worker's log (often the exception), if any."""
    path = settings.runs_dir / run_id / "worker.log"
    try:
        lines = [ln.strip() for ln in path.read_text("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1][:300] if lines else ""


def death_reason(run: RunRecord, exit_code: int | None, on_start: bool,
                 settings: Settings) -> tuple[str, str]:
    """(status, sentence) for a run whose worker disappeared without reporting."""
    where = _where(run)
    best = settings.runs_dir / run.run_id / "best.weights.h5"
    kept = " Its metrics so far are kept."
    if best.is_file():
        kept += f" The best epoch's weights so far are in {best}."
    from dashcore.training.checkpoints import read_checkpoint

    checkpoint = read_checkpoint(settings.runs_dir / run.run_id)
    if checkpoint is not None:
        kept += (f" It can be continued on /train from its last whole epoch "
                 f"({checkpoint.epoch}).")
    if on_start:
        again = "" if checkpoint is not None else " Start the run again to train a model."
        return INTERRUPTED, (f"The app restarted and this run's worker process was no longer "
                             f"running, so training was interrupted {where}.{kept}{again}")
    if exit_code is not None and exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        return FAILED, (f"The worker process was killed ({name}) {where}. This usually means "
                        "the machine ran out of memory or someone ended the process; try a "
                        f"smaller batch size or model.{kept}")
    if exit_code is not None:
        tail = _log_tail(settings, run.run_id)
        detail = f" Its last message: {tail}" if tail else ""
        return FAILED, (f"The worker process exited with code {exit_code} without reporting a "
                        f"result {where}.{detail}{kept}")
    return FAILED, (f"The worker process ended without reporting a result {where}: it was "
                    "killed (for example by the out-of-memory killer) or crashed. Try a "
                    f"smaller batch size or model.{kept}")


def _ray_death(run: RunRecord, state: JobState, settings: Settings) -> tuple[str, str]:
    """(status, sentence) for a Ray job that ended without its worker reporting."""
    where = _where(run)
    if run.stop_requested:
        return STOPPED, (f"Stopped {where}: the job had not stopped by itself "
                         f"{settings.stop_grace_s:g} s after Stop, so Ray ended it. Its metrics "
                         "so far are kept; the model of this run was not saved.")
    return FAILED, (f"The Ray job ended without reporting a result {where}. "
                    f"{state.ended or ''} Its metrics so far are kept; the job's log is shown "
                    "below the chart.").replace("  ", " ")


def _settle_ray_run(store: RunStore, run: RunRecord, state: JobState,
                    settings: Settings) -> None:
    """A live Ray job: say that it waits for resources, or end it if Stop went unheeded."""
    backend = get_backend("ray", settings)
    if state.waiting and run.stop_requested:  # nothing trained yet: cancel at once
        backend.cancel(run, settings)
        store.update_run(run.run_id, only_if_status=WORKING, status=STOPPED,
                         finished=time.time(),
                         reason="Stopped before it started (it was waiting for the cluster); "
                                "nothing was trained.")
    elif state.waiting and (run.progress or {}).get("waiting") != state.waiting:
        store.update_run(run.run_id, only_if_status=[STARTING],
                         progress={"phase": "waiting", "waiting": state.waiting})
    elif (run.stop_requested and run.stop_requested_at is not None
          and time.time() - run.stop_requested_at > settings.stop_grace_s):
        backend.cancel(run, settings)  # the worker did not honour the flag (stuck, or busy)


def _reconcile_locked(store: RunStore, settings: Settings, on_start: bool) -> list[str]:
    changed = []
    here = socket.gethostname()
    for run in store.list_runs(WORKING):
        if run.backend == "local" and run.host not in (None, here):
            continue  # another server's worker process: only that server can see it
        try:
            state = get_backend(run.backend, settings).state(run, settings)
        except UserError:
            continue  # the cluster did not answer: say nothing about its runs until it does
        if state.alive:
            if run.backend == "ray":
                with contextlib.suppress(UserError):
                    _settle_ray_run(store, run, state, settings)
            continue
        if run.backend == "ray":
            status, reason = _ray_death(run, state, settings)
        else:
            status, reason = death_reason(run, state.exit_code, on_start, settings)
        if store.update_run(run.run_id, only_if_status=WORKING, status=status, reason=reason,
                            finished=time.time()):
            changed.append(run.run_id)
    return changed


def reconcile(settings: Settings, on_start: bool = False) -> list[str]:
    """Mark runs whose worker process is gone; returns their ids.

    ``on_start=True`` (the app has just started) marks them ``interrupted``; otherwise
    ``failed``. Either way the reason says where training was and what is kept.
    """
    with dispatch_lock(settings):
        return _reconcile_locked(open_store(settings), settings, on_start)


@dataclass
class Offer:
    """A worker whose run has just ended, offering to train one more queued run in the same
    process (a sweep's next trial). :func:`dispatch` hands it the first run it ``wants``
    among those it starts, through the same claim as any run: marked ``starting`` with
    this worker's pid, process identity and host under the dispatch lock, so no other
    dispatcher starts a worker for it."""

    pid: int
    identity: float | None
    wants: Callable[[RunRecord], bool]
    taken: str | None = None  # the run it was handed, once it was


def dispatch(settings: Settings, launcher: Launcher | None = None,
             offer: Offer | None = None) -> list[str]:
    """Reconcile, then start queued runs while fewer than ``concurrent_jobs`` are working.

    Runs start on the settings' job backend (a local worker process, or a Ray job);
    ``launcher`` replaces it (tests). ``offer`` is a finishing worker that takes the first
    run it wants instead. Returns the ids of the runs it started. Cheap when there is
    nothing to do, so pages call it on every poll and workers as they finish.
    """
    with dispatch_lock(settings):
        return _dispatch_locked(open_store(settings), settings, launcher, offer)


def _dispatch_locked(store: RunStore, settings: Settings, launcher: Launcher | None,
                     offer: Offer | None) -> list[str]:
    """:func:`dispatch` with the dispatch lock already held."""
    backend = get_backend(settings.backend, settings)
    started: list[str] = []
    _reconcile_locked(store, settings, on_start=False)
    free = settings.concurrent_jobs - len(store.list_runs(WORKING))
    for run in store.list_runs([QUEUED])[:max(0, free)]:
        # Mark it first, so a worker that starts quickly finds it "starting"; the time
        # it was handed over begins its "waiting for a worker" phase.
        store.update_run(run.run_id, only_if_status=[QUEUED], status=STARTING,
                         backend=backend.name,
                         progress={"phase": WAITING, "dispatched": time.time()})
        reused = (offer is not None and offer.taken is None and backend.name == "local"
                  and offer.wants(run))
        try:
            warm = None
            if reused:
                pid, identity = offer.pid, offer.identity
                offer.taken = run.run_id
            elif launcher is not None:
                pid, identity = launcher(run.run_id, settings)
            else:
                warm = backend.take_spare(run, settings)
                pid, identity = warm if warm is not None else backend.start(run, settings)
        except UserError as exc:  # e.g. the Ray cluster did not answer: keep it queued
            store.update_run(run.run_id, only_if_status=[STARTING], status=QUEUED,
                             progress={"phase": "waiting", "waiting": str(exc)})
            break
        if pid is not None:
            store.update_run(run.run_id, pid=pid, pid_created=identity,
                             host=socket.gethostname())
        if backend.name == "local":  # say which worker it waits for, and how long
            how = ({"worker": REUSED} if reused else {"worker": "spare"} if warm is not None
                   else {"worker": "cold", "expected_s": cold_start_estimate(store.list_runs())})
            store.update_run(run.run_id, only_if_status=[STARTING],
                             progress={**store.get_run(run.run_id).progress, **how})
        started.append(run.run_id)
    return started


def startup(settings: Settings, launcher: Launcher | None = None) -> list[str]:
    """Once per server process: runs left without a worker become ``interrupted``, then
    the queue is dispatched. Later calls in the same process do nothing."""
    with _started_lock:
        if settings.home in _started_homes:
            return []
        _started_homes.add(settings.home)
    changed = reconcile(settings, on_start=True)
    dispatch(settings, launcher)
    return changed


# ---------------------------------------------------------------- user actions


def check_queue_room(store: RunStore, owner: str | None, settings: Settings) -> None:
    """Refuse a new or continued run when its owner already has the most runs queued or
    running that one person may have (call under the dispatch lock)."""
    mine = [r for r in store.list_runs([QUEUED, *WORKING]) if r.owner == owner]
    limit = settings.limits.queued_per_user
    if len(mine) >= limit:
        raise UserError(f"You already have {len(mine)} runs queued or running (the limit is "
                        f"{limit} per user): wait for one to finish or stop one. "
                        f"{limit_setting('queued_per_user')}")


def submit(config, name: str | None = None, owner: str | None = None,
           *, settings: Settings, launcher: Launcher | None = None,
           user: User | None = None, offer: Offer | None = None) -> RunRecord:
    """Check a :class:`~dashcore.training.config.TrainConfig`, queue it, and dispatch
    (``offer``: a finishing worker that may take it, see :class:`Offer`).

    The run is in the store (queued or starting) when this returns. ``user`` is the
    signed-in person (pages pass it): they must be allowed to train, and they become the
    owner. Without it, ``owner`` is recorded as given (scripts, tests).

    Raises:
        PermissionDenied: ``user`` may not train (a visitor, or a read-only demo).
        UserError: an invalid setting, an unknown dataset or class, a model over the
            parameter limit, or too many runs already queued for this user.
    """
    from dashcore.training.data import describe_job

    authorize(user, "train")
    if user is not None:
        owner = user.name
    config.check(settings.limits)
    described = describe_job(config, settings)
    check_quota(user, settings, 0, "a new run")
    store = open_store(settings)
    # Count and insert under the dispatch lock: two presses at the same moment must not
    # both pass the per-user limit.
    with dispatch_lock(settings):
        check_queue_room(store, owner, settings)
        default = config.default_name()[:MAX_NAME]  # a long architecture name is cut
        run = RunRecord(run_id=new_run_id(), name=clean_run_name(name or default),
                        config=config.to_dict(), dataset=config.dataset,
                        architecture=described["architecture"], owner=owner,
                        summary={"params": described["params"]})
        store.create_run(run)
        # In the same hold of the lock: between queueing and dispatching, no other
        # dispatcher may start a worker for a run that ``offer`` is waiting to take.
        _dispatch_locked(store, settings, launcher, offer)
    return store.get_run(run.run_id)


def stop(run_id: str, settings: Settings, user: User | None = None) -> RunRecord:
    """Stop a run: a queued one at once; a working one at its next batch (the worker
    saves the model so far and marks it ``stopped``).

    Raises:
        PermissionDenied: ``user`` is neither the run's owner nor an admin.
    """
    store = open_store(settings)
    run = store.get_run(run_id)
    authorize(user, "manage", owner=run.owner, what=f"run {run.name!r}")
    if run.status == QUEUED and store.update_run(
            run_id, only_if_status=[QUEUED], status=STOPPED, finished=time.time(),
            reason="Stopped before it started; nothing was trained."):
        return store.get_run(run_id)
    run = store.get_run(run_id)
    if run.status not in WORKING:
        raise UserError(f"Run {run.name!r} is already {run.status}: there is nothing to stop.")
    store.request_stop(run_id)
    return store.get_run(run_id)


def rename(run_id: str, name: str, settings: Settings,
           user: User | None = None) -> RunRecord:
    """Give a run a new display name (the worker names its model after it).

    Raises:
        PermissionDenied: ``user`` is neither the run's owner nor an admin.
    """
    store = open_store(settings)
    run = store.get_run(run_id)
    authorize(user, "manage", owner=run.owner, what=f"run {run.name!r}")
    return store.rename_run(run_id, name)


def queue_positions(runs: list[RunRecord]) -> dict[str, int]:
    """1-based place in the queue of each queued run (1 = starts next)."""
    queued = sorted((r for r in runs if r.status == QUEUED), key=lambda r: (r.created, r.run_id))
    return {run.run_id: place for place, run in enumerate(queued, start=1)}


def job_log(run_id: str, settings: Settings, lines: int = 30) -> str:
    """The last lines a run's worker printed, from wherever it runs (its log file, or
    Ray's job logs); ``""`` when there are none yet.

    Raises:
        UserError: the Ray cluster did not answer.
    """
    run = open_store(settings).get_run(run_id)
    if run.status == QUEUED:
        return ""
    return get_backend(run.backend, settings).log_tail(run, settings, lines)
