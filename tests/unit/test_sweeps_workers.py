"""Sweeps with real tiny worker processes: a 4-trial sweep to its end, a trial with an
absurd learning rate pruned after its first epoch by the median pruner, and trials that
follow one another in one worker process (or, with the option off, each in its own)."""

from __future__ import annotations

import optuna
import pytest

from dashcore.jobs import queue
from dashcore.models.registry import model_file, read_card
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, STOPPED, RunRecord
from dashcore.sweeps import dispatch, study
from dashcore.training.config import TrainConfig
from tests.helpers.jobs import finished, wait_for
from tests.helpers.sweeps import BASE, plan

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_stray_workers")]


def sweep_done(sweep_id: str):
    def check() -> bool:
        dispatch.advance(get_settings())  # what the sweep page's poll does
        return study.load_sweep(sweep_id, get_settings()).status != study.RUNNING_SWEEP
    return check


def test_a_four_trial_sweep_completes_and_its_best_trial_is_the_best_run():
    settings = get_settings()
    sweep = dispatch.start_sweep(plan(n_trials=4, parallel=2, pruner="none"), settings)
    wait_for(sweep_done(sweep.sweep_id), "the sweep to finish", timeout=600)

    runs = open_store(settings).list_runs()
    assert len(runs) == 4 and {r.status for r in runs} == {COMPLETED}
    sweep = study.load_sweep(sweep.sweep_id, settings)
    assert sweep.status == study.FINISHED_SWEEP
    best_run = max(runs, key=lambda r: r.summary["best_metrics"]["val_accuracy"])
    assert sweep.best().user_attrs["run_id"] == best_run.run_id
    assert sweep.best().value == pytest.approx(best_run.summary["best_metrics"]["val_accuracy"])
    card = read_card(best_run.summary["model_id"], settings=settings)
    assert card["sweep"]["id"] == sweep.sweep_id and card["sweep"]["name"] == "lr search"
    # every trial reported its epoch to the study as it trained
    assert all(t.intermediate_values for t in sweep.trials())


def test_a_trial_with_an_absurd_learning_rate_is_pruned_after_its_first_epoch():
    settings = get_settings()
    sweep = study.create_sweep(plan(
        n_trials=1, parallel=1, base={**BASE, "epochs": 3},
        vary={"learning_rate": {"low": 0.9, "high": 1.0}}), settings)
    # Two earlier finished trials that reached 0.9 validation accuracy after epoch 1: the
    # median pruner compares the new trial's first epoch with them.
    lr = sweep.plan.distributions()["learning_rate"]
    for _ in range(2):
        sweep.study.add_trial(optuna.trial.create_trial(
            params={"learning_rate": 0.9}, distributions={"learning_rate": lr}, value=0.9,
            intermediate_values={1: 0.9, 2: 0.9, 3: 0.9}))
    dispatch.advance(settings)
    wait_for(sweep_done(sweep.sweep_id), "the sweep to finish", timeout=400)

    (run,) = open_store(settings).list_runs()
    assert run.status == STOPPED and run.summary["pruned"] is True
    assert run.reason.startswith("Pruned by the median pruner after epoch 1: its validation "
                                 "accuracy")
    assert run.summary["epochs_done"] == 1 and run.summary["model_id"]
    (trial,) = study.load_sweep(sweep.sweep_id, settings).trials()
    assert trial.state == optuna.trial.TrialState.PRUNED and list(trial.intermediate_values) == [1]
    assert study.outcome_of(run) == "pruned"


# ---------------------------------------------------------------- trials in one worker


def _sweep_of(trials: list[dict], **changes) -> study.Sweep:
    """A one-at-a-time sweep whose trials have the given values, in order, run to its end
    while the test polls ``advance`` as /sweep does."""
    settings = get_settings()
    sweep = study.create_sweep(plan(n_trials=len(trials), parallel=1, pruner="none",
                                    **changes), settings)
    for params in trials:
        sweep.study.enqueue_trial(params)
    dispatch.advance(settings)
    wait_for(sweep_done(sweep.sweep_id), "the sweep to finish", timeout=600)
    return study.load_sweep(sweep.sweep_id, settings)


def _trial_runs(sweep: study.Sweep) -> list[RunRecord]:
    store = open_store(get_settings())
    return [store.get_run(t.user_attrs["run_id"]) for t in sweep.trials()]


