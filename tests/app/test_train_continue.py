"""/train: a finished run with a whole-epoch checkpoint offers "Continue"; the form offers a
saved model to start from (fine-tuning). No worker starts: a busy slot keeps runs queued."""

from __future__ import annotations

import pytest

from dashcore.models import registry
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import QUEUED, STOPPED
from dashcore.training.checkpoints import STATE_FILE
from tests.helpers.pages import busy_slot, finished_run, open_train, submit


def with_checkpoint(run_id: str, epoch: int) -> None:
    folder = get_settings().runs_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"checkpoint-e{epoch:04d}.keras").write_bytes(b"stand-in")
    (folder / STATE_FILE).write_text(f'{{"epoch": {epoch}, "file": '
                                     f'"checkpoint-e{epoch:04d}.keras", "seed": 42}}')


def test_a_stopped_run_is_continued_as_itself_and_its_epochs_go_on(settings) -> None:
    busy_slot()
    finished_run("r-stopped", "stopped early", status=STOPPED, reason="Stopped on request.")
    with_checkpoint("r-stopped", 2)
    at = open_train()
    at.selectbox(key="train_watch").set_value("r-stopped").run()
    assert "from epoch 2" in " ".join(m.value for m in at.markdown)
    at.number_input(key="continue_more_r-stopped").set_value(3)
    at.button(key="continue_button").click().run()
    assert not at.exception, at.exception
    run = open_store(settings).get_run("r-stopped")
    assert run.status == QUEUED and run.config["epochs"] == 5 and run.config["resume"]
    assert run.summary["parts"][0]["epochs"] == [1, 2]
    assert "3 more epoch(s) from epoch 2" in at.success[0].value


def test_continuing_as_a_new_run_watches_the_new_run(settings) -> None:
    busy_slot()
    finished_run("r-done", "done once")
    with_checkpoint("r-done", 2)
    at = open_train()
    at.selectbox(key="train_watch").set_value("r-done").run()
    at.radio(key="continue_how_r-done").set_value("a new run")
    at.button(key="continue_button").click().run()
    assert not at.exception, at.exception
    child = at.selectbox(key="train_watch").value
    assert child != "r-done"
    run = open_store(settings).get_run(child)
    assert run.name == "done once (continued)" and run.summary["parent_run"] == "r-done"


def test_a_run_without_a_whole_epoch_says_it_cannot_be_continued() -> None:
    finished_run("r-early", "ended early", status=STOPPED)
    at = open_train()
    at.selectbox(key="train_watch").set_value("r-early").run()
    assert any("cannot be continued" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "continue_button"]


@pytest.mark.slow
def test_fine_tuning_a_model_of_another_shape_is_refused_with_a_sentence(settings) -> None:
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    entry = registry.save_model(model, {"name": "Two classes", "input_shape": [28, 28, 1],
                                        "num_classes": 2}, settings=settings)
    at = open_train()
    at.selectbox(key="train_start_from").set_value(entry.model_id)
    submit(at)
    assert "tells 2 classes apart, but MNIST" in " ".join(e.value for e in at.error)
    assert not open_store(settings).list_runs()
