"""One person uploads the worst zip the limits allow while another draws on /draw.

    python -m benchmarks.bench_import_fairness                 # 40 s per phase
    python -m benchmarks.bench_import_fairness --phase-s 15    # smoke run

The app is started on a free loopback port with its own temporary DASHCORE_HOME (access
off). **The person drawing** is a :class:`benchmarks.protocol_client.ProtocolSession` (the
websocket protocol as Chromium speaks it, no browser) on /draw that loops: send a one-stroke
drawing, wait for the answer, look at it ``--look-s``, clear, pause ``--think-s``.
**The uploader** imports, back to back, the worst zip the limits allow: 5000×5000 black PNGs
(25 megapixels each, ~25 kB) in two class folders, as many as the summed pixel budget
(``DASHCORE_IMPORT_MEGAPIXELS``) lets through, read as 64×64 colour (the costliest
decode). It calls ``zip_import.import_zip``, the function /data's form calls, from this
process on the same data folder: the cost is in the import's worker process either way
(lower priority, CPU- and time-limited), and the web server only waits for it.

Two phases of ``--phase-s``: **alone**, then **upload**. Reported: the drawing person's
p50/p95 in each and their ratio (done when upload p95 ≤ 1.5 × alone p95), each import's
outcome (stored, or its sentence) and wall time against its limit, and the 1-minute load.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import threading
import time
from pathlib import Path

from benchmarks.bench_protocol_load import drawings
from benchmarks.common import App, latency_table, load_1min, run_in_fresh_home, summarize
from benchmarks.protocol_client import ProtocolSession, canvas_json, empty_png


async def person(url: str, state: dict, args, stop: asyncio.Event) -> None:
    """Open /draw, then draw and clear until ``stop``; latencies per phase."""
    rng = random.Random(7)
    values, cleared = drawings(), canvas_json(empty_png())
    session = ProtocolSession(url)
    await session.connect()
    await session.open_page("")  # the router first: it lists the pages
    await session.open_page("draw")
    await session.send_canvas(values[0], "draw", timeout_s=120)  # loads TF and the model
    await session.send_canvas(cleared, "clear")
    state["ready"] = True
    try:
        while not stop.is_set():
            phase = state["phase"]
            run = await session.send_canvas(rng.choice(values), "draw")
            if run.status == "FINISHED_SUCCESSFULLY" and phase == state["phase"]:
                state["latencies"].setdefault(phase, []).append(run.latency_ms)
            elif run.status != "FINISHED_SUCCESSFULLY":
                state["errors"].append(f"draw: {run.status}")
            await asyncio.sleep(args.look_s)
            await session.send_canvas(cleared, "clear")
            await asyncio.sleep(rng.uniform(0.5, 1.5) * args.think_s)
    finally:
        await session.close()


def uploader(home: Path, args, until: threading.Event, imports: list[dict]) -> None:
    """Import the worst allowed zip again and again until ``until`` is set."""
    from dashcore.access.auth import User
    from dashcore.access.stores import count_every_store
    from dashcore.datasets import zip_import
    from dashcore.datasets.image_folders import ImportOptions
    from dashcore.errors import UserError
    from dashcore.settings import Settings, get_settings
    from tests.helpers.datasets import big_pngs_zip

    count_every_store()
    base = get_settings()
    limits = dataclasses.replace(base.limits, import_cpu_seconds=args.cpu_s,
                                 import_max_seconds=args.wall_s)
    settings = Settings(**{**base.__dict__, "home": home, "limits": limits}).ensure_dirs()
    images = limits.import_megapixels // 25  # 25 megapixels each: exactly the budget
    data = big_pngs_zip(classes=2, per_class=images // 2)
    n = 0
    while not until.is_set():
        n += 1
        started = time.monotonic()
        try:
            report = zip_import.import_zip(f"worst{n}", data, ImportOptions(side=64,
                                           colour="rgb"), settings, user=User("mallory"))
            outcome = f"stored ({len(report.dataset.x_train) + len(report.dataset.x_test)} images)"
        except UserError as exc:
            outcome = str(exc)
        imports.append({"seconds": round(time.monotonic() - started, 1), "outcome": outcome,
                        "zip_bytes": len(data), "images": images})


async def run_benchmark(args, home: Path) -> dict:
    app = App.start(home)
    url = app.url
    state: dict = {"phase": "warmup", "ready": False, "latencies": {}, "errors": []}
    stop, until = asyncio.Event(), threading.Event()
    imports: list[dict] = []
    result: dict = {"phase_s": args.phase_s, "cpu_s": args.cpu_s, "wall_s": args.wall_s}
    task = asyncio.create_task(person(url, state, args, stop))
    try:
        deadline = time.monotonic() + 300
        while not state["ready"] and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.5)
        state["phase"] = "alone"
        await asyncio.sleep(args.phase_s)
        result["load_alone_phase"] = round(load_1min(), 2)
        state["phase"] = "upload"
        thread = threading.Thread(target=uploader, args=(home, args, until, imports))
        thread.start()
        await asyncio.sleep(args.phase_s)
        until.set()
        result["load_upload_phase"] = round(load_1min(), 2)
        state["phase"] = "done"
        await asyncio.to_thread(thread.join, args.wall_s + 60)
    finally:
        stop.set()
        await asyncio.wait([task], timeout=60)
        if task.done() and task.exception() is not None:
            state["errors"].append(f"person ended: {task.exception()!r}"[:300])
        app.stop()
    result["phases"] = {p: summarize(v) for p, v in state["latencies"].items()
                        if p in ("alone", "upload")}
    result["imports"] = imports
    result["errors"] = state["errors"][:20]
    alone, upload = result["phases"].get("alone"), result["phases"].get("upload")
    if alone and upload and alone["n"] and upload["n"]:
        result["ratio_p95"] = upload["p95"] / alone["p95"]
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase-s", type=float, default=40, help="seconds per phase (40)")
    parser.add_argument("--cpu-s", type=float, default=120,
                        help="the import's CPU limit, seconds (120, the default setting)")
    parser.add_argument("--wall-s", type=float, default=120,
                        help="the import's wall-clock limit, seconds (120, the default)")
    parser.add_argument("--think-s", type=float, default=0.3,
                        help="mean pause between drawings, seconds (0.3)")
    parser.add_argument("--look-s", type=float, default=0.3,
                        help="seconds the person looks at an answer before clearing (0.3)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    result = run_in_fresh_home("bench-import-", run_benchmark, args)
    print(latency_table(result["phases"]))
    if "ratio_p95" in result:
        print(f"upload / alone p95: x{result['ratio_p95']:.2f}")
    for one in result["imports"]:
        print(f"import: {one['seconds']} s, {one['images']} images, {one['zip_bytes']:,} "
              f"bytes: {one['outcome'][:160]}")
    print(f"errors: {result['errors']}")
    print(f"load average (1 min): {result['load_before']:.2f} at start, "
          f"{result.get('load_alone_phase')} after 'alone', "
          f"{result.get('load_upload_phase')} after 'upload', {result['load_after']:.2f} at end")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
