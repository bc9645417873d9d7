"""The canvas-ready training draws digits the way /draw's canvas in Chromium draws them.

The training renders strokes offline (``dashcore.datasets.canvas_like.render``); people
draw on a Fabric.js canvas that smooths the pointer's path and anti-aliases it. If a canvas
upgrade changed how strokes look (a thinner brush, another smoothing), models trained for
the canvas would quietly train on drawings unlike people's. Three never-seen digits are
drawn with the mouse and read back from the canvas, then rendered offline from the same
placed strokes.
"""

from __future__ import annotations

import numpy as np
import pytest

from dashcore.datasets.walked_strokes import never_seen_set
from tests.helpers import canvas_driver as cd

pytestmark = pytest.mark.e2e

BRUSH = 18  # /draw's default brush width
MIN_INK_OVERLAP = 0.85  # intersection over union of the ink at full canvas size (200
# drawings measured: mean 0.93, lowest 0.89)
MAX_INPUT_DIFFERENCE = 25.0  # mean |difference| of the 28×28 model inputs, 0–255 (200
# drawings measured: mean 4.4, 95th percentile 15.8)


def test_the_training_renderer_draws_what_the_canvas_draws(app_url: str, page) -> None:
    page.goto(f"{app_url}/draw")
    canvas = cd.surface(page)
    cd.wait_idle(page)
    rng = np.random.default_rng(0)
    for label, strokes in never_seen_set(3):
        box = canvas.bounding_box()
        placed = cd.place(strokes, rng)
        cd.with_mouse(page, box, placed, steps=2)
        cd.wait_idle(page)
        seen = cd.ink_image(page)
        offline = cd.rendered_offline(placed, box, seen.shape[1], BRUSH)
        overlap, difference = cd.render_agreement(seen, offline)
        assert overlap >= MIN_INK_OVERLAP, (label, overlap)
        assert difference <= MAX_INPUT_DIFFERENCE, (label, difference)
        cd.clear(page)
