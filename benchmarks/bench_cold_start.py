"""Cold start: from launching ``streamlit run app.py`` to the home page usable in Chromium.

    python -m benchmarks.bench_cold_start              # 5 launches, ~1–2 min
    python -m benchmarks.bench_cold_start --launches 3

Each launch starts a fresh server (:mod:`benchmarks.common`, over the browser-test harness: a
free loopback port, a new temporary DASHCORE_HOME), opens ``/`` in a fresh browser context
of an already running Debian Chromium, and stops the clock when the home page's title and
its six step links are on screen and Streamlit's status shows no script running. Reported:

* **health** — launch → ``/_stcore/health`` answers (the harness polls every 0.5 s, so this
  figure is coarse);
* **home usable** — launch → the rendered home page (the figure the issue asks for);
* whether TensorFlow is loaded in the server once the home page is shown (read from the
  server's ``/proc/<pid>/maps``: no probe inside the app), and the server's resident memory;
* for scale, ``python -c "import streamlit"`` and ``python -c "import tensorflow"``.

The median over ``--launches`` is the figure to quote. Everything started is stopped by
process id; no launch runs longer than ``--timeout-s``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import App, LoadMeter, fresh_home
from tests.helpers.harness import CHROMIUM, CHROMIUM_ARGS

HOME_LINKS = 6  # "1. Data" … "6. Models"
TF_LIBRARY = "libtensorflow_framework"


def tensorflow_loaded(pid: int) -> bool:
    """True if the process has TensorFlow's shared library mapped (i.e. imported it)."""
    try:
        return TF_LIBRARY in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def import_seconds(module: str) -> float:
    """Wall time of ``python -c "import <module>"`` in a fresh interpreter."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True,
                   capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.monotonic() - start


def one_launch(browser, timeout_s: float) -> dict:
    """Start a server, open the home page, time it; stop the server."""
    with fresh_home("bench-cold-") as home:
        start = time.monotonic()
        app = App.start(home)
        healthy = time.monotonic()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.set_default_timeout(timeout_s * 1000)
            page.goto(f"{app.url}/")
            page.get_by_role("heading", name="Keras workbench").wait_for()
            page.wait_for_function(
                f"() => document.querySelectorAll('[data-testid=\"stPageLink\"]').length"
                f" >= {HOME_LINKS}", polling=50)
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
                " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText"
                ".includes('Running')", polling=50)
            usable = time.monotonic()
            return {"health_s": healthy - start, "home_usable_s": usable - start,
                    "tensorflow_loaded": tensorflow_loaded(app.pid),
                    "server_rss_mb": rss_mb(app.pid)}
        finally:
            context.close()
            app.stop()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--launches", type=int, default=5, help="server launches (5)")
    parser.add_argument("--timeout-s", type=float, default=120,
                        help="most seconds one launch may take (120)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    load = LoadMeter()
    baseline = {"import_streamlit_s": import_seconds("streamlit"),
                "import_tensorflow_s": import_seconds("tensorflow")}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            launches = [one_launch(browser, args.timeout_s) for _ in range(args.launches)]
        finally:
            browser.close()
    result = {
        "launches": launches,
        "health_median_s": statistics.median(x["health_s"] for x in launches),
        "home_usable_median_s": statistics.median(x["home_usable_s"] for x in launches),
        "tensorflow_loaded_any": any(x["tensorflow_loaded"] for x in launches),
        **baseline, "load_before": load.before, "load_after": load.stop().after,
    }
    for i, x in enumerate(launches, 1):
        print(f"launch {i}: health {x['health_s']:.2f} s, home usable {x['home_usable_s']:.2f} s,"
              f" TensorFlow loaded: {x['tensorflow_loaded']}, server RSS "
              f"{x['server_rss_mb']:.0f} MB")
    print(f"median: health {result['health_median_s']:.2f} s, home usable "
          f"{result['home_usable_median_s']:.2f} s")
    print(f"for scale: import streamlit {baseline['import_streamlit_s']:.2f} s, "
          f"import tensorflow {baseline['import_tensorflow_s']:.2f} s")
    print(load.line())
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
