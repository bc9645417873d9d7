"""Ask/tell: turn a sweep's trials into runs on the job queue, and runs back into values.

:func:`advance` is called wherever the job queue is moved along: by a worker as its run
ends, by the sweep page on every poll, and when the app starts. For each running sweep it
tells the study the value of every trial whose run has ended, then asks for new trials
while fewer than ``parallel`` are queued or running, the trial budget is not used up and
the owner has a free slot under their queued-runs limit, submitting each as an ordinary
run. A file lock serialises it across threads and processes, so two callers never ask
for the same slot twice.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dashcore.access.auth import User
from dashcore.access.quota import check_quota
from dashcore.errors import NotFoundError, UserError
from dashcore.jobs import queue
from dashcore.jobs.local import Launcher
from dashcore.settings import Settings
from dashcore.store.factory import open_store
from dashcore.store.runs import QUEUED, WORKING, RunStore
from dashcore.sweeps import study as studies
from dashcore.sweeps.space import SweepPlan

_SWEEP_LOCK = 0x73776570  # "swep": PostgreSQL advisory lock key for advancing sweeps


@contextmanager
def _sweep_lock(settings: Settings) -> Iterator[None]:
    """An exclusive lock across threads, processes and (on PostgreSQL) hosts sharing this
    database: a file lock in the data folder, or a session advisory lock. Its own lock,
    not the job queue's: ``queue.submit`` takes that one inside it."""
    from sqlalchemy import text

    db = studies.engine(settings)
    if db.dialect.name == "postgresql":
        with db.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _SWEEP_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SWEEP_LOCK})
                conn.commit()
        return
    settings.home.mkdir(parents=True, exist_ok=True)
    with open(settings.home / "sweeps.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tell(sweep: studies.Sweep, trial: Any, store: RunStore) -> bool:
    """Tell the study how a trial's run ended; False while the run is still going."""
    from optuna.trial import TrialState

    run_id = trial.user_attrs.get("run_id")
    try:
        run = store.get_run(run_id) if run_id else None
    except NotFoundError:
        run = None
    if run is not None and run.active:
        return False
    if run is None:
        sweep.study.tell(trial.number, state=TrialState.FAIL)
        return True
    value = studies.trial_value(run, sweep.plan.metric, store.epoch_points(run.run_id))
    if studies.outcome_of(run) == "pruned":
        sweep.study.tell(trial.number, state=TrialState.PRUNED)
    elif studies.is_completed(run) and value is not None:
        sweep.study.tell(trial.number, value)
    else:  # failed, interrupted, stopped by hand: no value the study should trust
        sweep.study.tell(trial.number, state=TrialState.FAIL)
    return True


def _free_slots(store: RunStore, owner: str | None, settings: Settings) -> int:
    """Room under the owner's queued-or-running limit; none while their disk is full."""
    mine = [r for r in store.list_runs([QUEUED, *WORKING]) if r.owner == owner]
    if owner:
        try:
            check_quota(User(owner), settings, 0, "the next trial")
        except UserError:
            return 0  # the sweep waits; the status line says why (display.status_sentence)
    return settings.limits.queued_per_user - len(mine)


def _advance_one(sweep: studies.Sweep, store: RunStore, settings: Settings,
                 launcher: Launcher | None, offer: queue.Offer | None = None) -> list[str]:
    from optuna.trial import TrialState

    trials = sweep.trials()
    active = 0
    for trial in trials:
        if trial.state == TrialState.RUNNING and not _tell(sweep, trial, store):
            active += 1
    plan, asked, submitted = sweep.plan, len(trials), []
    if sweep.status != studies.RUNNING_SWEEP:  # stopped: tell, ask no more
        if active == 0:
            sweep.study.set_user_attr("finished", time.time())
        return []
    while (active < plan.parallel and asked < plan.n_trials
           and _free_slots(store, sweep.owner, settings) > 0):
        trial = sweep.study.ask(plan.distributions())
        trial.set_user_attr("sweep_trial", True)
        asked += 1
        ref = {"id": sweep.sweep_id, "name": plan.name, "trial": asked, "number": trial.number}
        if plan.same_worker:
            ref["same_worker"] = True  # the worker reads it when the trial ends
        config = plan.trial_config(trial.params, ref)
        try:
            run = queue.submit(config, name=f"{plan.name} · trial {asked}", owner=sweep.owner,
                               settings=settings, launcher=launcher, offer=offer)
        except UserError as exc:  # e.g. the queued-runs limit, reached by a race
            trial.set_user_attr("error", str(exc))
            sweep.study.tell(trial, state=TrialState.FAIL)
            break
        trial.set_user_attr("run_id", run.run_id)
        submitted.append(run.run_id)
        active += 1
    if asked >= plan.n_trials and active == 0:
        sweep.study.set_user_attr("finished", time.time())
    return submitted


def advance(settings: Settings, launcher: Launcher | None = None) -> list[str]:
    """Tell finished trials, ask and submit new ones; returns the run ids it submitted.

    Cheap when there are no sweeps (Optuna is not even imported).
    """
    if not studies.has_sweeps(settings):
        return []
    with _sweep_lock(settings):
        return _advance_locked(settings, launcher, None)


def _advance_locked(settings: Settings, launcher: Launcher | None,
                    offer: queue.Offer | None) -> list[str]:
    store = open_store(settings)
    submitted: list[str] = []
    for sweep in studies.list_sweeps(settings):
        if not sweep.finished:  # running, or stopped with trials still to tell
            submitted += _advance_one(sweep, store, settings, launcher, offer)
    return submitted


def end_trial(settings: Settings, record_end: Callable[[], None], offer: queue.Offer,
              launcher: Launcher | None = None) -> str | None:
    """A trial's worker records its run's end and moves the sweeps along in one hold of
    the sweep lock, offering itself for its sweep's next trial; returns the run id it was
    handed, or ``None`` (it then exits).

    Holding the lock from the run's end to the hand-over means no page poll can tell the
    trial, queue the next one and start another worker for it in between. A trial of the
    sweep that already waits in the queue is offered first, then a newly asked one; runs
    it does not take start as usual (on ``launcher``, tests, when given).
    """
    with _sweep_lock(settings):
        record_end()
        queue.dispatch(settings, launcher, offer)  # also moves everyone else's queued runs
        _advance_locked(settings, launcher, offer)
    return offer.taken


def start_sweep(plan: SweepPlan, settings: Settings, owner: str | None = None,
                user: User | None = None, launcher: Launcher | None = None) -> studies.Sweep:
    """Check the plan, create its study and submit its first trials.

    Raises:
        PermissionDenied: ``user`` may not train.
        UserError: a problem with the plan, its dataset or its model.
    """
    sweep = studies.create_sweep(plan, settings, owner=owner, user=user)
    advance(settings, launcher)
    return studies.load_sweep(sweep.sweep_id, settings)


def stop_sweep(sweep_id: str, settings: Settings, user: User | None = None) -> studies.Sweep:
    """Queue no more trials and stop the running ones (each keeps its model so far).

    Raises:
        PermissionDenied: ``user`` is neither the sweep's owner nor an admin.
        UserError: the sweep has already finished or been stopped.
    """
    store = open_store(settings)
    with _sweep_lock(settings):
        sweep = studies.load_sweep(sweep_id, settings)
        studies.check_may_manage(sweep, user)
        if sweep.status != studies.RUNNING_SWEEP:
            raise UserError(f"Sweep {sweep.plan.name!r} is already {sweep.status}: there is "
                            "nothing to stop.")
        sweep.study.set_user_attr("stopped", {"at": time.time(),
                                              "by": user.name if user else None})
        for trial in sweep.trials():
            run_id = trial.user_attrs.get("run_id")
            if not run_id:
                continue
            try:
                if store.get_run(run_id).active:
                    queue.stop(run_id, settings)  # the sweep's owner may: checked above
            except UserError:
                pass  # it ended on its own meanwhile
    advance(settings)  # tell the trials that stopped at once (the queued ones)
    return studies.load_sweep(sweep_id, settings)
