"""Sweeps with real tiny worker processes: a 4-trial sweep to its end, and a trial with an
absurd learning rate pruned after its first epoch by the median pruner."""

from __future__ import annotations

import optuna
import pytest

from dashcore.models.registry import read_card
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, STOPPED
from dashcore.sweeps import dispatch, study
from tests.helpers.jobs import wait_for
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
