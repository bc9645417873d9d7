"""/train in Streamlit's AppTest: the form, its sentences, queueing, stop, and history.

No worker process is started here: a run "owned" by this test process (alive) keeps the
single job slot busy, so a submitted run stays queued where the page can be inspected.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from dashcore.jobs import local
from dashcore.models.specs import ModelSpec
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, QUEUED, RUNNING, STOPPED, RunRecord
from dashcore.training.config import TrainConfig
from tests.app.conftest import open_page


def page() -> AppTest:
    return open_page("train")


def submit(at: AppTest) -> AppTest:
    at.button(key="FormSubmitter:train_form-Train").click().run()
    assert not at.exception, at.exception
    return at


def busy_slot() -> RunRecord:
    """A running run whose 'worker' is this test process: the one job slot is taken."""
    return open_store().create_run(RunRecord(
        run_id="busy", name="busy run", status=RUNNING, config=TrainConfig().to_dict(),
        dataset="MNIST", architecture="CNN 32-64", started=time.time(), pid=os.getpid(),
        pid_created=local.process_identity(os.getpid())))


def finished_run(run_id: str, name: str, status: str = COMPLETED, reason: str | None = None,
                 val_accuracy: float = 0.97) -> RunRecord:
    store = open_store()
    run = store.create_run(RunRecord(
        run_id=run_id, name=name, status=status, config=TrainConfig().to_dict(),
        dataset="MNIST", architecture="CNN 32-64", started=time.time() - 60,
        finished=time.time(), reason=reason))
    store.add_batch_points(run_id, [{"step": s, "epoch": 1 + s // 10, "batch": s % 10 + 1,
                                     "x": (s + 1) / 10, "loss": 1.0 / (s + 1),
                                     "accuracy": 0.5} for s in range(20)])
    for epoch in (1, 2):
        store.add_epoch_point(run_id, {"epoch": epoch, "x": epoch, "loss": 0.3 / epoch,
                                       "accuracy": 0.9, "val_loss": 0.2,
                                       "val_accuracy": val_accuracy})
    store.update_run(run_id, summary={"test_accuracy": 0.9876, "test_loss": 0.04,
                                      "best_epoch": 2, "model_id": "m-1",
                                      "best_val_accuracy": val_accuracy},
                     progress={"epoch": 2, "epochs": 2, "batch": 10, "steps": 10,
                               "fraction": 1.0, "phase": "finished"})
    return run


def figure_of(at: AppTest, key: str) -> dict:
    """The Plotly figure a chart element sends to the browser."""
    for element in at.get("plotly_chart"):
        if key in element.proto.id:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart with key {key}")


def test_the_form_starts_from_the_tutorial_recipe_and_says_there_are_no_runs():
    at = page()
    assert at.selectbox(key="train_arch").value == "CNN 32-64"
    assert at.selectbox(key="train_optimizer").value == "adam"
    assert (at.number_input(key="train_lr").value, at.number_input(key="train_batch").value,
            at.number_input(key="train_epochs").value,
            at.number_input(key="train_val").value) == (0.001, 128, 5, 0.1)
    assert at.selectbox(key="train_loss").value == "auto"  # cross-entropy for images
    assert any("No runs yet" in info.value for info in at.info)


def test_impossible_values_are_refused_with_one_sentence_each_and_nothing_is_queued():
    at = page()
    at.number_input(key="train_batch").set_value(0)
    at.number_input(key="train_val").set_value(1.0)
    at.number_input(key="train_epochs").set_value(10_000)
    at.number_input(key="train_lr").set_value(50.0)
    submit(at)
    errors = [e.value for e in at.error]
    assert any(e.startswith("Batch size 0 is not allowed") for e in errors)
    assert any(e.startswith("Validation split 1 is not allowed") for e in errors)
    assert any(e.startswith("10,000 epochs is not allowed") for e in errors)
    assert any(e.startswith("Learning rate 50 is not allowed") for e in errors)
    assert open_store().list_runs() == []


def test_a_model_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setenv("DASHCORE_MAX_PARAMS", "1000")
    at = submit(page())
    assert any("parameters" in e.value for e in at.error)
    assert open_store().list_runs() == []


def test_pressing_train_shows_the_run_at_once_with_its_queue_place_and_stop_works():
    busy_slot()
    at = page()
    at.selectbox(key="train_arch").set_value("Dense 64")
    at.multiselect(key="train_classes").set_value([3, 8])
    submit(at)
    runs = {r.name: r for r in open_store().list_runs()}
    new = next(r for name, r in runs.items() if name != "busy run")
    assert new.status == QUEUED and new.config["classes"] == [3, 8]
    assert new.name == "Dense 64 · MNIST [3 vs 8] · Adam 0.001 · 5 ep"
    assert at.session_state["train_watch"] == new.run_id
    assert any("position 1 in the queue" in m.value for m in at.markdown)

    at.button(key="stop_button").click().run()
    assert open_store().get_run(new.run_id).status == STOPPED


def test_a_run_can_be_renamed_from_the_live_panel():
    finished_run("done", "old name")
    at = page()
    at.text_input(key="name_done").set_value("new name").run()
    assert open_store().get_run("done").name == "new name"


def test_a_finished_run_shows_its_curves_results_and_history_row():
    finished_run("a", "first", val_accuracy=0.95)
    finished_run("b", "second", val_accuracy=0.97)
    at = page()
    live = figure_of(at, "live_chart")
    batch_trace = live["data"][0]
    assert batch_trace["name"] == "training, per batch" and len(batch_trace["x"]) == 20
    assert any("Test accuracy 0.9876" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert list(table["Name"]) == ["second", "first"]
    assert list(table["Status"]) == [COMPLETED, COMPLETED]
    overlay = figure_of(at, "overlay_chart")
    assert {trace["name"] for trace in overlay["data"]} == {"first", "second"}
    assert overlay["data"][0]["y"] in ([0.95, 0.95], [0.97, 0.97])


def test_a_failed_run_shows_why():
    finished_run("f", "broken", status=FAILED, reason="The worker process was killed (SIGKILL).")
    at = page()
    assert any("killed (SIGKILL)" in e.value for e in at.error)


@pytest.mark.parametrize("has_custom", [True, False])
def test_the_model_built_on_the_architecture_page_is_offered(has_custom):
    state = {"arch_spec": ModelSpec(name="My net", layers=[
        {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"},
    ]).to_dict()} if has_custom else {}
    at = open_page("train", state)
    options = at.selectbox(key="train_arch").options
    assert ("Built on /architecture: My net" in options) is has_custom
