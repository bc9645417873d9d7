"""/sweep in Streamlit's AppTest: the form and its budget sentence, starting a sweep, the
trials table, best trial, charts and Stop, names shown literally, and Optuna missing.

No worker starts: a run "owned" by this test process keeps the single job slot busy, so
trials stay queued (the fake-launcher trick of test_train_page.py).
"""

from __future__ import annotations

import pytest

from dashcore import sweeps
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import QUEUED, STOPPED
from dashcore.sweeps import dispatch, study
from tests.helpers.jobs import FakeLauncher
from tests.helpers.pages import busy_slot, open_page
from tests.helpers.sweeps import finish, plan


def test_the_form_says_what_a_sweep_will_use_and_what_is_missing():
    at = open_page("sweep")
    assert any("Tick at least one setting to vary" in w.value for w in at.warning)
    assert at.button(key="sweep_start").disabled
    at.checkbox(key="sweep_vary_lr").check().run()
    at.number_input(key="sweep_trials").set_value(5).run()
    (info,) = at.info[:1]
    assert "up to 5 runs (25 epochs in all, 3,000 training images each)" in info.value
    assert not at.button(key="sweep_start").disabled


def test_starting_a_sweep_queues_its_first_trials_as_runs(settings):
    busy_slot()
    at = open_page("sweep")
    at.checkbox(key="sweep_vary_lr").check().run()
    at.number_input(key="sweep_parallel").set_value(2).run()
    at.button(key="sweep_start").click().run()
    assert not at.exception, at.exception
    trials = [r for r in open_store(settings).list_runs() if r.config.get("sweep")]
    assert [r.status for r in trials] == [QUEUED, QUEUED]
    assert trials[0].name == "CNN 32-64 sweep · trial 1"
    assert trials[0].config["sweep"]["same_worker"] is True  # the form's default
    table = at.dataframe[0].value
    assert list(table["Status"]) == [QUEUED, QUEUED]
    assert "Running: 2 of 8 trials started (2 queued)" in at.text[0].value


def test_unticking_the_same_worker_box_gives_every_trial_its_own_worker(settings):
    busy_slot()
    at = open_page("sweep")
    at.checkbox(key="sweep_vary_lr").check().run()
    at.checkbox(key="sweep_same_worker").uncheck().run()
    at.button(key="sweep_start").click().run()
    assert not at.exception, at.exception
    (sweep,) = study.list_sweeps(settings)
    assert sweep.plan.same_worker is False
    trials = [r for r in open_store(settings).list_runs() if r.config.get("sweep")]
    assert trials and "same_worker" not in trials[0].config["sweep"]


def test_a_finished_sweep_shows_its_best_trial_and_charts_and_names_literally():
    settings = get_settings()
    name = "**bold** [link](http://x) <b>"
    sweep = dispatch.start_sweep(plan(name=name, n_trials=2), settings, launcher=FakeLauncher())
    first, second = open_store(settings).list_runs()
    finish(first.run_id, 0.5, model_id="m-first")
    finish(second.run_id, 0.8, model_id="m-second")
    dispatch.advance(settings)
    at = open_page("sweep")
    assert study.load_sweep(sweep.sweep_id, settings).status == study.FINISHED_SWEEP
    texts = [t.value for t in at.text]
    assert f"{name} · trial 2" in texts  # the best run's name, as plain text
    assert not any(name in m.value for m in at.markdown)
    assert any("Best so far:** trial 2, validation accuracy 0.8000" in m.value
               for m in at.markdown)
    subheaders = [h.value for h in at.subheader]
    assert "Parameter importances" in subheaders
    assert at.selectbox(key="sweep_watch").value == sweep.sweep_id


def test_stop_sweep_stops_its_trials():
    busy_slot()
    settings = get_settings()
    sweep = dispatch.start_sweep(plan(), settings)
    at = open_page("sweep")
    at.button(key="sweep_stop").click().run()
    assert not at.exception, at.exception
    assert study.load_sweep(sweep.sweep_id, settings).status == study.STOPPED_SWEEP
    trials = [r for r in open_store(settings).list_runs() if r.config.get("sweep")]
    assert {r.status for r in trials} == {STOPPED}


def test_without_optuna_the_page_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sweeps, "optuna_missing", lambda: sweeps.MISSING_OPTUNA)
    at = open_page("sweep")
    assert "pip install 'dashcore[sweeps]'" in at.error[0].value
