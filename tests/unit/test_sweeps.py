"""Sweeps: plans and their budget, ask/tell with a fake launcher (no processes), stopping a
sweep, a sweep picked up by another process, and the pruning callback alone.

Real tiny workers: tests/unit/test_sweeps_workers.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import optuna
import pytest

from dashcore.access.auth import User
from dashcore.errors import PermissionDenied, UserError
from dashcore.jobs import queue
from dashcore.jobs.local import process_identity
from dashcore.models.presets import get_preset
from dashcore.settings import Limits, get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import QUEUED, STOPPED
from dashcore.sweeps import dispatch, study
from dashcore.sweeps.pruning import ReportToTrial
from dashcore.sweeps.space import SweepPlan
from dashcore.training.config import TrainConfig
from tests.helpers import REPO_ROOT
from tests.helpers.jobs import FakeLauncher
from tests.helpers.sweeps import BASE, finish, plan

# ---------------------------------------------------------------- plans


def test_a_plan_says_what_it_will_use_before_it_starts():
    sentence = study.describe_budget(plan(vary={"epochs": {"low": 1, "high": 3}}),
                                     get_settings())
    assert "up to 4 runs (12 epochs in all, 300 training images each)" in sentence
    assert "at most 2 at a time: 2 of your 3 queued-or-running runs" in sentence
    assert "This server trains 1 run(s) at once" in sentence
    assert "TMAC per run (this server allows 200)" in sentence
    assert "each run is stopped after 240 minutes" in sentence


def test_a_sweep_whose_costliest_trial_is_over_the_work_budget_is_refused_before_it_starts(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DASHCORE_MAX_TRAINING_TMAC", "0.0001")
    costly = plan(vary={"batch_size": {"choices": [16, 256]}})
    with pytest.raises(UserError, match=r"costliest trial of this sweep \(1 epochs at batch "
                                        r"size 16\) would be refused: This run would cost"):
        dispatch.start_sweep(costly, get_settings(), launcher=FakeLauncher())
    assert open_store(get_settings()).list_runs() == []


@pytest.mark.parametrize(("changes", "words"), [
    ({"parallel": 4}, "more than the 3 runs one person may have queued or running"),
    ({"vary": {}}, "Tick at least one setting to vary"),
    ({"vary": {"dropout": {"low": 0.1, "high": 0.5}}}, "Dense 64 has no Dropout layer"),
    ({"vary": {"learning_rate": {"low": 0.1, "high": 2.0}}}, "at most 1"),
    ({"name": "evil\u202ename"}, "text-direction control"),
    ({"base": {**BASE, "validation_split": 0.0}}, "set a validation split above 0"),
])
def test_an_impossible_plan_is_refused_in_a_sentence(changes, words):
    with pytest.raises(UserError, match=words):
        plan(**changes).check(Limits())


def test_a_trial_gets_its_values_and_dropout_goes_into_every_dropout_layer():
    cnn = TrainConfig(architecture=get_preset("CNN 32-64").to_dict()).to_dict()
    sweep_plan = plan(base=cnn, vary={"dropout": {"low": 0.1, "high": 0.6}})
    config = sweep_plan.trial_config({"dropout": 0.25, "augment": True},
                                     {"id": "s1", "name": "x", "trial": 1, "number": 0})
    rates = [layer["rate"] for layer in config.architecture["layers"]
             if layer["type"] == "Dropout"]
    assert rates == [0.25] and config.augment is True and config.sweep["id"] == "s1"


# ---------------------------------------------------------------- ask / tell


def test_a_sweep_runs_its_trials_as_runs_and_its_best_trial_is_the_best_run(settings):
    settings, launcher = get_settings(), FakeLauncher()
    sweep = dispatch.start_sweep(plan(), settings, owner="ann", launcher=launcher)
    runs = open_store(settings).list_runs()
    assert [r.name for r in runs] == ["lr search · trial 1", "lr search · trial 2"]
    assert all(r.config["sweep"]["id"] == sweep.sweep_id and r.owner == "ann" for r in runs)
    assert dispatch.advance(settings, launcher) == []  # two at once: no room yet

    finish(runs[0].run_id, 0.71)
    finish(runs[1].run_id, 0.93)
    assert len(dispatch.advance(settings, launcher)) == 2
    later = open_store(settings).list_runs()[2:]
    finish(later[0].run_id, 0.80)
    finish(later[1].run_id, 0.60)
    assert dispatch.advance(settings, launcher) == []  # the budget of 4 is used up

    sweep = study.load_sweep(sweep.sweep_id, settings)
    assert sweep.status == study.FINISHED_SWEEP and len(open_store(settings).list_runs()) == 4
    best = sweep.best()
    assert best.user_attrs["run_id"] == runs[1].run_id and best.value == pytest.approx(0.93)
    assert {t.state for t in sweep.trials()} == {optuna.trial.TrialState.COMPLETE}


def test_a_pruned_run_is_told_as_pruned_and_a_failed_one_as_failed(settings):
    settings, launcher = get_settings(), FakeLauncher()
    sweep = dispatch.start_sweep(plan(n_trials=2), settings, launcher=launcher)
    first, second = open_store(settings).list_runs()
    finish(first.run_id, 0.2, status=STOPPED, pruned=True)
    open_store(settings).update_run(second.run_id, status="failed", reason="diverged")
    dispatch.advance(settings, launcher)
    states = [t.state for t in study.load_sweep(sweep.sweep_id, settings).trials()]
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL]
    assert study.outcome_of(open_store(settings).get_run(first.run_id)) == "pruned"


def test_a_sweep_waits_for_a_free_slot_under_the_owners_queued_runs_limit(settings):
    settings, launcher = get_settings(), FakeLauncher()
    from dashcore.jobs import queue

    queue.submit(TrainConfig.from_dict(BASE), owner="ann", launcher=launcher, settings=settings)
    queue.submit(TrainConfig.from_dict(BASE), owner="ann", launcher=launcher, settings=settings)
    dispatch.start_sweep(plan(), settings, owner="ann", launcher=launcher)
    assert len(open_store(settings).list_runs()) == 3  # one slot left of 3: one trial, not two


def test_stopping_a_sweep_stops_its_running_trials_and_queues_no_more(settings):
    settings, launcher = get_settings(), FakeLauncher()
    sweep = dispatch.start_sweep(plan(), settings, owner="ann", launcher=launcher)
    running, queued = open_store(settings).list_runs()
    assert queued.status == QUEUED  # the server trains one run at a time
    with pytest.raises(PermissionDenied):
        dispatch.stop_sweep(sweep.sweep_id, settings, user=User("bob"))

    stopped = dispatch.stop_sweep(sweep.sweep_id, settings, user=User("ann"))
    assert stopped.status == study.STOPPED_SWEEP
    assert open_store(settings).get_run(running.run_id).stop_requested
    assert open_store(settings).get_run(queued.run_id).status == STOPPED
    open_store(settings).update_run(running.run_id, status=STOPPED, reason="Stopped on request.")
    assert dispatch.advance(settings, launcher) == []
    assert len(open_store(settings).list_runs()) == 2
    with pytest.raises(UserError, match="already stopped"):
        dispatch.stop_sweep(sweep.sweep_id, settings)


def test_a_sweep_carries_on_from_another_process(dashcore_home):
    """A restarted server (here: a fresh Python process) finds the sweep in the database,
    tells it the finished trials and queues the next ones."""
    settings, launcher = get_settings(), FakeLauncher()
    sweep = dispatch.start_sweep(plan(), settings, launcher=launcher)
    for run in open_store(get_settings()).list_runs():
        finish(run.run_id, 0.5)
    script = ("import json; from dashcore.settings import get_settings; "
              "from dashcore.sweeps.dispatch import advance; "
              "print(json.dumps(advance(get_settings(), lambda run_id, s: (0, None))))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120, check=True,
                          env={**os.environ, "DASHCORE_HOME": str(dashcore_home),
                               "PYTHONPATH": str(REPO_ROOT)})
    started = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(started) == 2
    sweep = study.load_sweep(sweep.sweep_id, settings)
    assert [t.user_attrs.get("run_id") for t in sweep.trials()][2:] == started
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in sweep.trials()) == 2


# ---------------------------------------------------------------- trials in the same worker


def _offer() -> queue.Offer:
    """What a trial's worker offers as its run ends (this test process stands in for it)."""
    pid = os.getpid()
    return queue.Offer(pid=pid, identity=process_identity(pid),
                       wants=lambda run: bool((run.config.get("sweep") or {}).get(
                           "same_worker")) and run.owner == "ann")


