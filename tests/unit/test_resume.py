"""Continuing a run gives the curve it would have had without stopping.

Tolerance: per-epoch metrics of "2 epochs straight" and "1 epoch, then 1 more resumed"
agree within RESUME_ATOL (float32 arithmetic, oneDNN's op order; in practice they are equal
to ~1e-6).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashcore.errors import UserError
from dashcore.settings import get_settings
from dashcore.training.checkpoints import STATE_FILE, read_checkpoint
from dashcore.training.config import TrainConfig
from dashcore.training.pipeline import train_in_process

pytestmark = [pytest.mark.slow, pytest.mark.backends]
RESUME_ATOL = 1e-4
TINY = {"name": "Tiny dropout", "layers": [
    {"type": "Flatten"}, {"type": "Dense", "units": 16, "activation": "relu"},
    {"type": "Dropout", "rate": 0.3}, {"type": "Dense", "units": 10, "activation": "softmax"}]}


class ListSink:
    """Keeps every epoch point, as the run store would."""

    def __init__(self) -> None:
        self.epochs: dict[int, dict[str, Any]] = {}

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        pass

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        self.epochs[point["epoch"]] = point


def config(epochs: int, **changes: Any) -> TrainConfig:
    return TrainConfig(architecture=TINY, epochs=epochs, max_train_images=300,
                       validation_split=0.2, batch_size=32, seed=7, **changes)


METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def assert_same_epoch(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in METRICS:
        assert a[key] == pytest.approx(b[key], abs=RESUME_ATOL), key


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> tuple[ListSink, Any]:
    sink = ListSink()
    outcome = train_in_process(config(2), sink, run_dir=tmp_path_factory.mktemp("straight"),
                               register=False, settings=get_settings())
    return sink, outcome


def test_a_completed_run_continued_for_one_more_epoch_matches_two_straight(
        straight, tmp_path: Path, settings) -> None:
    first = ListSink()
    done = train_in_process(config(1), first, run_dir=tmp_path, register=False, settings=settings)
    assert done.status == "completed" and read_checkpoint(tmp_path).epoch == 1
    second = ListSink()
    more = train_in_process(config(2, resume=True), second, run_dir=tmp_path, register=False,
                            settings=settings)
    assert more.status == "completed" and more.epochs_done == 2
    assert list(second.epochs) == [2]  # numbering goes on from where it stopped
    assert_same_epoch(first.epochs[1], straight[0].epochs[1])
    assert_same_epoch(second.epochs[2], straight[0].epochs[2])
    assert more.test_accuracy == pytest.approx(straight[1].test_accuracy, abs=RESUME_ATOL)
    assert more.card["continued_from_epoch"] == 1
    assert read_checkpoint(tmp_path).epoch == 2
    assert len(list(tmp_path.glob("checkpoint-e*.keras"))) == 1  # the older one is dropped


def test_a_run_stopped_mid_epoch_resumes_from_the_last_whole_epoch(straight, tmp_path,
                                                                   settings) -> None:
    batches = {"n": 0}

    def stop_in_epoch_two() -> bool:
        batches["n"] += 1
        return batches["n"] >= 8 + 3  # 8 batches per epoch (240 images / 32), then 3 more

    stopped = train_in_process(config(2), ListSink(), stop_in_epoch_two, run_dir=tmp_path,
                               register=False, settings=settings)
    assert stopped.status == "stopped" and "in epoch 2" in stopped.reason
    assert read_checkpoint(tmp_path).epoch == 1  # the cut-short epoch is not a checkpoint
    resumed = ListSink()
    more = train_in_process(config(2, resume=True), resumed, run_dir=tmp_path, register=False,
                            settings=settings)
    assert more.status == "completed"
    assert_same_epoch(resumed.epochs[2], straight[0].epochs[2])


def test_the_best_epoch_so_far_survives_the_restart(tmp_path, settings) -> None:
    train_in_process(config(1), ListSink(), run_dir=tmp_path, register=False, settings=settings)
    state = read_checkpoint(tmp_path)
    assert state.best_epoch == 1 and "val_loss" in state.best_metrics
    more = train_in_process(config(2, resume=True), ListSink(), run_dir=tmp_path,
                            register=False, settings=settings)
    assert more.best_epoch in (1, 2) and more.best_metrics


def test_without_a_whole_epoch_there_is_nothing_to_continue(tmp_path, settings) -> None:
    stopped = train_in_process(config(1), ListSink(), lambda: True, run_dir=tmp_path,
                               register=False, settings=settings)
    assert stopped.status == "stopped" and not (tmp_path / STATE_FILE).exists()
    with pytest.raises(UserError, match="no checkpoint of a whole epoch"):
        train_in_process(config(2, resume=True), ListSink(), run_dir=tmp_path, register=False,
                         settings=settings)


def test_asking_for_no_more_epochs_than_done_is_refused(tmp_path, settings) -> None:
    train_in_process(config(1), ListSink(), run_dir=tmp_path, register=False, settings=settings)
    with pytest.raises(UserError, match="already done 1 epochs"):
        train_in_process(config(1, resume=True), ListSink(), run_dir=tmp_path, register=False,
                         settings=settings)


def test_an_augmented_run_resumes_with_the_same_random_transformations(tmp_path, settings) -> None:
    """Augmentation runs inside the compiled step with its own generator; the checkpoint
    keeps that generator's state, so the resumed epoch sees the same transformed images."""
    straight_sink = ListSink()
    train_in_process(config(2, augment=True), straight_sink, run_dir=tmp_path / "a",
                     register=False, settings=settings)
    first = ListSink()
    train_in_process(config(1, augment=True), first, run_dir=tmp_path / "b", register=False,
                     settings=settings)
    resumed = ListSink()
    more = train_in_process(config(2, augment=True, resume=True), resumed,
                            run_dir=tmp_path / "b", register=False, settings=settings)
    assert more.status == "completed"
    assert_same_epoch(resumed.epochs[2], straight_sink.epochs[2])
    saved = [layer.name for layer in more_layers(tmp_path / "b")]
    assert "augment" not in saved  # the checkpoint is the spec's layers alone


def more_layers(run_dir: Path) -> list[Any]:
    import keras

    state = read_checkpoint(run_dir)
    return keras.saving.load_model(str(run_dir / state.file)).layers
