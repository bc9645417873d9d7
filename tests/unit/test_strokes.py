"""MNIST digits as pen strokes: faithful to the digit, and drawn from the held-out range."""

from __future__ import annotations

import numpy as np
import pytest

from dashcore.datasets.canvas_like import Pose, place, render
from dashcore.datasets.catalog import load_mnist
from dashcore.datasets.strokes import REPLAY_RANGE, digit_strokes, replay_set, thin
from dashcore.inference.preprocess import preprocess


def _redraw(image: np.ndarray) -> np.ndarray:
    """A digit's strokes drawn upright in the middle of the canvas with /draw's default brush."""
    strokes = digit_strokes(image)
    pose = Pose(height=0.6 * 280, brush=18, centre=(140.0, 140.0))
    return preprocess(render(place(strokes, pose), pose.brush))[0]


def test_strokes_are_ordered_polylines_of_x_y_in_the_unit_frame() -> None:
    strokes = digit_strokes(load_mnist().x_train[0])
    assert strokes
    for stroke in strokes:
        assert stroke.ndim == 2 and stroke.shape[1] == 2 and len(stroke) >= 2
        assert stroke.min() >= 0.0 and stroke.max() <= 1.0


def test_redrawing_a_digit_from_its_strokes_gives_back_an_image_close_to_the_original() -> None:
    images = load_mnist().x_train[:40]
    correlations = [np.corrcoef(_redraw(x).ravel(), x.ravel())[0, 1] for x in images]
    assert np.median(correlations) > 0.65
    assert min(correlations) > 0.2


def test_an_empty_image_has_no_strokes() -> None:
    assert digit_strokes(np.zeros((28, 28), np.uint8)) == []


def test_thinning_leaves_a_one_pixel_line_inside_the_ink() -> None:
    bar = np.zeros((20, 20), bool)
    bar[5:15, 8:12] = True  # a 4-pixel-wide vertical bar
    skeleton = thin(bar)
    assert skeleton.any() and not (skeleton & ~bar).any()
    assert skeleton.sum(axis=1).max() == 1  # one pixel per row


def test_the_replay_set_comes_from_the_held_out_training_digits_with_their_labels() -> None:
    assert REPLAY_RANGE == range(58_000, 60_000)
    assert REPLAY_RANGE.stop == len(load_mnist().x_train)
    pairs = replay_set(5, seed=3)
    again = replay_set(5, seed=3)  # the same seed, the same digits and strokes
    assert all(a[0] == b[0] and all(np.array_equal(s, t) for s, t in zip(a[1], b[1], strict=True))
               for a, b in zip(pairs, again, strict=True))
    picks = np.random.default_rng(3).choice(len(REPLAY_RANGE), size=5, replace=False)
    labels = load_mnist().y_train[REPLAY_RANGE.start + picks]
    assert [label for label, _ in pairs] == labels.tolist()
    assert all(strokes for _, strokes in pairs)


def test_asking_for_more_replay_digits_than_are_held_out_is_refused() -> None:
    with pytest.raises(ValueError, match="2000"):
        replay_set(2001)
