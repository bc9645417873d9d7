"""The second stroke extractor: faithful to the digit, unlike the first, from MNIST's test set."""

from __future__ import annotations

import numpy as np
import pytest

from dashcore.datasets.canvas_like import Pose, place, render
from dashcore.datasets.catalog import load_mnist
from dashcore.datasets.strokes import digit_strokes
from dashcore.datasets.walked_strokes import guo_hall, never_seen_set, walked_strokes
from dashcore.inference.preprocess import preprocess


def _redraw(strokes: list[np.ndarray]) -> np.ndarray:
    pose = Pose(height=0.6 * 280, brush=18, centre=(140.0, 140.0))
    return preprocess(render(place(strokes, pose), pose.brush))[0]


def test_walked_strokes_are_polylines_of_x_y_in_the_unit_frame() -> None:
    strokes = walked_strokes(load_mnist().x_test[0])
    assert strokes
    for stroke in strokes:
        assert stroke.ndim == 2 and stroke.shape[1] == 2 and len(stroke) >= 2
        assert stroke.min() >= 0.0 and stroke.max() <= 1.0


def test_redrawn_walked_strokes_look_like_the_digit_they_came_from() -> None:
    images = load_mnist().x_test[:40]
    correlations = [np.corrcoef(_redraw(walked_strokes(x)).ravel(), x.ravel())[0, 1]
                    for x in images]
    assert np.median(correlations) > 0.65 and min(correlations) > 0.2


def test_the_two_extractors_trace_the_same_digit_differently() -> None:
    image = load_mnist().x_test[3]
    first, second = digit_strokes(image), walked_strokes(image)
    points = [np.concatenate(s) for s in (first, second)]
    assert len(points[0]) != len(points[1]) or not np.allclose(points[0], points[1])


def test_guo_hall_leaves_a_one_pixel_line_inside_the_ink() -> None:
    mask = np.zeros((30, 30), bool)
    mask[5:25, 12:19] = True  # a 7-pixel-wide bar
    skeleton = guo_hall(mask)
    assert skeleton.any() and not (skeleton & ~mask).any()
    assert (skeleton.sum(axis=1) <= 2).all()  # thin across the bar
    assert not walked_strokes(np.zeros((28, 28), np.uint8))  # no ink, no strokes


def test_the_never_seen_set_is_mnist_test_digits_with_their_labels() -> None:
    sets = never_seen_set(5, seed=3)
    picks = np.random.default_rng(3).choice(10_000, size=5, replace=False)
    assert [label for label, _ in sets] == load_mnist().y_test[picks].tolist()
    assert never_seen_set(5, seed=3)[0][1][0].tolist() == sets[0][1][0].tolist()
    with pytest.raises(ValueError, match="count must be from 0 to 10000"):
        never_seen_set(10_001)
