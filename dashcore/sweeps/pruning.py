"""Pruning from live metrics: a trial's worker reports each epoch's validation value to its
Optuna trial and ends training when the pruner says the trial is hopeless.

:class:`ReportToTrial` is a Keras callback that knows nothing of Optuna: it hands each
epoch's value to a ``report`` function and stops when that returns a sentence.
:func:`trial_pruning` builds it for a sweep's run in the worker; the worker then records
the run as ``stopped`` with that sentence and ``summary["pruned"] = True``, and the
dispatcher tells the study the trial was pruned (not failed).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from statistics import median
from typing import Any

import keras

from dashcore.settings import Settings
from dashcore.store.runs import RunRecord


class ReportToTrial(keras.callbacks.Callback):
    """After each epoch, report ``logs[metric]``; stop training if the report says prune.

    Args:
        report: called with (1-based epoch, value); returns the pruning sentence, or
            ``None`` to go on.
        metric: the epoch log to report, e.g. ``"val_accuracy"``.

    Example:
        >>> cb = ReportToTrial(lambda epoch, value: None, "val_accuracy")
    """

    def __init__(self, report: Callable[[int, float], str | None], metric: str) -> None:
        super().__init__()
        self.report = report
        self.metric = metric
        self.pruned: str | None = None  # the sentence, once the trial was pruned
        self.pruned_after: int | None = None  # 1-based epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Report this epoch's value; a pruned trial stops here (after a whole epoch)."""
        value = (logs or {}).get(self.metric)
        if value is None or self.pruned:
            return
        try:
            reason = self.report(epoch + 1, float(value))
        except Exception:  # noqa: BLE001 - a busy study database must not end the run
            traceback.print_exc(file=sys.stderr)
            return
        if reason:
            self.pruned, self.pruned_after = reason, epoch + 1
            self.model.stop_training = True


def _median_sentence(study: Any, step: int, value: float, label: str, direction: str) -> str:
    """Why the median pruner stopped a trial, with the numbers it compared."""
    from optuna.trial import TrialState

    earlier = [t.intermediate_values[step] for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE,)) if step in t.intermediate_values]
    worse = "below" if direction == "maximize" else "above"
    middle = f" {median(earlier):.4f}" if earlier else ""
    return (f"Pruned by the median pruner after epoch {step}: its {label} {value:.4f} was "
            f"{worse} the median{middle} of {len(earlier)} earlier finished trial(s) at that "
            "epoch, so it was stopped to make room for more promising ones. Its model so far "
            "was saved.")


def trial_pruning(run: RunRecord, settings: Settings) -> ReportToTrial | None:
    """The callback for a sweep's run (``None`` for an ordinary run or a lost sweep)."""
    ref = (run.config or {}).get("sweep")
    if not isinstance(ref, dict) or "number" not in ref:
        return None
    import optuna

    from dashcore.errors import NotFoundError
    from dashcore.sweeps.study import load_sweep, storage

    try:
        sweep = load_sweep(str(ref["id"]), settings)
    except NotFoundError:
        return None
    store = storage(settings)
    trial_id = store.get_trial_id_from_study_id_trial_number(
        store.get_study_id_from_name(sweep.sweep_id), int(ref["number"]))
    trial = optuna.trial.Trial(sweep.study, trial_id)
    plan = sweep.plan

    def report(step: int, value: float) -> str | None:
        trial.report(value, step)
        if plan.pruner == "none" or not trial.should_prune():
            return None
        return _median_sentence(sweep.study, step, value, plan.metric_label, plan.direction)

    return ReportToTrial(report, plan.metric)


def advance_sweeps(settings: Settings) -> None:
    """Move sweeps along as a run ends (from the worker): tell its value, queue the next."""
    from dashcore.sweeps import optuna_missing

    if optuna_missing():
        return
    from dashcore.sweeps.dispatch import advance

    try:
        advance(settings)
    except Exception:  # noqa: BLE001 - the next page poll advances instead
        traceback.print_exc()
