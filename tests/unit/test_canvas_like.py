"""Canvas-like digits, the canvas-ready training option and the held-out range."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from dashcore.datasets.canvas_like import canvas_like_images, render
from dashcore.datasets.catalog import load_mnist
from dashcore.datasets.strokes import REPLAY_RANGE
from dashcore.models import default_model
from dashcore.settings import get_settings
from dashcore.training.config import TrainConfig
from dashcore.training.data import prepare_data


def test_a_one_point_stroke_is_a_round_dot_and_lines_are_white_on_black() -> None:
    canvas = render([np.array([[100.0, 100.0]]), np.array([[20.0, 20.0], [60.0, 20.0]])], 10)
    assert canvas.shape == (280, 280) and canvas.dtype == np.uint8
    assert canvas[100, 100] == 255 and canvas[20, 40] == 255 and canvas[200, 200] == 0
    assert 60 < np.count_nonzero(canvas[90:111, 90:111]) < 110  # a disc of diameter 10


def test_renderings_look_like_mnist_input_and_are_cached(tmp_path: Path) -> None:
    dataset = load_mnist()
    x, y = canvas_like_images(dataset.x_train[:20], dataset.y_train[:20], seed=1,
                              cache_dir=tmp_path)
    assert x.shape == (20, 28, 28) and x.dtype == np.uint8
    assert y.tolist() == dataset.y_train[:20].tolist()
    assert x.max() == 255 and (x[:, :2] == 0).all()  # ink normalised, a margin like MNIST's
    assert len(list(tmp_path.glob("canvas_like-*.npz"))) == 1
    again, _ = canvas_like_images(dataset.x_train[:20], dataset.y_train[:20], seed=1,
                                  cache_dir=tmp_path)
    assert np.array_equal(again, x)


def test_canvas_ready_adds_a_rendering_of_every_training_and_validation_digit() -> None:
    settings = get_settings()
    plain = prepare_data(TrainConfig(max_train_images=40, seed=5), settings)
    ready = prepare_data(TrainConfig(max_train_images=40, seed=5, canvas_ready=True), settings)
    assert len(ready.x_train) == 2 * len(plain.x_train) == 72
    assert len(ready.x_val) == 2 * len(plain.x_val) == 8
    assert np.array_equal(ready.x_train[:36], plain.x_train)
    assert np.array_equal(ready.y_train[36:], plain.y_train)  # same digits, same labels
    assert ready.x_train.dtype == np.float32 and ready.x_train.shape[1:] == (28, 28, 1)


def test_canvas_ready_is_a_checked_training_setting() -> None:
    assert TrainConfig().canvas_ready is False
    assert TrainConfig(canvas_ready="yes").validate()  # type: ignore[arg-type]
    assert TrainConfig(holdout_last=-1).validate()


def test_the_default_model_never_trains_or_validates_on_the_held_out_replay_digits(
        settings) -> None:
    config = default_model.default_config()
    assert config.holdout_last == len(REPLAY_RANGE) and config.canvas_ready
    data = prepare_data(dataclasses.replace(config, canvas_ready=False), settings=settings)
    mnist = load_mnist()
    assert len(data.x_train) + len(data.x_val) == REPLAY_RANGE.start
    seen = {row.tobytes() for row in np.round(np.concatenate([data.x_train, data.x_val])
                                              * 255).astype(np.uint8)}
    held_out = [x.tobytes() for x in mnist.x_train[REPLAY_RANGE.start:REPLAY_RANGE.stop]]
    duplicates = {x.tobytes() for x in mnist.x_train[:REPLAY_RANGE.start]}
    assert not [h for h in held_out if h in seen and h not in duplicates]
