"""Drawing digit after digit on /draw as a person would, for the every-stroke journeys."""

from __future__ import annotations

from collections.abc import Callable

from tests.helpers import canvas_driver as cd

DRAWINGS = 20
PHONE = {"viewport": {"width": 412, "height": 915}, "has_touch": True, "is_mobile": True,
         "device_scale_factor": 2.625}


def placed(strokes: list[list[cd.Point]], big: bool) -> list[list[cd.Point]]:
    """The digit as drawn, or drawn 15% bigger and shifted up-right (into the top band)."""
    if not big:
        return strokes
    return [[(min(0.5 + (x - 0.5) * 1.15 + 0.08, 0.97), max(0.5 + (y - 0.5) * 1.15 - 0.08, 0.02))
             for x, y in stroke] for stroke in strokes]


def clear(page, by_touch: bool) -> None:
    """Reset the canvas from its toolbar and wait until the page asks for a digit again."""
    button = page.get_by_role("button", name=cd.RESET_BUTTON)
    if by_touch:
        button.tap()
    else:
        page.locator(cd.SURFACE).hover()  # the toolbar shows on hover
        button.click()
    page.get_by_text("Draw a digit", exact=True).first.wait_for(timeout=60_000)
    cd.wait_idle(page)


def draw_many(page, draw: Callable[[dict, list[list[cd.Point]]], None],
              by_touch: bool) -> list[str]:
    """Draw ``DRAWINGS`` digits one after another; the problems seen, one line each."""
    problems = []
    canvas = cd.surface(page)
    for n in range(DRAWINGS):
        digit = n % 10
        draw(canvas.bounding_box(), placed(cd.SIMPLE_DIGITS[digit], big=n % 2 == 0))
        try:
            answer = cd.wait_answer(page, timeout_ms=60_000)
        except Exception:  # noqa: BLE001 - reported below with what the page shows
            answer = f"no answer (the page says {cd.headline(page)!r})"
        ink = cd.ink(page)
        if not ink or not answer.startswith("Prediction"):
            problems.append(f"drawing {n} (a {digit}): ink {ink}, {answer}")
        clear(page, by_touch)
    return problems
