"""What the sweep page shows: a status sentence, the trials table, the best trial, and
Optuna's Plotly figures (each with a sentence instead when there is too little to draw)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashcore.errors import NotFoundError
from dashcore.jobs.display import format_seconds
from dashcore.store.runs import RunRecord, RunStore
from dashcore.sweeps import study as studies
from dashcore.sweeps.space import VARIABLE


def trial_runs(sweep: studies.Sweep, store: RunStore) -> list[tuple[Any, RunRecord | None]]:
    """Each trial with its run (``None`` when the run could not be submitted or is gone)."""
    pairs = []
    for trial in sweep.trials():
        run_id = trial.user_attrs.get("run_id")
        try:
            run = store.get_run(run_id) if run_id else None
        except NotFoundError:
            run = None
        pairs.append((trial, run))
    return pairs


def status_sentence(sweep: studies.Sweep, pairs: list[tuple[Any, RunRecord | None]]) -> str:
    """``Running: 3 of 12 trials asked, 1 running, 1 pruned; best validation accuracy 0.97.``"""
    counts: dict[str, int] = {}
    for _, run in pairs:
        key = studies.outcome_of(run) if run else "not started"
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    best = sweep.best()
    best_text = (f"; best {sweep.plan.metric_label} so far {best.value:.4f}" if best else
                 "; no trial has finished yet")
    state = {studies.RUNNING_SWEEP: "Running", studies.STOPPED_SWEEP: "Stopped (no more "
             "trials will be queued)", studies.FINISHED_SWEEP: "Finished"}[sweep.status]
    waiting = ""
    if (sweep.status == studies.RUNNING_SWEEP and len(pairs) < sweep.plan.n_trials
            and not any(run is not None and run.active for _, run in pairs)):
        waiting = (" Waiting to queue the next trial: its owner has no free queued-or-running "
                   "slot, or their disk quota is used up.")
    return (f"{state}: {len(pairs)} of {sweep.plan.n_trials} trials started"
            + (f" ({', '.join(parts)})" if parts else "") + best_text + "." + waiting)


def trial_rows(sweep: studies.Sweep, pairs: list[tuple[Any, RunRecord | None]]
               ) -> list[dict[str, Any]]:
    """One row per trial: number, status, the varied values, its value, epochs, duration."""
    rows = []
    for index, (trial, run) in enumerate(pairs, start=1):
        row: dict[str, Any] = {"Trial": index,
                               "Status": studies.outcome_of(run) if run else "not started"}
        for name in sweep.plan.vary:
            value = trial.params.get(name)
            row[VARIABLE[name][1].capitalize()] = value if not isinstance(value, float) \
                else float(f"{value:.4g}")
        row[sweep.plan.metric_label.capitalize()] = trial.value
        row["Epochs"] = (run.summary.get("epochs_done") if run and not run.active
                         else (run.progress or {}).get("epoch") if run else None)
        row["Duration"] = format_seconds(run.duration_s) if run else "–"
        row["Run"] = run.name if run else trial.user_attrs.get("error", "")
        rows.append(row)
    return rows


@dataclass
class BestTrial:
    """The best finished trial so far and what it produced."""

    number: int  # 1-based, as the trials table counts
    value: float
    run: RunRecord
    model_id: str | None  # its saved model (None if the run saved none)


def best_trial(sweep: studies.Sweep, pairs: list[tuple[Any, RunRecord | None]]
               ) -> BestTrial | None:
    """The best trial with its run and model, or ``None`` before one has finished."""
    best = sweep.best()
    if best is None:
        return None
    for index, (trial, run) in enumerate(pairs, start=1):
        if trial.number == best.number and run is not None:
            return BestTrial(index, float(best.value), run, run.summary.get("model_id"))
    return None


def _complete(sweep: studies.Sweep) -> int:
    from optuna.trial import TrialState

    return sum(t.state == TrialState.COMPLETE for t in sweep.trials())


def figures(sweep: studies.Sweep) -> dict[str, tuple[Any | None, str]]:
    """Title → (Plotly figure, or ``None`` with the sentence why not), in page order."""
    from optuna import visualization as vis

    done, label = _complete(sweep), sweep.plan.metric_label
    reported = any(t.intermediate_values for t in sweep.trials())
    out: dict[str, tuple[Any | None, str]] = {}

    def attempt(title: str, ready: bool, why: str, make: Any) -> None:
        if not ready:
            out[title] = (None, why)
            return
        try:
            fig = make()
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            out[title] = (None, f"Not drawn yet: {exc}")
            return
        fig.update_layout(height=380, margin={"t": 40, "b": 40})
        out[title] = (fig, "")

    attempt("Optimisation history", done >= 1, "Appears once a trial has finished.",
            lambda: vis.plot_optimization_history(sweep.study, target_name=label))
    attempt("Per-epoch values", reported, "Appears when a trial has finished its first epoch.",
            lambda: vis.plot_intermediate_values(sweep.study))
    attempt("Parallel coordinates", done >= 1, "Appears once a trial has finished.",
            lambda: vis.plot_parallel_coordinate(sweep.study, target_name=label))
    attempt("Parameter importances", done >= 2, "Needs at least two finished trials.",
            lambda: vis.plot_param_importances(sweep.study, target_name=label))
    return out