def _weights(run: RunRecord) -> list:
    import keras

    path = model_file(run.summary["model_id"], settings=get_settings())
    return keras.saving.load_model(path, compile=False).get_weights()


LR = [{"learning_rate": 0.01, "batch_size": 16}, {"learning_rate": 0.003, "batch_size": 32},
      {"learning_rate": 0.001, "batch_size": 16}]


def test_a_sweep_that_shares_its_worker_runs_every_trial_in_one_process():
    sweep = _sweep_of(LR)
    runs = _trial_runs(sweep)
    assert [r.status for r in runs] == [COMPLETED] * 3, [r.reason for r in runs]
    assert len({(r.pid, r.pid_created, r.host) for r in runs}) == 1  # one worker process
    assert [r.summary["worker"] for r in runs] == ["cold", "reused", "reused"]
    assert [t.state for t in sweep.trials()] == [optuna.trial.TrialState.COMPLETE] * 3
    for trial, run in zip(sweep.trials(), runs, strict=True):
        assert trial.value == pytest.approx(run.summary["best_metrics"]["val_accuracy"])
        log = (get_settings().runs_dir / run.run_id / "worker.log").read_text()
        assert f"run {run.run_id}: completed" in log  # each run's log holds its own training
    assert read_card(runs[1].summary["model_id"], settings=get_settings())["worker"] == "reused"


def test_a_trial_in_a_reused_worker_learns_exactly_what_a_fresh_process_learns():
    first, second = _trial_runs(_sweep_of(LR[:2]))
    assert second.summary["worker"] == "reused" and second.pid == first.pid
    config = {k: v for k, v in second.config.items() if k != "sweep"}
    fresh = queue.submit(TrainConfig.from_dict(config), name="fresh", settings=get_settings())
    wait_for(finished(fresh.run_id), "the same trial in a fresh process")
    fresh = open_store(get_settings()).get_run(fresh.run_id)
    assert fresh.status == COMPLETED and fresh.pid != second.pid
    assert fresh.summary["best_metrics"] == second.summary["best_metrics"]
    assert fresh.summary["test_accuracy"] == second.summary["test_accuracy"]
    ours, theirs = _weights(second), _weights(fresh)
    assert len(ours) == len(theirs)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(ours, theirs, strict=True))


def test_stop_on_a_trial_in_a_reused_worker_stops_it_and_the_sweep_goes_on():
    settings = get_settings()
    sweep = study.create_sweep(plan(
        n_trials=3, parallel=1, pruner="none",
        base={**BASE, "batch_log_interval_s": 0.1},
        vary={"epochs": {"low": 1, "high": 200}}), settings)
    for epochs in (1, 200, 1):
        sweep.study.enqueue_trial({"epochs": epochs})
    dispatch.advance(settings)
    store = open_store(settings)

    def second_trains() -> bool:
        runs = [r for r in store.list_runs() if r.name.endswith("trial 2")]
        return bool(runs) and runs[0].status == "running" and len(
            store.batch_points(runs[0].run_id)) >= 2
    wait_for(second_trains, "the second trial to train in the first trial's worker")
    second = next(r for r in store.list_runs() if r.name.endswith("trial 2"))
    queue.stop(second.run_id, settings)
    wait_for(sweep_done(sweep.sweep_id), "the sweep to finish", timeout=600)

    first, second, third = _trial_runs(study.load_sweep(sweep.sweep_id, settings))
    assert second.status == STOPPED and second.reason.startswith("Stopped on request")
    assert second.pid == first.pid and second.summary["worker"] == "reused"
    # A trial stopped by hand ends its worker: the next trial gets a process of its own.
    assert third.status == COMPLETED and third.pid != second.pid
    assert third.summary["worker"] == "cold"
    states = [t.state for t in study.load_sweep(sweep.sweep_id, settings).trials()]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL,
                      optuna.trial.TrialState.COMPLETE]


def test_with_the_option_off_each_trial_runs_in_a_new_process():
    runs = _trial_runs(_sweep_of(LR[:2], same_worker=False))
    assert [r.status for r in runs] == [COMPLETED] * 2
    assert runs[0].pid != runs[1].pid
    assert [r.summary["worker"] for r in runs] == ["cold", "cold"]
