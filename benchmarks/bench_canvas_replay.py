"""Canvas replay: real handwriting drawn on /draw with the mouse, read as a person reads it.

    python -m benchmarks.bench_canvas_replay                       # 50 digits, default model
    python -m benchmarks.bench_canvas_replay --count 100 --model builtin --model <id>
    python -m benchmarks.bench_canvas_replay --home ~/.dashcore     # models of a data folder
    python -m benchmarks.bench_canvas_replay --source never-seen --count 200

Stroke sets (``--source``): ``heldout`` is ``dashcore.datasets.strokes.replay_set``, MNIST
*training* digits held out of the default model's training, skeletonised into pen strokes
by the extractor the canvas-ready training also uses; ``never-seen`` is
``dashcore.datasets.walked_strokes.never_seen_set``, MNIST *test* digits traced by a second,
independent extractor that no training rendering uses. Each is drawn
with ``page.mouse`` on a fresh canvas, its ink 45–80% of the canvas height, anywhere on it
(seeded), on the real app in Debian's Chromium; the page is read only once idle, then the
canvas is cleared with its own reset button. Every model sees the same drawings.

Reported per model: **confident and right** (headline "Prediction: N", N the label) and
**top guess right** (the sure answer, or the first of "Not sure: maybe A or B"), of N,
each with its 95% (Wilson) interval: 200 drawings cannot tell 98.5% from 99%.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks.common import LoadMeter, fresh_home, running_app, share_with_interval
from dashcore.datasets.strokes import replay_set
from dashcore.datasets.walked_strokes import never_seen_set
from dashcore.settings import Settings
from tests.helpers import canvas_driver as cd
from tests.helpers.harness import CHROMIUM, CHROMIUM_ARGS


def model_names(ids: list[str], settings: Settings) -> dict[str, str]:
    """Model id → its name, which starts its label in /draw's picker (DASHCORE_HOME set)."""
    from dashcore.models import registry

    by_id = {e.model_id: e for e in registry.list_models(settings)}
    missing = [i for i in ids if i not in by_id]
    if missing:
        sys.exit(f"no model with id {missing} in {os.environ['DASHCORE_HOME']}: "
                 f"known ids are {sorted(by_id)}")
    return {i: by_id[i].name for i in ids}


def replay_all(args: argparse.Namespace, home: Path) -> tuple[dict[str, dict], list]:
    """Each model's figures (by id) over the same stroke sets, and the sets."""
    from dashcore.models import registry
    from dashcore.settings import get_settings

    settings = get_settings()
    ids = args.model or [registry.default_model_id(settings)]
    labels = model_names(ids, settings)
    sets = (replay_set(args.count, seed=args.seed) if args.source == "heldout"
            else never_seen_set(args.count))

    from playwright.sync_api import sync_playwright

    report: dict[str, dict] = {}
    with running_app(home) as app, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for model_id in ids:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{app.url}/draw")
            cd.surface(page)
            cd.wait_idle(page)
            cd.choose_model(page, labels[model_id])
            started = time.monotonic()
            results = cd.replay(page, sets, seed=args.seed)
            report[model_id] = {
                "label": labels[model_id], "drawings": len(results),
                "confident_and_right": sum(r["sure"] and r["right"] for r in results),
                "top_guess_right": sum(r["right"] for r in results),
                "answered": sum(r["top"] is not None for r in results),
                "seconds": round(time.monotonic() - started, 1), "results": results}
            context.close()
        browser.close()
    return report, sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50, help="stroke sets per model")
    parser.add_argument("--seed", type=int, default=0, help="picks the sets and placements")
    parser.add_argument("--model", action="append", default=[],
                        help="model id to test (repeat to compare); default: the default")
    parser.add_argument("--home", type=Path, help="data folder with the models (default: a "
                        "fresh one, holding only the built-in model)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--source", choices=("heldout", "never-seen"), default="heldout",
                        help="which stroke sets (see the module docstring)")
    args = parser.parse_args()
    load = LoadMeter()
    with fresh_home("bench-replay-", existing=args.home) as home:
        report, sets = replay_all(args, home)
    source = "replay_set" if args.source == "heldout" else "never_seen_set"
    print(f"{len(sets)} stroke sets ({source}, seed {args.seed}), mouse, 45–80% of the "
          f"canvas height; {load.line()}")
    for model_id, r in report.items():
        n = r["drawings"]
        print(f"{r['label']} [{model_id}]: confident and right "
              f"{share_with_interval(r['confident_and_right'], n)}, top guess right "
              f"{share_with_interval(r['top_guess_right'], n)}, answered {r['answered']}/{n} "
              f"({r['seconds']} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
