"""Drive /draw's canvas the ways people do: a mouse pressed with or without a hover first,
a finger (touch events through CDP), a pen; then read the page once it is idle.

Strokes are lists of (x, y) points in fractions of the drawing surface (0..1 each way), in
pen order. Shared by the draw tests and ``benchmarks/bench_canvas_replay.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]
Stroke = Sequence[Point]

SURFACE = "canvas.upper-canvas"  # Fabric's top canvas: the one that takes the pen
INK_LAYER = "canvas.dc-canvas.lower-canvas"  # where finished strokes are rendered
RESET_BUTTON = "Reset canvas & history"

# White pixels (the pen is #FFFFFF on black) on the drawing layer.
COUNT_INK_JS = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 128 && d[i + 3] > 128) n++;
  return n; }"""

# A few hand-drawn digits (fractions of the surface), one list of strokes per digit.
SIMPLE_DIGITS: dict[int, list[list[Point]]] = {
    0: [[(0.5, 0.15), (0.33, 0.25), (0.28, 0.5), (0.33, 0.75), (0.5, 0.85), (0.67, 0.75),
         (0.72, 0.5), (0.67, 0.25), (0.5, 0.15)]],
    1: [[(0.52, 0.15), (0.51, 0.5), (0.5, 0.85)]],
    2: [[(0.3, 0.3), (0.4, 0.17), (0.55, 0.15), (0.67, 0.25), (0.65, 0.42), (0.3, 0.83),
         (0.72, 0.83)]],
    3: [[(0.32, 0.2), (0.5, 0.14), (0.66, 0.24), (0.62, 0.42), (0.46, 0.48), (0.64, 0.56),
         (0.68, 0.72), (0.52, 0.86), (0.3, 0.8)]],
    4: [[(0.58, 0.15), (0.3, 0.6), (0.74, 0.6)], [(0.6, 0.35), (0.6, 0.87)]],
    5: [[(0.68, 0.16), (0.38, 0.16), (0.35, 0.45), (0.55, 0.42), (0.68, 0.55), (0.66, 0.74),
         (0.5, 0.85), (0.3, 0.8)]],
    6: [[(0.63, 0.15), (0.42, 0.32), (0.33, 0.6), (0.4, 0.82), (0.58, 0.84), (0.67, 0.67),
         (0.55, 0.52), (0.36, 0.6)]],
    7: [[(0.3, 0.17), (0.72, 0.17), (0.45, 0.87)]],
    8: [[(0.62, 0.22), (0.5, 0.14), (0.36, 0.24), (0.42, 0.42), (0.62, 0.58), (0.64, 0.78),
         (0.5, 0.86), (0.34, 0.76), (0.4, 0.58), (0.6, 0.4), (0.64, 0.25)]],
    9: [[(0.66, 0.3), (0.52, 0.16), (0.36, 0.26), (0.38, 0.44), (0.56, 0.46), (0.66, 0.3),
         (0.64, 0.6), (0.6, 0.87)]],
}


def surface(page):
    """The drawing surface, waited for (the component mounts after the first script run)."""
    canvas = page.locator(SURFACE)
    canvas.wait_for(state="visible", timeout=60_000)
    return canvas


def ink(page) -> int:
    """How many white pixels the canvas's drawing layer holds."""
    return int(page.locator(INK_LAYER).evaluate(COUNT_INK_JS))


# The drawing layer's red channel, premultiplied by its alpha (white pen on black).
READ_INK_JS = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const out = new Array(c.width * c.height);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(d[4 * i] * d[4 * i + 3] / 255);
  return [c.width, c.height, out]; }"""


def ink_image(page):
    """The canvas's drawing layer as a grey uint8 numpy image (white ink on black)."""
    import numpy as np

    width, height, values = page.locator(INK_LAYER).evaluate(READ_INK_JS)
    return np.asarray(values, dtype=np.uint8).reshape(height, width)


def rendered_offline(placed: Sequence[Stroke], box: dict, side: int, brush: float):
    """The canvas-ready training's rendering (``canvas_like.render``) of strokes placed as
    fractions of the canvas ``box``, at the size of a canvas ``side`` pixels wide."""
    import numpy as np

    from dashcore.datasets.canvas_like import render

    return render([np.array([(fx * side, fy * side) for fx, fy in stroke]) for stroke in placed],
                  brush * side / box["width"], side=side)