def test_a_finishing_trials_worker_is_handed_its_sweeps_next_trial_through_the_queue(settings):
    settings, launcher = get_settings(), FakeLauncher()
    dispatch.start_sweep(plan(n_trials=3, parallel=1), settings, owner="ann",
                         launcher=launcher)
    (first,) = open_store(settings).list_runs()
    assert first.config["sweep"]["same_worker"] is True

    offer = _offer()
    taken = dispatch.end_trial(settings, lambda: finish(first.run_id, 0.8), offer, launcher)
    second = open_store(settings).get_run(taken)
    assert second.name == "lr search · trial 2" and taken not in launcher.started
    assert second.status == "starting" and second.progress["worker"] == "reused"
    assert (second.pid, second.pid_created) == (offer.pid, offer.identity)
    assert second.host == socket.gethostname()
    (told, _) = study.load_sweep(first.config["sweep"]["id"], settings).trials()
    assert told.state == optuna.trial.TrialState.COMPLETE and told.value == pytest.approx(0.8)

    # Another person's run was queued first: it gets the free slot, not the sweep's trial.
    other = queue.submit(TrainConfig.from_dict(BASE), owner="bob", launcher=launcher,
                         settings=settings)
    assert dispatch.end_trial(settings, lambda: finish(taken, 0.7), _offer(), launcher) is None
    assert open_store(settings).get_run(other.run_id).run_id in launcher.started
    third = open_store(settings).list_runs()[-1]
    assert third.name == "lr search · trial 3" and third.status == QUEUED


