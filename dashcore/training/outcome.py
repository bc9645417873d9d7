"""What a run produced: :class:`TrainOutcome` read off the callbacks after ``fit``, and the
model card that goes into the registry with the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dashcore.backend import backend_name, library_versions
from dashcore.settings import Settings, limit_setting
from dashcore.store.runs import COMPLETED, FAILED, STOPPED
from dashcore.training.config import TrainConfig
from dashcore.training.finetune import mnist_test_accuracy


@dataclass
class TrainOutcome:
    """What a run produced. ``status`` is ``completed``, ``stopped`` or ``failed``."""

    status: str
    reason: str | None = None  # a sentence for stopped/failed (and early stopping)
    model_id: str | None = None  # registry id of the saved model, if one was saved
    epochs_done: int = 0  # epochs completed in full
    final_metrics: dict[str, float] = field(default_factory=dict)  # the last epoch's logs
    best_metrics: dict[str, float] = field(default_factory=dict)  # the best epoch's logs
    best_epoch: int | None = None  # 1-based
    test_accuracy: float | None = None
    test_loss: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)  # every metric on the test
    # split (a table's regression has MAE and RMSE instead of accuracy)
    params: int = 0  # parameter count of the model
    duration_s: float = 0.0  # the whole job: data, build, fit, test, save
    fit_s: float = 0.0  # model.fit alone, wall clock (what the overhead benchmark compares)
    fit_cpu_s: float = 0.0  # model.fit alone, CPU seconds of this process (all its threads)
    compile_s: float | None = None  # of fit_s, the first call's compile (estimated)
    phases: list[dict[str, Any]] = field(default_factory=list)  # where the time went
    card: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON-ready fields a history table needs (everything but the card)."""
        data = asdict(self)
        data.pop("card")
        data["best_val_accuracy"] = self.best_metrics.get("val_accuracy")
        return data


def job_seconds(settings: Settings) -> float | None:
    """The job time limit in seconds (``None`` when the limit is 0 or less: no limit)."""
    minutes = settings.limits.job_max_minutes
    return minutes * 60.0 if minutes > 0 else None


def _minutes(minutes: float) -> str:
    """``240`` → ``240 minutes``; ``0.05`` → ``3 seconds``."""
    if minutes >= 1:
        return f"{minutes:g} minute{'s' if minutes != 1 else ''}"
    return f"{minutes * 60:.3g} seconds"


def _where(stopped_at: tuple[int, int] | None, epochs_done: int) -> str:
    if stopped_at:
        return f"in epoch {stopped_at[0]} at batch {stopped_at[1]}"
    return f"after epoch {epochs_done}"


def fit_outcome(callbacks: Any, config: TrainConfig, settings: Settings, *, params: int,
                fit_s: float, fit_cpu_s: float) -> TrainOutcome:
    """Step 4a: completed, stopped (on request, at the time limit) or failed (NaN), with
    the sentence that says why, from the run's callbacks
    (:class:`~dashcore.training.pipeline.RunCallbacks`)."""
    live, best = callbacks.live, callbacks.best
    outcome = TrainOutcome(status=COMPLETED, epochs_done=live.epochs_done,
                           final_metrics=live.last_metrics, best_metrics=best.best_metrics,
                           best_epoch=best.best_epoch, params=params, fit_s=fit_s,
                           fit_cpu_s=fit_cpu_s, compile_s=live.compile_s)
    stop, timer, early = callbacks.stop, callbacks.timer, callbacks.early
    if callbacks.nan.failure:
        outcome.status, outcome.reason = FAILED, callbacks.nan.failure
    elif stop.stop_requested:
        outcome.status = STOPPED
        outcome.reason = f"Stopped on request {_where(stop.stopped_at, live.epochs_done)}."
    elif timer.time_limit_hit:
        outcome.status = STOPPED
        outcome.reason = (f"Stopped {_where(timer.stopped_at, live.epochs_done)}: training "
                          "reached this server's job time limit of "
                          f"{_minutes(settings.limits.job_max_minutes)}. The model so far "
                          "was saved. Use fewer epochs or images to finish in time. "
                          f"{limit_setting('job_max_minutes')}")
    elif early is not None and early.stopped_epoch > 0:
        outcome.reason = (f"Early stopping ended training after epoch {live.epochs_done}: the "
                          f"validation loss had not improved for {config.patience} epoch(s).")
    return outcome


def model_card(config: TrainConfig, outcome: TrainOutcome, start: Any, spec: Any, data: Any,
               plan: Any, weights_used: str, *, name: str | None, owner: str | None,
               run_id: str | None, start_accuracy: float | None) -> dict[str, Any]:
    """Step 4b: the model card: what was trained, how, on what, and how well; with the
    backend and the device it ran on, so a result can be reproduced."""
    card = {
        "name": name or config.default_name(), "owner": owner, "source": "trained",
        "run_id": run_id, "status": outcome.status, "dataset": config.dataset,
        "spec": spec.to_dict(), "hyperparameters": config.to_dict(), "seed": config.seed,
        "epochs_done": outcome.epochs_done, "final_metrics": outcome.final_metrics,
        "best_metrics": outcome.best_metrics, "best_epoch": outcome.best_epoch,
        "weights": weights_used, "test_accuracy": outcome.test_accuracy,
        "test_loss": outcome.test_loss, "duration_s": round(outcome.duration_s, 2),
        "fit_s": round(outcome.fit_s, 2),
        "compile_s": round(outcome.compile_s, 2) if outcome.compile_s is not None else None,
        "versions": library_versions(), "backend": backend_name(),
        "input_shape": list(data.input_shape), "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "classes": sorted(set(config.classes)) if config.classes else None,
        "params": outcome.params, "device": plan.describe(), "device_notes": list(plan.notes),
        "gpus": list(plan.gpu_names), "dtype_policy": plan.policy,
        "steps_per_execution": plan.steps_per_execution,
        "sweep": config.sweep,  # {"id", "name", "trial"} for a sweep's trial, else None
        "phases": outcome.phases,  # [{"phase", "s", "done"}]: where the run's time went
        "test_metrics": outcome.test_metrics,
    }
    if data.table is not None:  # what /evaluate and /predict need to read new rows
        card.update({"task": data.table.task, "table": data.table.meta(),
                     "output_activation": data.output_activation})
    if start.resumed is not None:
        card["continued_from_epoch"] = start.resumed.epoch
    if start.parent is not None:
        parent = start.parent
        card.update({"parent_model": config.start_model, "parent_name": parent.get("name"),
                     "parent_dataset": parent.get("dataset"), "spec": parent.get("spec"),
                     "trainable_last": config.trainable_last,
                     "start_test_accuracy": start_accuracy,
                     "mnist_test_accuracy": mnist_test_accuracy(start.model)})
    return card
