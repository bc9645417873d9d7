"""Browser journey on /draw: draw a "1" with the mouse, see it predicted, clear, start over."""

from __future__ import annotations

import pytest

from tests.helpers.harness import wait_for_app
from tests.helpers.journeys import draw_stroke, drawing_surface

pytestmark = pytest.mark.e2e


def test_drawing_a_one_predicts_one_and_clearing_asks_for_a_digit(app_url: str, page) -> None:
    page.goto(f"{app_url}/draw")
    wait_for_app(page)
    page.get_by_text("Draw a digit", exact=True).first.wait_for()

    canvas = drawing_surface(page)
    canvas.wait_for(state="visible")
    draw_stroke(page, canvas, [(0.52, 0.15), (0.51, 0.5), (0.5, 0.85)])
    page.get_by_text("Prediction: 1", exact=False).first.wait_for(timeout=30_000)
    page.get_by_text("What the model sees").wait_for()

    canvas.hover()  # the toolbar shows on hover
    page.get_by_role("button", name="Reset canvas & history").click()
    page.get_by_text("Draw a digit", exact=True).first.wait_for(timeout=30_000)
    assert page.get_by_text("Prediction:", exact=False).count() == 0