def render_agreement(seen, offline) -> tuple[float, float]:
    """How alike a canvas image and its offline rendering are: (ink overlap, the
    intersection over union of the >50% ink; mean |difference| of the two 28×28 model
    inputs after /draw's preprocessing, 0–255)."""
    import numpy as np

    from dashcore.inference.preprocess import preprocess

    a, b = seen > 127, offline > 127
    overlap = float((a & b).sum() / max((a | b).sum(), 1))
    x_seen, x_offline = preprocess(seen)[0], preprocess(offline)[0]
    if x_seen is None or x_offline is None:
        return overlap, float("nan")
    return overlap, float(np.abs(x_seen - x_offline).mean() * 255)


def _to_page(box: dict, stroke: Stroke, steps: int) -> list[Point]:
    """Fractions of ``box`` → page pixels, with ``steps`` points between each pair."""
    out: list[Point] = []
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:], strict=False):
        for i in range(steps):
            t = i / steps
            out.append((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
    out.append(tuple(stroke[-1]))
    return [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in out]


def press_without_hover(cdp, box: dict, strokes: Sequence[Stroke], steps: int = 4) -> None:
    """Mouse strokes whose press is the first event at that spot (no move over it first).

    CDP ``mousePressed`` puts the button down where no ``mouseMoved`` went before, as when
    a person clicks a window that did not have the pointer.
    """
    for stroke in strokes:
        xy = _to_page(box, stroke, steps)
        x, y = xy[0]
        cdp.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y,
                                              "button": "left", "buttons": 1, "clickCount": 1})
        for x, y in xy[1:]:
            cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y,
                                                  "button": "left", "buttons": 1})
        cdp.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x, "y": y,
                                              "button": "left", "buttons": 0, "clickCount": 1})


def with_mouse(page, box: dict, strokes: Sequence[Stroke], steps: int = 4) -> None:
    """Mouse strokes the Playwright way: move to the start (a hover), press, move, release."""
    for stroke in strokes:
        xy = _to_page(box, stroke, steps)
        page.mouse.move(*xy[0])
        page.mouse.down()
        for x, y in xy[1:]:
            page.mouse.move(x, y)
        page.mouse.up()


def with_touch(cdp, box: dict, strokes: Sequence[Stroke], steps: int = 4) -> None:
    """Finger strokes: CDP ``Input.dispatchTouchEvent`` (needs a ``has_touch`` context)."""
    for stroke in strokes:
        xy = _to_page(box, stroke, steps)
        x, y = xy[0]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                              "touchPoints": [{"x": x, "y": y, "id": 1}]})
        for x, y in xy[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                                  "touchPoints": [{"x": x, "y": y, "id": 1}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def with_pen(cdp, box: dict, strokes: Sequence[Stroke], steps: int = 4) -> None:
    """Stylus strokes: CDP mouse events with ``pointerType="pen"``, pressed without a hover."""
    for stroke in strokes:
        xy = _to_page(box, stroke, steps)
        x, y = xy[0]
        pen = {"button": "left", "pointerType": "pen", "force": 0.5}
        cdp.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y,
                                              "buttons": 1, "clickCount": 1, **pen})
        for x, y in xy[1:]:
            cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y,
                                                  "buttons": 1, **pen})
        cdp.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x, "y": y,
                                              "buttons": 0, "clickCount": 1, **pen})


BUSY_JS = """() => !!document.querySelector('[data-testid="stStatusWidgetRunningIcon"],'
  + ' [data-testid="stStatusWidgetRunningManIcon"], [data-stale="true"]')"""


def headline(page) -> str:
    """The answer headline: "Draw a digit" or "Prediction: …" (first such heading)."""
    for text in page.locator('[data-testid="stHeading"]').all_inner_texts():
        if text.startswith(("Prediction", "Draw a digit", "Not sure")):
            return text.strip()
    return ""


