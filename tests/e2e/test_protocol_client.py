"""The protocol-level load client gets the answers a browser gets from a live server.

The load benchmark (``benchmarks/bench_protocol_load.py``) trusts ``ProtocolSession`` to do
what a page does; these tests hold it to that against the real app: a drawing recorded from
Chromium and replayed by the client gets the browser's headline, and the client's own
rendered strokes get the headline dashcore's preprocessing + predictor give for that image.
"""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

from benchmarks.protocol_client import (
    ProtocolSession,
    canvas_json,
    png_from_canvas_json,
    render_stroke_png,
)
from tests.helpers.harness import wait_for_app

pytestmark = pytest.mark.e2e

STROKE = [(0.52, 0.15), (0.51, 0.5), (0.5, 0.85)]  # a "1", fractions of the canvas
SEVEN = [(70, 56), (210, 56), (154, 140), (118, 238)]  # canvas pixels


def canvas_value_from_frame(payload: bytes) -> str | None:
    """The canvas widget's JSON value in a BackMsg the page sent, if it carries one."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    msg.ParseFromString(payload)
    for widget in msg.rerun_script.widget_states.widgets:
        if widget.id.endswith("-draw_canvas") and widget.WhichOneof("value") == "json_value":
            return widget.json_value
    return None


def browser_drawing(page, app_url: str) -> tuple[str, str]:
    """Draw a "1" in Chromium; return (canvas value it sent, headline it showed)."""
    sent: list[str] = []

    def on_ws(ws) -> None:
        ws.on("framesent", lambda payload: sent.append(payload)
              if isinstance(payload, bytes) else None)

    page.on("websocket", on_ws)
    page.goto(f"{app_url}/draw")
    wait_for_app(page)
    canvas = page.locator("canvas").last
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in STROKE]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    heading = page.get_by_text("Prediction:", exact=False).first
    heading.wait_for(timeout=60_000)
    values = [v for v in map(canvas_value_from_frame, sent) if v and '"objects":[{' in v]
    assert values, "the browser sent no canvas drawing"
    return values[-1], heading.inner_text().strip()


async def client_headlines(app_url: str, values: list[str]) -> list[list[str]]:
    """Open /draw over the protocol and send each canvas value; each run's headings."""
    session = ProtocolSession(app_url)
    await session.connect()
    try:
        await session.open_page("")
        opened = await session.open_page("draw")
        assert opened.status == "FINISHED_SUCCESSFULLY", opened
        headings = []
        for value in values:
            run = await session.send_canvas(value)
            assert run.status == "FINISHED_SUCCESSFULLY" and not run.exceptions, run
            headings.append(run.headings)
        return headings
    finally:
        await session.close()


def run_client(app_url: str, values: list[str]) -> list[list[str]]:
    """``client_headlines`` on its own thread and event loop (sync Playwright holds one in
    this thread while a browser fixture is open)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, client_headlines(app_url, values)).result(timeout=180)


def direct_headline(png: bytes) -> str:
    """The headline dashcore gives for this canvas PNG with the built-in default model."""
    from PIL import Image

    from dashcore.inference.predictor import predict_drawing
    from dashcore.inference.preprocess import preprocess
    from dashcore.models.registry import builtin_paths

    image, _ = preprocess(np.asarray(Image.open(io.BytesIO(png))))
    assert image is not None, "the drawing was read as empty"
    return predict_drawing(builtin_paths()[0], image).headline()


def test_a_drawing_replayed_by_the_client_gets_the_browsers_prediction(app_url: str,
                                                                         page) -> None:
    value, shown = browser_drawing(page, app_url)
    (headings,) = run_client(app_url, [value])
    assert shown in headings, (shown, headings)
    assert shown.startswith("Prediction: 1")
    assert direct_headline(png_from_canvas_json(value)) == shown


def test_the_clients_own_strokes_get_what_dashcore_predicts_for_them(app_url: str) -> None:
    pngs = [render_stroke_png([(140, 42), (142, 140), (140, 238)]),
            render_stroke_png(SEVEN)]
    values = [canvas_json(pngs[0], [(140, 42), (142, 140), (140, 238)]),
              canvas_json(pngs[1], SEVEN)]
    headings = run_client(app_url, values)
    for png, seen in zip(pngs, headings, strict=True):
        expected = direct_headline(png)
        assert expected in seen, (expected, seen)
    assert any(h.startswith("Prediction: 1") for h in headings[0])
