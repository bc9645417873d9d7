"""/train in AppTest: a preset with a recommended recipe fills the form; it stays editable.

As in test_train_page.py, a run owned by this test process keeps the single job slot
busy, so a submitted run stays queued and no worker starts.
"""

from __future__ import annotations

import os
import time

from streamlit.testing.v1 import AppTest

from dashcore.jobs import local
from dashcore.store.factory import open_store
from dashcore.store.runs import QUEUED, RUNNING, RunRecord
from dashcore.training.config import TrainConfig
from tests.helpers.pages import open_train


def pick(at: AppTest, preset: str) -> AppTest:
    at.selectbox(key="train_arch").set_value(preset).run()
    assert not at.exception, at.exception
    return at


def recipe_on_screen(at: AppTest) -> tuple:
    return (at.selectbox(key="train_optimizer").value, at.number_input(key="train_lr").value,
            at.number_input(key="train_batch").value, at.number_input(key="train_epochs").value,
            at.selectbox(key="train_schedule").value, at.checkbox(key="train_augment").value)


def test_the_form_starts_with_a_constant_learning_rate():
    assert open_train().selectbox(key="train_schedule").value == "constant"


def test_picking_the_fast_cnn_fills_in_its_one_cycle_recipe_and_says_why():
    at = pick(open_train(), "Fast CNN")
    assert recipe_on_screen(at) == ("adam", 0.01, 128, 1, "one_cycle", False)
    assert any("Recommended recipe for Fast CNN" in c.value for c in at.caption)


def test_picking_the_best_cnn_turns_augmentation_on_and_a_tutorial_preset_turns_it_back():
    at = pick(open_train(), "Best CNN")
    assert recipe_on_screen(at)[4:] == ("one_cycle", True)
    at = pick(at, "CNN 32-64")
    assert recipe_on_screen(at) == ("adam", 0.001, 128, 5, "constant", False)


def test_an_edited_recipe_field_is_what_the_run_gets(settings):
    open_store(settings).create_run(RunRecord(
        run_id="busy", name="busy run", status=RUNNING, config=TrainConfig().to_dict(),
        dataset="MNIST", architecture="CNN 32-64", started=time.time(), pid=os.getpid(),
        pid_created=local.process_identity(os.getpid())))
    at = pick(open_train(), "Fast CNN")
    at.number_input(key="train_epochs").set_value(2)
    at.button(key="FormSubmitter:train_form-Train").click().run()
    assert not at.exception, at.exception
    new = next(r for r in open_store(settings).list_runs() if r.run_id != "busy")
    assert new.status == QUEUED
    assert (new.config["schedule"], new.config["epochs"], new.config["learning_rate"]) == (
        "one_cycle", 2, 0.01)
    assert new.config["architecture"]["name"] == "Fast CNN"
