"""/train in Streamlit's AppTest: the form, its sentences, queueing, stop, and history.

No worker process is started here: a run "owned" by this test process (alive) keeps the
single job slot busy, so a submitted run stays queued where the page can be inspected.
"""

from __future__ import annotations

import pytest

from dashcore.models.specs import ModelSpec
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import COMPLETED, FAILED, QUEUED, STOPPED
from tests.helpers.pages import busy_slot, figure_of, finished_run, open_page, open_train, submit


def test_the_form_starts_from_the_tutorial_recipe_and_says_there_are_no_runs():
    at = open_train()
    assert at.selectbox(key="train_arch").value == "CNN 32-64"
    assert at.selectbox(key="train_optimizer").value == "adam"
    assert (at.number_input(key="train_lr").value, at.number_input(key="train_batch").value,
            at.number_input(key="train_epochs").value,
            at.number_input(key="train_val").value) == (0.001, 128, 5, 0.1)
    assert at.selectbox(key="train_loss").value == "auto"  # cross-entropy for images
    assert any("No runs yet" in info.value for info in at.info)


def test_impossible_values_are_refused_with_one_sentence_each_and_nothing_is_queued(settings):
    at = open_train()
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
    assert open_store(settings).list_runs() == []


def test_a_model_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setenv("DASHCORE_MAX_PARAMS", "1000")
    at = submit(open_train())
    assert any("parameters" in e.value for e in at.error)
    assert open_store(get_settings()).list_runs() == []


def test_pressing_train_shows_the_run_at_once_with_its_queue_place_and_stop_works(settings):
    busy_slot()
    at = open_train()
    at.selectbox(key="train_arch").set_value("Dense 64")
    at.multiselect(key="train_classes").set_value([3, 8])
    submit(at)
    runs = {r.name: r for r in open_store(settings).list_runs()}
    new = next(r for name, r in runs.items() if name != "busy run")
    assert new.status == QUEUED and new.config["classes"] == [3, 8]
    assert new.name == "Dense 64 · MNIST [3 vs 8] · Adam 0.001 · 5 ep"
    assert at.session_state["train_watch"] == new.run_id
    assert any("position 1 in the queue" in m.value for m in at.markdown)

    at.button(key="stop_button").click().run()
    assert open_store(settings).get_run(new.run_id).status == STOPPED


def test_a_run_can_be_renamed_from_the_live_panel(settings):
    finished_run("done", "old name")
    at = open_train()
    at.text_input(key="name_done").set_value("new name").run()
    assert open_store(settings).get_run("done").name == "new name"


def test_a_finished_run_shows_its_curves_results_and_history_row():
    finished_run("a", "first", val_accuracy=0.95)
    finished_run("b", "second", val_accuracy=0.97)
    at = open_train()
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
    at = open_train()
    assert any("killed (SIGKILL)" in e.value for e in at.error)


@pytest.mark.parametrize("has_custom", [True, False])
def test_the_model_built_on_the_architecture_page_is_offered(has_custom):
    state = {"arch_spec": ModelSpec(name="My net", layers=[
        {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"},
    ]).to_dict()} if has_custom else {}
    at = open_page("train", state)
    options = at.selectbox(key="train_arch").options
    assert ("Built on /architecture: My net" in options) is has_custom
