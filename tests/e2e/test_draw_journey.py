"""Browser journey on /draw: draw a "1" with the mouse, see it predicted, clear, start over."""

from __future__ import annotations

import pytest

from tests.e2e.harness import wait_for_app

pytestmark = pytest.mark.e2e


def drawing_surface(page):
    """The canvas that takes the pen: Fabric's top canvas (the last one in the component).

    streamlit-drawable-canvas 0.13 is a components-v2 element rendered in the page (older
    versions used an iframe: look inside frames too, so the test survives either).
    """
    for _ in range(60):
        for frame in page.frames:
            canvases = frame.locator("canvas")
            if canvases.count():
                return canvases.last
        page.wait_for_timeout(500)
    raise AssertionError("no <canvas> appeared on /draw within 30 s")


def draw_stroke(page, canvas, points: list[tuple[float, float]]) -> None:
    """Press, move through ``points`` (fractions of the canvas), release: one stroke."""
    box = canvas.bounding_box()
    assert box, "the canvas is not visible"
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


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