def wait_idle(page, quiet_ms: int = 600, timeout_ms: int = 90_000) -> None:
    """Wait until no script run is in flight and none has been for ``quiet_ms``.

    The canvas sends a finished stroke ~0.2 s after the pen lifts (it debounces), so a
    page that looks idle right after a stroke may not have heard of it yet: the quiet
    window covers that gap.
    """
    page.wait_for_function(
        """([busyJs, quiet]) => {
            const busy = eval(busyJs)();
            const now = performance.now();
            if (busy || window.__dcQuietSince === undefined) window.__dcQuietSince = now;
            if (busy) return false;
            return now - window.__dcQuietSince >= quiet;
        }""", arg=[BUSY_JS, quiet_ms], polling=100, timeout=timeout_ms)
    page.evaluate("() => { delete window.__dcQuietSince; }")


def wait_answer(page, timeout_ms: int = 90_000) -> str:
    """After a drawing: wait for a prediction headline, then for the page to be idle."""
    page.locator('[data-testid="stHeading"]').filter(has_text="Prediction").first.wait_for(
        timeout=timeout_ms)
    wait_idle(page)
    return headline(page)


def place(strokes: Sequence[Sequence[Point]], rng, low: float = 0.45,
          high: float = 0.8) -> list[list[Point]]:
    """Stroke points of a 0..1 digit frame → fractions of the canvas: the ink's height a
    random ``low``–``high`` of the canvas (aspect kept), anywhere it fits (``rng``: a
    ``numpy.random.Generator``, so a seed gives the same drawings)."""
    xs = [x for stroke in strokes for x, _ in stroke]
    ys = [y for stroke in strokes for _, y in stroke]
    width, height = max(max(xs) - min(xs), 1e-3), max(max(ys) - min(ys), 1e-3)
    margin = 0.04  # half the default brush, so no ink falls off the edge
    scale = min(float(rng.uniform(low, high)) / height, (1 - 2 * margin) / width)
    # max(): a digit exactly as wide as the room left rounds to a hair below zero
    left = float(rng.uniform(margin, max(margin, 1 - margin - width * scale)))
    top = float(rng.uniform(margin, max(margin, 1 - margin - height * scale)))
    return [[(float(left + (x - min(xs)) * scale), float(top + (y - min(ys)) * scale))
             for x, y in stroke] for stroke in strokes]


def read_answer(text: str) -> tuple[bool, str | None]:
    """A headline → (sure, top guess): "Prediction: 7 (…)" is sure of 7; "Not sure: maybe 4
    (…) or 9 (…)" is unsure with 4 on top; anything else has no guess."""
    if text.startswith("Prediction: "):
        return True, text.removeprefix("Prediction: ").split(" (")[0]
    if text.startswith("Not sure: maybe "):
        return False, text.removeprefix("Not sure: maybe ").split(" (")[0]
    return False, None


def choose_model(page, name: str) -> None:
    """Pick the model named ``name`` (its picker label starts with it) and wait for /draw."""
    page.get_by_test_id("stSelectbox").filter(has_text="Model").first.click()
    options = page.get_by_role("option")
    options.first.wait_for()
    texts = options.all_inner_texts()
    matching = [i for i, text in enumerate(texts) if text.startswith(name)]
    if not matching:
        raise LookupError(f"no model named {name!r} in the picker: {texts}")
    options.nth(matching[0]).click()
    wait_idle(page)


def clear(page) -> None:
    """Reset the canvas from its toolbar (a mouse hover shows it) and wait for the page."""
    page.locator(SURFACE).hover()
    page.get_by_role("button", name=RESET_BUTTON).click()
    page.get_by_text("Draw a digit", exact=True).first.wait_for(timeout=60_000)
    wait_idle(page)


def replay(page, sets: Sequence[tuple[int, Sequence[Sequence[Point]]]], seed: int = 0,
           steps: int = 2) -> list[dict]:
    """Draw each (label, strokes) set with the mouse, read the answer when idle, clear.

    One dict per set: label, headline, sure, top guess, right (top guess is the label)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    canvas = surface(page)
    results = []
    for label, strokes in sets:
        with_mouse(page, canvas.bounding_box(), place(strokes, rng), steps=steps)
        try:
            text = wait_answer(page, timeout_ms=60_000)
        except Exception:  # noqa: BLE001 - an unanswered drawing is a result, not a crash
            text = headline(page)
        sure, top = read_answer(text)
        results.append({"label": int(label), "headline": text, "sure": sure, "top": top,
                        "right": top == str(label)})
        clear(page)
    return results
