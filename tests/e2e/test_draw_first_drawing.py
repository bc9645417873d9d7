"""The first drawing after the server starts is answered, with the mouse and with a finger.

Each test starts its own server (a fresh process: TensorFlow and the model not loaded) and
draws as soon as the canvas shows. The server loads the default model in the background;
/draw says "Getting the model ready…" meanwhile and answers the drawing once it is ready.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import canvas_driver as cd
from tests.helpers.drawing_runs import PHONE, draw_many
from tests.helpers.harness import free_port, start_app, stop_app

pytestmark = pytest.mark.e2e

# Remembers whether the page ever showed the loading sentence (it may be gone when we look).
SEEN_READY_JS = """() => { window.__dcSawReady = false;
  new MutationObserver(() => { if (document.body.innerText.includes('Getting the model ready'))
    window.__dcSawReady = true; }).observe(document, {subtree: true, childList: true,
                                                      characterData: true}); }"""


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[str]:
    """A server started for this test alone, with an empty data folder."""
    home = tmp_path / "home"
    home.mkdir()
    proc = start_app(home, port := free_port())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_app(proc, home)


def test_the_first_mouse_drawing_on_a_fresh_server_is_answered_after_getting_ready(
        fresh_server: str, page) -> None:
    page.add_init_script(f"document.addEventListener('DOMContentLoaded', {SEEN_READY_JS})")
    page.goto(f"{fresh_server}/draw")
    box = cd.surface(page).bounding_box()
    cd.with_mouse(page, box, cd.SIMPLE_DIGITS[7])  # before the model has loaded
    answer = cd.wait_answer(page)
    assert answer.startswith("Prediction: 7 ("), answer
    assert cd.ink(page) > 0
    assert page.evaluate("() => window.__dcSawReady") is True
    assert not page.get_by_text("Getting the model ready").is_visible()


def test_twenty_finger_drawings_on_a_phone_from_a_fresh_server_are_all_answered(
        fresh_server: str, browser, tmp_path: Path) -> None:
    context = browser.new_context(**PHONE)
    phone = context.new_page()
    phone.set_default_timeout(30_000)
    try:
        phone.goto(f"{fresh_server}/draw")
        cdp = phone.context.new_cdp_session(phone)
        problems = draw_many(phone, lambda box, strokes: cd.with_touch(cdp, box, strokes),
                             by_touch=True)
        assert problems == [], "\n".join(problems)
    finally:
        phone.screenshot(path=str(tmp_path / "last.png"))
        context.close()
