"""Every stroke counts on /draw: pressed without a hover, with a finger, with a pen.

Twenty finger drawings on a phone are in ``test_draw_first_drawing.py``, on a freshly
started server (the same checks, from the first drawing). One page load per way of
drawing; each drawing is drawn, answered, then cleared with the canvas's own reset button,
as a person would. The first drawing of each test starts as soon as the canvas shows,
before the page has finished its first run. Half the drawings are drawn big and up-right
(the first one too), so their first stroke starts in the canvas's top-right band, where
the hidden toolbar used to swallow presses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import canvas_driver as cd
from tests.helpers.drawing_runs import PHONE, draw_many

pytestmark = pytest.mark.e2e

@pytest.fixture
def phone_page(browser, tmp_path) -> Iterator:
    """A 412×915 phone tab with touch (a fresh context: touch emulation is per context)."""
    context = browser.new_context(**PHONE)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    try:
        tab.screenshot(path=str(tmp_path / "last.png"))
    finally:
        context.close()


def test_twenty_digits_pressed_without_a_hover_all_keep_their_ink_and_get_an_answer(
        app_url: str, page) -> None:
    page.goto(f"{app_url}/draw")
    cdp = page.context.new_cdp_session(page)
    problems = draw_many(page, lambda box, strokes: cd.press_without_hover(cdp, box, strokes),
                         by_touch=False)
    assert problems == [], "\n".join(problems)


def test_a_pen_stroke_a_cancelled_touch_and_a_stroke_started_outside_all_leave_ink(
        app_url: str, phone_page) -> None:
    phone_page.goto(f"{app_url}/draw")
    cdp = phone_page.context.new_cdp_session(phone_page)
    box = cd.surface(phone_page).bounding_box()

    cd.with_pen(cdp, box, [[(0.85, 0.04), (0.8, 0.5), (0.75, 0.95)]])  # top-right, no hover
    assert cd.wait_answer(phone_page).startswith("Prediction")
    pen_ink = cd.ink(phone_page)
    assert pen_ink > 0

    # The browser cancels a touch mid-stroke: what was drawn stays, and the next stroke works.
    x, y = box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"]
    for kind, points in (("touchStart", [{"x": x, "y": y, "id": 5}]),
                         ("touchMove", [{"x": x, "y": y + 60, "id": 5}]),
                         ("touchCancel", [])):
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})
    cd.wait_idle(phone_page)
    cancelled_ink = cd.ink(phone_page)
    assert cancelled_ink > pen_ink
    cd.with_touch(cdp, box, [[(0.4, 0.3), (0.4, 0.8)]])
    cd.wait_idle(phone_page)
    assert cd.ink(phone_page) > cancelled_ink + 1000  # a whole 140-px stroke, not a dot

    # A mouse stroke pressed just above the square that comes in with the button held.
    mouse_ink = cd.ink(phone_page)
    phone_page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] - 6)
    phone_page.mouse.down()
    for step in range(1, 9):
        phone_page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + step * 0.1 * box["height"])
    phone_page.mouse.up()
    cd.wait_idle(phone_page)
    assert cd.ink(phone_page) > mouse_ink + 1000


def test_on_a_phone_the_answer_shows_in_the_first_screen_after_a_drawing(
        app_url: str, phone_page) -> None:
    phone_page.goto(f"{app_url}/draw")
    cdp = phone_page.context.new_cdp_session(phone_page)
    cd.with_touch(cdp, cd.surface(phone_page).bounding_box(), cd.SIMPLE_DIGITS[7])
    cd.wait_answer(phone_page)

    assert phone_page.evaluate("() => window.scrollY") == 0
    answer = phone_page.get_by_text("Answer: 7 (", exact=False)
    assert answer.is_visible()
    box = answer.bounding_box()
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= PHONE["viewport"]["height"]
    canvas = cd.surface(phone_page).bounding_box()
    assert canvas["y"] + canvas["height"] <= PHONE["viewport"]["height"]  # and the canvas too

