"""Sweeps as Optuna studies, kept in the same database as the runs.

Each sweep is one Optuna study named by its sweep id (``s20250101-120000-1a2b3c``). The
plan (:class:`~dashcore.sweeps.space.SweepPlan`), the owner, and whether it was stopped are
the study's user attributes; each trial's run id is the trial's user attribute. So every
fact about a sweep is in the database, none in a server process's memory: a restarted
server, or a worker process, picks the sweep up where it was.

Storage: Optuna's ``RDBStorage`` (SQLAlchemy) on the run store's database,
``settings.db_url``: the SQLite file ``<data folder>/runs.sqlite3`` by default, or the
PostgreSQL database ``DASHCORE_DB`` names. Optuna's tables (``studies``, ``trials``, …)
sit beside the run store's (``runs``, ``batch_points``, ``epoch_points``) without clashing.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from dashcore.access.auth import User, authorize
from dashcore.access.quota import check_quota
from dashcore.errors import NotFoundError, UserError
from dashcore.settings import Settings
from dashcore.store.runs import COMPLETED, STOPPED, RunRecord
from dashcore.sweeps.space import SweepPlan

SWEEP_KEY = "dashcore_sweep"  # study user attribute holding the plan (marks our studies)
RUNNING_SWEEP, STOPPED_SWEEP, FINISHED_SWEEP = "running", "stopped", "finished"
MEDIAN_STARTUP_TRIALS = 2  # finished trials the median pruner waits for before pruning

_storages: dict[str, Any] = {}
_engines: dict[str, Any] = {}
_storages_lock = threading.Lock()


def storage_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the sweep studies: the run store's own database (the SQLite
    file in the data folder, or ``DASHCORE_DB``, e.g. PostgreSQL)."""
    return settings.db_url


def storage(settings: Settings) -> Any:
    """Optuna's ``RDBStorage`` for this database (one per process: creating it checks
    the schema, which costs a few hundred milliseconds)."""
    import optuna

    url = storage_url(settings)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" chatter
    with _storages_lock:
        found = _storages.get(url)
        if found is None:
            settings.home.mkdir(parents=True, exist_ok=True)
            kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
            found = _storages[url] = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        return found


def engine(settings: Settings) -> Any:
    """A plain SQLAlchemy engine on the same database (no Optuna import), one per URL."""
    from sqlalchemy import create_engine

    url = storage_url(settings)
    with _storages_lock:
        found = _engines.get(url)
        if found is None:
            found = _engines[url] = create_engine(url, pool_pre_ping=True)
        return found


def has_sweeps(settings: Settings) -> bool:
    """Whether any study exists, without importing Optuna (pages and workers ask often)."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    if storage_url(settings).startswith("sqlite") and not settings.store_path.is_file():
        return False
    try:
        with engine(settings).connect() as conn:
            if not inspect(conn).has_table("studies"):
                return False
            return conn.execute(text("SELECT 1 FROM studies LIMIT 1")).first() is not None
    except SQLAlchemyError:
        return False


def new_sweep_id() -> str:
    """Sortable and unique, like run ids: ``s20250101-120000-1a2b3c``."""
    return f"s{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def make_pruner(plan: SweepPlan) -> Any:
    """Optuna's pruner for the plan; pruners are not stored, so every load rebuilds it."""
    import optuna

    if plan.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS,
                                           n_warmup_steps=0)
    return optuna.pruners.NopPruner()


@dataclass
class Sweep:
    """A sweep as read from the database: its plan, owner, state, and Optuna study."""

    sweep_id: str
    plan: SweepPlan
    owner: str | None
    created: float
    stopped: dict[str, Any] | None  # {"at": time, "by": name} once Stop sweep was pressed
    finished: float | None  # when the last trial was told
    study: Any  # optuna.Study, loaded with the plan's pruner

    @property
    def status(self) -> str:
        """``running``, ``stopped`` or ``finished``."""
        if self.stopped:
            return STOPPED_SWEEP
        return FINISHED_SWEEP if self.finished else RUNNING_SWEEP

    def trials(self) -> list[Any]:
        """This sweep's trials (``FrozenTrial``), oldest first; seeded ones are left out."""
        return [t for t in self.study.get_trials(deepcopy=False)
                if t.user_attrs.get("sweep_trial")]

    def best(self) -> Any | None:
        """The finished trial with the best value, or ``None`` before one has finished."""
        import optuna

        done = [t for t in self.trials() if t.state == optuna.trial.TrialState.COMPLETE
                and t.value is not None and math.isfinite(t.value)]
        if not done:
            return None
        pick = max if self.plan.direction == "maximize" else min
        return pick(done, key=lambda t: t.value)


def _read(study: Any, sweep_id: str) -> Sweep:
    attrs = study.user_attrs
    plan = SweepPlan.from_dict(attrs[SWEEP_KEY])
    study.pruner = make_pruner(plan)
    return Sweep(sweep_id=sweep_id, plan=plan, owner=attrs.get("owner"),
                 created=float(attrs.get("created") or 0.0), stopped=attrs.get("stopped"),
                 finished=attrs.get("finished"), study=study)


