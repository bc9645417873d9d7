"""Real handwriting on the real canvas: MNIST training digits held out of the default
model's training, skeletonised into pen strokes, replayed with the mouse at 45–80% of the
canvas height anywhere on it; the page is read only when idle.

Until ``dashcore.datasets.strokes`` is on this branch, a stand-in (the hand-drawn digits of
``canvas_driver``, in the same shape) keeps the test running; the bound is the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e import canvas_driver as cd

pytestmark = pytest.mark.e2e

REPLAYS = 10
AT_LEAST_RIGHT = 8  # top guess right, of REPLAYS


def stand_in_replay_set(count: int, seed: int = 0) -> list[tuple[int, list[np.ndarray]]]:
    """``replay_set``'s shape from the hand-drawn digits (only until the real one lands)."""
    order = np.random.default_rng(seed).permutation(10)
    return [(int(d), [np.asarray(s, dtype=float) for s in cd.SIMPLE_DIGITS[int(d)]])
            for d in (order[i % 10] for i in range(count))]


try:
    from dashcore.datasets.strokes import replay_set
except ImportError:
    replay_set = stand_in_replay_set


def test_most_replayed_handwritten_digits_are_read_right_by_the_default_model(
        app_url: str, page) -> None:
    page.goto(f"{app_url}/draw")
    cd.wait_idle(page)
    results = cd.replay(page, replay_set(REPLAYS, seed=0), seed=0)
    right = [r for r in results if r["right"]]
    assert len(right) >= AT_LEAST_RIGHT, results
