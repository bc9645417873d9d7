"""Soak: N sessions drawing and browsing while one training job runs to the end.

    python -m benchmarks.bench_soak                       # 20 sessions, ~5–7 min
    python -m benchmarks.bench_soak --sessions 3 --epochs 1 --train-images 3000   # smoke

The server, the browser sessions and the timing of each drawing are those of
``bench_many_sessions.py`` (imported, not copied). Here every session also browses: with
probability ``--browse-p`` per turn it opens Data, Models, Evaluate or Train from the
sidebar, waits for the page's script to finish, checks it, and comes back to Draw.
One CNN 32-64 job (``--epochs`` on ``--train-images`` MNIST images) is submitted once the
sessions are open; the soak lasts until the job has finished (and at least ``--min-s``),
bounded by ``--max-s``. Before the job, one extra visitor opens every page once, so the
memory baseline ("sessions open, before the job") already holds what first visits load
into the server's shared caches. After the soak the sessions close and, after
``--settle-s``, the server's memory is read again.

Checks (each printed PASS/FAIL): no page errors and no Streamlit exception box in any
session; every drawing answered; the job ``completed``; the server's resident memory
after the soak at most ``--memory-slack`` (default 1.25×) its value with the sessions
open before the job. Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from benchmarks.bench_many_sessions import (
    VIEWPORT,
    CpuMeter,
    LoadState,
    Sampler,
    close_sessions,
    get_run,
    open_sessions,
    split_medians,
    stop_job,
    submit_job,
    visit,
)
from benchmarks.common import App, LoadMeter, run_in_fresh_home, summarize
from dashcore.settings import get_settings

BROWSED = ("Data", "Models", "Evaluate", "Train")
FINAL = ("completed", "stopped", "failed", "interrupted")


async def tour(browser, url: str, state: LoadState) -> None:
    """Open the home page and then every browsed page once, in a context of its own."""
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        page.set_default_timeout(180_000)
        await page.goto(f"{url}/")
        await page.get_by_role("heading", name="Keras workbench").wait_for()
        for title in (*BROWSED, "Draw"):
            await visit(page, state, title)
    finally:
        await context.close()


async def run_soak(args, home: Path) -> dict:
    settings = get_settings()  # the data folder run_in_fresh_home made
    started = time.monotonic()
    app = App.start(home)
    state = LoadState()
    sampler, cpu = Sampler(app.pid), CpuMeter(app.pid)
    result: dict = {"sessions": args.sessions, "epochs": args.epochs,
                    "train_images": args.train_images, "browse_p": args.browse_p}
    run_id = None
    opened = None
    try:
        sampler.start()
        result["server_rss_start_mb"] = round(sampler.server_now(), 1)
        opened = await open_sessions(args, app.url, state, BROWSED)
        result["sessions_ready"] = state.ready
        # One extra visitor opens every page once, so the memory baseline already holds
        # what first visits load into the server's shared caches (TensorFlow, datasets).
        await tour(opened[1], app.url, state)
        await asyncio.sleep(args.warmup_s)
        result["server_rss_open_mb"] = round(sampler.server_now(), 1)

        state.phase = "soak"
        mark = cpu.read()
        soak_start = time.monotonic()
        run_id = submit_job(settings, epochs=args.epochs, train_images=args.train_images).run_id
        sampler.worker_pid = cpu.worker_pid = get_run(settings, run_id).pid
        while time.monotonic() - soak_start < args.max_s:
            status = get_run(settings, run_id).status
            if status in FINAL and time.monotonic() - soak_start >= args.min_s:
                break
            await asyncio.sleep(1)
        result["soak_s"] = round(time.monotonic() - soak_start, 1)
        result["cpu_soak"] = CpuMeter.used(mark, cpu.read())
        run = get_run(settings, run_id)
        result["job_status"], result["job_reason"] = run.status, run.reason
        if run.started and run.finished:
            result["job_run_s"] = round(run.finished - run.started, 1)
        result["server_rss_end_of_soak_mb"] = round(sampler.server_now(), 1)
        state.phase = "done"
        await close_sessions(state, *opened)
        opened = None
        await asyncio.sleep(args.settle_s)
        result["server_rss_after_mb"] = round(sampler.server_now(), 1)
    finally:
        sampler.stop()
        if opened:  # an error before the sessions were closed: close them now
            await close_sessions(state, *opened, wait_s=5)
        if run_id:
            stop_job(settings, run_id)
        result["server_rss_peak_mb"] = round(sampler.server_peak, 1)
        result["worker_rss_peak_mb"] = round(sampler.worker_peak, 1)
        app.stop()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    result["latency"] = summarize(state.latencies.get("soak", []))
    result["parts_p50"] = split_medians(state.splits).get("soak")
    result["parts_p95"] = split_medians(state.splits, 95).get("soak")
    result["drawings"], result["visits"] = state.drawings, state.visits
    result["unanswered"] = sum(state.unanswered.values())
    result["unanswered_why"] = state.unanswered_why
    result["page_errors"], result["exceptions"] = state.page_errors, state.exceptions
    return result


def checks(result: dict, slack: float) -> dict[str, bool]:
    """The soak's pass/fail conditions, by name."""
    return {
        "no page errors": not result["page_errors"],
        "no exception boxes": not result["exceptions"],
        "every drawing answered": result["unanswered"] == 0 and result["drawings"] > 0,
        "job completed": result.get("job_status") == "completed",
        f"memory after <= {slack}x memory before the job": (
            result.get("server_rss_after_mb", float("inf"))
            <= slack * result.get("server_rss_open_mb", 0)),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="browser sessions (20)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the job (4)")
    parser.add_argument("--train-images", type=int, default=30_000,
                        help="MNIST training images the job uses (30000)")
    parser.add_argument("--browse-p", type=float, default=0.3,
                        help="chance per turn that a session visits another page (0.3)")
    parser.add_argument("--min-s", type=float, default=60, help="shortest soak, s (60)")
    parser.add_argument("--max-s", type=float, default=480, help="longest soak, s (480)")
    parser.add_argument("--warmup-s", type=float, default=20,
                        help="seconds after the sessions open, before the job (20)")
    parser.add_argument("--settle-s", type=float, default=30,
                        help="seconds after the sessions close, before memory is read (30)")
    parser.add_argument("--think-s", type=float, default=3.0,
                        help="mean pause between a person's actions, s (3)")
    parser.add_argument("--stagger-s", type=float, default=0.5,
                        help="seconds between sessions arriving (0.5)")
    parser.add_argument("--max-drawings", type=int, default=500,
                        help="most drawings per session (500)")
    parser.add_argument("--open-timeout-s", type=float, default=300,
                        help="most seconds to wait for every session to open /draw (300)")
    parser.add_argument("--memory-slack", type=float, default=1.25,
                        help="allowed memory after / before the job (1.25)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run_in_fresh_home("bench-soak-", run_soak, args)
    verdict = checks(result, args.memory_slack)
    result["checks"] = verdict
    lat = result["latency"]
    print(f"\nsoak: {result['sessions']} sessions for {result.get('soak_s')} s, "
          f"{result['drawings']} drawings, {result['visits']} page visits")
    print(f"drawing → prediction: n {lat['n']}, p50 {lat['p50']:.0f} ms, p95 "
          f"{lat['p95']:.0f} ms, max {lat['max']:.0f} ms")
    print(f"parts p50 {result['parts_p50']}\nparts p95 {result['parts_p95']}")
    for key in ("job_status", "job_run_s", "server_rss_start_mb", "server_rss_open_mb",
                "server_rss_end_of_soak_mb", "server_rss_after_mb", "server_rss_peak_mb",
                "worker_rss_peak_mb", "cpu_soak", "unanswered", "unanswered_why", "page_errors",
                "exceptions"):
        print(f"{key}: {result.get(key)}")
    for name, ok in verdict.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(LoadMeter(result["load_before"], result["load_after"]).line())
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
