"""Real handwriting on the real canvas: MNIST training digits held out of the default
model's training, skeletonised into pen strokes, replayed with the mouse at 45–80% of the
canvas height anywhere on it; the page is read only when idle.
"""

from __future__ import annotations

import pytest

from dashcore.datasets.strokes import replay_set
from tests.helpers import canvas_driver as cd

pytestmark = pytest.mark.e2e

REPLAYS = 10
AT_LEAST_RIGHT = 8  # top guess right, of REPLAYS


def test_most_replayed_handwritten_digits_are_read_right_by_the_default_model(
        app_url: str, page) -> None:
    page.goto(f"{app_url}/draw")
    cd.wait_idle(page)
    results = cd.replay(page, replay_set(REPLAYS, seed=0), seed=0)
    right = [r for r in results if r["right"]]
    assert len(right) >= AT_LEAST_RIGHT, results
