"""Continuing a run for more epochs, as the same run or as a new one that names its parent.

Any finished run (completed, stopped, failed or interrupted) that saved at least one whole
epoch can go on from its last whole-epoch checkpoint (see
:mod:`dashcore.training.checkpoints`): weights, optimizer state, random-number states and
epoch count come back, so the curve goes on as if it had never stopped.

* **Same run**: the run is queued again; its metrics after the checkpoint (a cut-short
  epoch) are dropped, epoch numbering goes on, and ``summary["parts"]`` keeps what each
  earlier part did (epochs, status, model saved). The new model's card lists the parts.
* **New run**: a new run starts from a copy of the parent's checkpoint, named after it; its
  epochs are numbered on from the parent's and its model card names the parent run.
"""

from __future__ import annotations

import time
from typing import Any

from dashcore.access.auth import User, authorize
from dashcore.access.quota import check_quota
from dashcore.errors import UserError
from dashcore.jobs.local import Launcher
from dashcore.jobs.queue import check_queue_room, dispatch, dispatch_lock
from dashcore.settings import Settings, limit_setting
from dashcore.store.factory import open_store
from dashcore.store.runs import (
    FINAL,
    QUEUED,
    RunRecord,
    clean_run_name,
    new_run_id,
)
from dashcore.training.checkpoints import CheckpointState, copy_checkpoint, read_checkpoint
from dashcore.training.config import TrainConfig

LINEAGE_KEYS = ("parts", "parent_run", "parent_name")  # run summary fields the card repeats


def checkpoint_of(run: RunRecord, settings: Settings) -> CheckpointState | None:
    """The run's last whole-epoch checkpoint, when it has finished and has one."""
    if run.status not in FINAL:
        return None
    return read_checkpoint(settings.runs_dir / run.run_id)


def lineage(summary: dict[str, Any]) -> dict[str, Any]:
    """What a model card repeats from its run: earlier parts and the parent run."""
    return {key: summary[key] for key in LINEAGE_KEYS if summary.get(key)}


def _part(run: RunRecord, state: CheckpointState) -> dict[str, Any]:
    """The part of the run that ended: its epochs, how it ended and what it saved."""
    parts = run.summary.get("parts") or []
    first = (parts[-1]["epochs"][1] + 1 if parts
             else int(run.summary.get("first_epoch") or 1))
    return {"epochs": [first, state.epoch], "status": run.status, "reason": run.reason,
            "model_id": run.summary.get("model_id"),
            "test_accuracy": run.summary.get("test_accuracy")}


def continue_run(run_id: str, more_epochs: int, as_new: bool = False, name: str | None = None,
                 *, settings: Settings, launcher: Launcher | None = None,
                 user: User | None = None) -> RunRecord:
    """Queue ``more_epochs`` more epochs of a finished run, from its last whole epoch.

    Returns the run that will train: the same one, or the new one when ``as_new``.

    Raises:
        PermissionDenied: ``user`` may not train, or (same run) does not own it.
        UserError: the run is still active or saved no whole epoch, the epoch count is
            out of range, or the user's queue is full.
    """
    from dashcore.training.data import describe_job

    store = open_store(settings)
    run = store.get_run(run_id)
    authorize(user, "train")
    if not as_new:
        authorize(user, "manage", owner=run.owner, what=f"run {run.name!r}")
    owner = user.name if user is not None else run.owner
    if run.status not in FINAL:
        raise UserError(f"Run {run.name!r} is still {run.status}: wait for it to finish (or "
                        "stop it), then continue it.")
    state = read_checkpoint(settings.runs_dir / run_id)
    if state is None:
        raise UserError(f"Run {run.name!r} has no checkpoint of a whole epoch (it ended before "
                        "its first epoch finished, or it was trained before checkpoints were "
                        "kept): start it again from the form instead.")
    if isinstance(more_epochs, bool) or not isinstance(more_epochs, int) or more_epochs < 1:
        raise UserError(f"Continue for a whole number of epochs of at least 1, not "
                        f"{more_epochs!r}.")
    total = state.epoch + more_epochs
    if total > settings.limits.max_epochs:
        raise UserError(f"{state.epoch} epochs done + {more_epochs} more = {total}, over this "
                        f"server's limit of {settings.limits.max_epochs} epochs per run: ask "
                        f"for at most {max(0, settings.limits.max_epochs - state.epoch)} more. "
                        f"{limit_setting('max_epochs')}")
    config = TrainConfig.from_dict({**run.config, "epochs": total, "resume": True})
    config.check(settings.limits)
    describe_job(config, settings)  # the run's budgets count all its epochs, every part
    check_quota(user, settings, 0, "a continued run")
    with dispatch_lock(settings):
        check_queue_room(store, owner, settings)
        if as_new:
            new = RunRecord(
                run_id=new_run_id(),
                name=clean_run_name(name or f"{run.name[:66]} (continued)"),
                config=config.to_dict(), dataset=run.dataset, architecture=run.architecture,
                owner=owner, summary={"params": run.summary.get("params"),
                                      "parent_run": run.run_id, "parent_name": run.name,
                                      "first_epoch": state.epoch + 1})
            copy_checkpoint(settings.runs_dir / run.run_id, settings.runs_dir / new.run_id)
            store.create_run(new)
            target = new.run_id
        else:
            store.drop_points_after(run_id, state.epoch)
            parts = [*(run.summary.get("parts") or []), _part(run, state)]
            changed = store.update_run(
                run_id, only_if_status=[run.status], status=QUEUED, config=config.to_dict(),
                reason=None, started=None, finished=None, pid=None, pid_created=None,
                stop_requested=False, created=time.time(),
                progress={"epoch": state.epoch, "epochs": total},
                summary={**run.summary, "parts": parts})
            if not changed:
                raise UserError(f"Run {run.name!r} changed while you asked; look again.")
            target = run_id
    dispatch(settings, launcher)
    return store.get_run(target)
