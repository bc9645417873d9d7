"""Does the offline renderer draw what Chromium's canvas draws? The canvas-ready training's check.

    python -m benchmarks.bench_render_match                    # 200 drawings, ~8 min
    python -m benchmarks.bench_render_match --count 20         # smoke run

Canvas-ready training renders strokes with PIL (``dashcore.datasets.canvas_like.render``):
a round brush of constant width, no anti-aliasing. /draw's canvas is Fabric.js in the
browser: its pencil smooths the pointer's path into curves and Chromium anti-aliases the
edges. If the two differ much, the model trains on drawings unlike the ones people make.

Each of ``--count`` never-seen stroke sets (``walked_strokes.never_seen_set``) is drawn
with the mouse on /draw at 45–80% of the canvas height, anywhere on it, with /draw's
default 18 px brush; the canvas's drawing layer is read back, and the same placed strokes
are rendered offline. Reported over all drawings: the ink overlap (intersection over union
of the >50% ink at 280×280), the mean absolute difference of the two 28×28 images the model
would see (after /draw's preprocessing, 0–255), and how often the shipped default model's
top guess and its "sure" verdict agree between the two, with the mean change of its top
probability.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import LoadMeter, fresh_home, running_app
from dashcore.datasets.walked_strokes import never_seen_set
from tests.helpers import canvas_driver as cd
from tests.helpers.harness import CHROMIUM, CHROMIUM_ARGS

BRUSH = 18  # /draw's default brush width, canvas pixels


def draw_and_read(sets: list, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(browser image, offline image) at full canvas size for each stroke set."""
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(seed)
    pairs = []
    with fresh_home("bench-render-") as home, running_app(home) as app, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{app.url}/draw")
        canvas = cd.surface(page)
        cd.wait_idle(page)
        for _label, strokes in sets:
            box = canvas.bounding_box()
            placed = cd.place(strokes, rng)
            cd.with_mouse(page, box, placed, steps=2)
            cd.wait_idle(page)
            seen = cd.ink_image(page)
            pairs.append((seen, cd.rendered_offline(placed, box, seen.shape[1], BRUSH)))
            cd.clear(page)
        browser.close()
    return pairs


def compare(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Ink overlap, model-input difference and the default model's agreement."""
    from dashcore.inference.predictor import get_predictor
    from dashcore.inference.preprocess import preprocess
    from dashcore.models.registry import builtin_paths

    predictor = get_predictor(builtin_paths()[0])  # with its card's temperature and threshold
    overlaps, differences, inputs = [], [], []
    for seen, offline in pairs:
        overlap, difference = cd.render_agreement(seen, offline)
        overlaps.append(overlap)
        if np.isnan(difference):
            continue
        differences.append(difference)
        inputs.append((preprocess(seen)[0], preprocess(offline)[0]))
    p_seen = predictor.predict_many(np.stack([np.round(s * 255).astype(np.uint8)
                                              for s, _ in inputs]))
    p_off = predictor.predict_many(np.stack([np.round(o * 255).astype(np.uint8)
                                             for _, o in inputs]))
    top_seen, top_off = p_seen.argmax(1), p_off.argmax(1)
    sure_seen = p_seen.max(1) >= predictor.threshold
    sure_off = p_off.max(1) >= predictor.threshold
    return {
        "drawings": len(pairs),
        "ink_overlap_mean": round(float(np.mean(overlaps)), 4),
        "ink_overlap_min": round(float(np.min(overlaps)), 4),
        "input_abs_diff_mean": round(float(np.mean(differences)), 2),
        "input_abs_diff_p95": round(float(np.percentile(differences, 95)), 2),
        "same_top_guess": int((top_seen == top_off).sum()),
        "same_sure_verdict": int((sure_seen == sure_off).sum()),
        "compared": len(inputs),
        "top_probability_change_mean": round(float(np.abs(
            p_seen[np.arange(len(inputs)), top_seen]
            - p_off[np.arange(len(inputs)), top_seen]).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200, help="drawings")
    parser.add_argument("--seed", type=int, default=3, help="picks the placements")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    load = LoadMeter()
    started = time.monotonic()
    pairs = draw_and_read(never_seen_set(args.count), args.seed)
    figures = compare(pairs)
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(f"{figures['drawings']} never-seen drawings, mouse, {BRUSH} px brush; {load.line()}")
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