def test_a_sweep_that_does_not_share_workers_hands_no_trial_to_the_finishing_worker(settings):
    settings, launcher = get_settings(), FakeLauncher()
    dispatch.start_sweep(plan(n_trials=2, parallel=1, same_worker=False), settings,
                         owner="ann", launcher=launcher)
    (first,) = open_store(settings).list_runs()
    assert "same_worker" not in first.config["sweep"]
    assert dispatch.end_trial(settings, lambda: finish(first.run_id, 0.8), _offer(),
                              launcher) is None
    second = open_store(settings).list_runs()[-1]
    assert second.run_id in launcher.started and second.progress["worker"] == "cold"


def test_whether_trials_share_a_worker_is_kept_with_the_plan_and_on_by_default():
    assert SweepPlan.from_dict({k: v for k, v in plan().to_dict().items()
                                if k != "same_worker"}).same_worker is True
    assert SweepPlan.from_dict(plan(same_worker=False).to_dict()).same_worker is False
    with pytest.raises(UserError, match="share a worker must be on or off"):
        plan(same_worker="yes").check(Limits())


# ---------------------------------------------------------------- the pruning callback


class _Model:
    stop_training = False


def test_the_pruning_callback_stops_after_the_epoch_its_report_prunes():
    seen = []

    def report(epoch: int, value: float) -> str | None:
        seen.append((epoch, value))
        return "Pruned by the median pruner after epoch 2" if epoch == 2 else None

    callback = ReportToTrial(report, "val_accuracy")
    callback.set_model(_Model())
    callback.on_epoch_end(0, {"val_accuracy": 0.5})
    assert not callback.model.stop_training
    callback.on_epoch_end(1, {"val_accuracy": 0.4})
    assert callback.model.stop_training and callback.pruned_after == 2
    assert seen == [(1, 0.5), (2, 0.4)]


def test_a_sweep_waits_while_its_owners_disk_quota_is_used_up(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DASHCORE_USER_DISK_MB", "0")
    settings = get_settings()
    sweep = dispatch.start_sweep(plan(), settings, owner="ann", launcher=FakeLauncher())
    assert open_store(get_settings()).list_runs() == []
    from dashcore.sweeps import display

    sentence = display.status_sentence(sweep, display.trial_runs(sweep, open_store(get_settings())))
    assert "Waiting to queue the next trial" in sentence and "disk quota" in sentence