def load_sweep(sweep_id: str, settings: Settings) -> Sweep:
    """One sweep by id.

    Raises:
        NotFoundError: there is no such sweep.
    """
    import optuna

    try:
        study = optuna.load_study(study_name=sweep_id, storage=storage(settings),
                                  sampler=optuna.samplers.TPESampler(constant_liar=True))
    except KeyError as exc:
        raise NotFoundError(f"Sweep {sweep_id!r} does not exist.") from exc
    if SWEEP_KEY not in study.user_attrs:
        raise NotFoundError(f"Study {sweep_id!r} is not a sweep of this workbench.")
    return _read(study, sweep_id)


def list_sweeps(settings: Settings) -> list[Sweep]:
    """Every sweep, newest first (empty without touching Optuna when there are none)."""
    if not has_sweeps(settings):
        return []
    found = []
    for frozen in storage(settings).get_all_studies():
        if SWEEP_KEY in frozen.user_attrs:
            found.append(load_sweep(frozen.study_name, settings))
    return sorted(found, key=lambda s: (s.created, s.sweep_id), reverse=True)


def create_sweep(plan: SweepPlan, settings: Settings, owner: str | None = None,
                 user: User | None = None) -> Sweep:
    """Check the plan and create its study (no trial is asked yet: see ``advance``).

    Raises:
        PermissionDenied: ``user`` may not train.
        UserError: a problem with the plan, its dataset or its model (too many parameters).
    """
    import optuna

    authorize(user, "train")
    if user is not None:
        owner = user.name
    plan.check(settings.limits)
    work_per_run(plan, settings)  # unknown dataset, model too big, a trial over a budget
    check_quota(user, settings, 0, "a sweep")
    sweep_id = new_sweep_id()
    study = optuna.create_study(storage=storage(settings), study_name=sweep_id,
                                direction=plan.direction, pruner=make_pruner(plan))
    study.set_user_attr("owner", owner)
    study.set_user_attr("created", time.time())
    study.set_user_attr(SWEEP_KEY, plan.to_dict())  # last: a half-made study is not listed
    return load_sweep(sweep_id, settings)


def trial_value(run: RunRecord, metric: str, epoch_points: list[dict[str, Any]]) -> float | None:
    """A finished run's value for the study: the metric at the epoch whose weights were
    saved (lowest validation loss), else at the last epoch; ``None`` if there is none."""
    value = (run.summary.get("best_metrics") or {}).get(metric)
    if value is None and epoch_points:
        value = epoch_points[-1].get(metric)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def outcome_of(run: RunRecord) -> str:
    """How a trial's run ended, as the trials table says it: ``pruned`` for a pruned one."""
    if run.status == STOPPED and run.summary.get("pruned"):
        return "pruned"
    return run.status


def is_completed(run: RunRecord) -> bool:
    """A run the study can learn a value from."""
    return run.status == COMPLETED


def check_may_manage(sweep: Sweep, user: User | None) -> None:
    """Only the sweep's owner (or an admin) may stop it.

    Raises:
        PermissionDenied: someone else's sweep.
    """
    authorize(user, "manage", owner=sweep.owner, what=f"sweep {sweep.plan.name!r}")


def work_per_run(plan: SweepPlan, settings: Settings) -> float:
    """The most estimated training work (TMAC) one trial may take.

    Raises:
        UserError: the dataset or model cannot be used, or the costliest trial would be
            over the server's per-run work or memory budget (the sentence names it).
    """
    from dashcore.training.data import describe_job

    work = 0.0
    for config in plan.costliest_trials():
        try:
            described = describe_job(config, settings)
        except UserError as exc:
            raise UserError(f"The costliest trial of this sweep ({config.epochs} epochs at "
                            f"batch size {config.batch_size}) would be refused: {exc}") from exc
        if described.get("task") == "regression" and "accuracy" in plan.metric:
            raise UserError(f"{config.dataset} is a regression table: it has no accuracy. "
                            "Sweep on the validation loss instead.")
        work = max(work, float(described["training_tmac"]))
    return work


def describe_budget(plan: SweepPlan, settings: Settings) -> str:
    """The sentence the form shows before a sweep starts: what it will use.

    Raises:
        UserError: a trial would be over a per-run budget (see :func:`work_per_run`).
    """
    budget, limits = plan.budget(), settings.limits
    work = work_per_run(plan, settings)
    images = f"{budget['images']:,} training images each" if budget["images"] else \
        "all training images"
    runs = "run" if budget["runs"] == 1 else "runs"
    text = (f"This sweep trains up to {budget['runs']} {runs} ({budget['epochs']} epochs in "
            f"all, {images}), at most {budget['at_once']} at a time: {budget['at_once']} of "
            f"your {limits.queued_per_user} queued-or-running runs while it lasts. Training "
            f"work: at most about {work:,.2g} TMAC per run (this server allows "
            f"{limits.max_training_tmac:,.0f}), {work * budget['runs']:,.2g} TMAC in all; "
            f"each run is stopped after {limits.job_max_minutes:g} minutes.")
    if budget["at_once"] > settings.concurrent_jobs:
        text += (f" This server trains {settings.concurrent_jobs} run(s) at once, so the others "
                 "wait in the queue.")
    return text
