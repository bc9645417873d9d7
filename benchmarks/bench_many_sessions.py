"""Many people at once: N browser sessions drawing on /draw against one running server.

    python -m benchmarks.bench_many_sessions                      # 20 sessions, ~5 min
    python -m benchmarks.bench_many_sessions --sessions 3 --phase-s 20   # smoke run

The app is started on a free loopback port with its own temporary DASHCORE_HOME
(:mod:`benchmarks.common`). One Debian Chromium opens ``--sessions``
browser contexts (one Streamlit session each), driven concurrently with async Playwright.
Each session loops: draw one digit-like stroke on the canvas, wait for the prediction
headline, clear the canvas, think for a moment, again.

Latency is measured inside the page, on the page's own clock: from the ``pointerup`` that
ends the stroke on the canvas to the moment a ``Prediction: …`` / ``Not sure: …`` heading
enters the DOM (a MutationObserver). It therefore includes the canvas component sending
its image, the websocket, the Streamlit rerun of /draw (preprocess + shared predictor +
chart), and the browser rendering the answer.

Two phases of ``--phase-s`` seconds each: **idle** (no training), then **training** (one
CNN 32-64 job on MNIST submitted with :func:`dashcore.jobs.queue.submit` against the same data
folder; the phase starts once its first batches are logged, and the job is stopped at the
end). Strokes whose answer arrives while the job is still starting are not counted.
At the end: p50/p95 per phase, the training/idle ratio, the server's resident memory
(its process tree, without training workers) and the worker's, and CPU seconds used per
phase by the server, the worker and Chromium (where the two cores went).

Bounded: each phase lasts ``--phase-s``; each session draws at most ``--max-drawings``
times; everything (server, worker, browser) is stopped by process id at the end.
``--json`` writes the raw figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import App, LoadMeter, percentile, run_in_fresh_home, summarize
from dashcore.settings import Settings, get_settings
from tests.helpers.harness import CHROMIUM, CHROMIUM_ARGS

PREDICTION_TIMEOUT_S = 30.0  # a stroke with no answer by then counts as unanswered
VIEWPORT = {"width": 1280, "height": 900}

# Installed in every page before Streamlit loads: the time of the pointerup that ends a
# stroke on a canvas, and the time the next prediction heading appears.
PAGE_PROBE = """
(() => {
  // up: pointerup ending a stroke; sent: the page's next websocket message (the canvas
  // value); recv: the first server message after it; shown: the answer in the DOM.
  const bench = window.__bench = {up: null, sent: null, recv: null, shown: null};
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (bench.up !== null && bench.sent === null) bench.sent = performance.now();
    return send.call(this, data);
  };
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', () => {
      if (bench.sent !== null && bench.recv === null) bench.recv = performance.now();
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  const answered = () => {
    for (const h of document.querySelectorAll('h3')) {
      const t = h.textContent || '';
      if (t.startsWith('Prediction:') || t.startsWith('Not sure:')) return true;
    }
    return false;
  };
  document.addEventListener('pointerup', (e) => {
    const target = e.composedPath()[0];  // the canvas sits in the component's shadow root
    if (target && target.tagName === 'CANVAS') {
      bench.up = performance.now(); bench.sent = bench.recv = bench.shown = null;
    }
  }, true);
  new MutationObserver(() => {
    if (bench.up !== null && bench.shown === null && answered()) bench.shown = performance.now();
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""
NO_ANSWER_ON_SCREEN = """() => ![...document.querySelectorAll('h3')].some(
  h => /^(Prediction:|Not sure:)/.test(h.textContent || ''))"""
EXCEPTIONS = '[data-testid="stException"]'

# Digit-like single strokes, as fractions of the canvas (x, y).
STROKES = {
    "1": [(0.52, 0.15), (0.51, 0.5), (0.5, 0.85)],
    "7": [(0.25, 0.2), (0.75, 0.2), (0.55, 0.5), (0.42, 0.85)],
    "0": [(0.5 + 0.22 * math.sin(a / 8 * 2 * math.pi), 0.5 - 0.33 * math.cos(a / 8 * 2 * math.pi))
          for a in range(9)],
    "2": [(0.3, 0.3), (0.5, 0.15), (0.7, 0.3), (0.3, 0.8), (0.75, 0.8)],
    "L": [(0.35, 0.15), (0.35, 0.8), (0.7, 0.8)],
}


# ---------------------------------------------------------------- figures


def split_medians(splits: dict[str, list[tuple[float, float, float]]], q: float = 50
                  ) -> dict[str, dict[str, float]]:
    """Per phase, the ``q``-th percentile of each part of the latency: the page before
    sending the drawing, the server until its first answer message, the page until the
    answer is shown (each part on its own, so they need not add up to the total's)."""
    names = ("page_to_send", "server_first_msg", "page_to_shown")
    return {phase: {name: round(percentile(list(part), q), 1) for name, part
                    in zip(names, zip(*rows, strict=True), strict=True)}
            for phase, rows in splits.items() if rows}


# ---------------------------------------------------------------- processes


def tree_rss_mb(pid: int, exclude: set[int] = frozenset()) -> float:
    """Resident memory (MB) of a process and its descendants, leaving out ``exclude``."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        if proc.pid in exclude:
            continue
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def tree_cpu_s(pid: int, exclude: set[int] = frozenset()) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        if proc.pid in exclude:
            continue
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by one process (0 if it is gone)."""
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def chromium_pids() -> list[int]:
    """Chromium processes started by this benchmark (children of this process's tree)."""
    import psutil

    me = psutil.Process()
    return [p.pid for p in me.children(recursive=True)
            if "chrom" in (p.name() or "").lower()]


def kill_pid(pid: int | None) -> None:
    """SIGKILL one process we started, if it is still there."""
    import signal

    if not pid:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- the sessions


@dataclass
class LoadState:
    """What the orchestrator tells the sessions, and what they report back."""

    phase: str = "warmup"  # "warmup", "idle", "startup", "training", "soak", "done"
    stop: bool = False
    latencies: dict[str, list[float]] = field(default_factory=dict)
    splits: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    unanswered: dict[str, int] = field(default_factory=dict)
    unanswered_why: list[str] = field(default_factory=list)
    drawings: int = 0
    visits: int = 0
    page_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    ready: int = 0

    def record(self, phase: str, latency_ms: float | None,
               split: tuple[float, float, float] | None = None) -> None:
        """One stroke's latency (None: unanswered) and its three parts, if known."""
        if latency_ms is None:
            self.unanswered[phase] = self.unanswered.get(phase, 0) + 1
        else:
            self.latencies.setdefault(phase, []).append(latency_ms)
        if split is not None:
            self.splits.setdefault(phase, []).append(split)


async def drawing_surface(page):
    """Fabric's top canvas (the last <canvas> of the drawable-canvas component)."""
    canvases = page.locator("canvas")
    await canvases.last.wait_for(state="visible", timeout=120_000)
    return canvases.last


async def exception_check(page, state: LoadState, where: str) -> None:
    """Record any Streamlit exception box on screen."""
    count = await page.locator(EXCEPTIONS).count()
    if count:
        text = (await page.locator(EXCEPTIONS).first.inner_text())[:300]
        state.exceptions.append(f"{where}: {text}")


async def why_unanswered(page, phase: str) -> str:
    """Where an unanswered stroke stopped: never seen as a stroke by the page, never sent
    by the canvas, sent but no server reply, or a reply that never showed an answer."""
    try:
        b = await page.evaluate("() => window.__bench")
    except Exception as exc:  # noqa: BLE001 - the page itself is gone
        return f"{phase}: page unreadable ({type(exc).__name__})"
    if b["up"] is None:
        return f"{phase}: the page saw no pointerup on the canvas"
    if b["sent"] is None:
        return f"{phase}: the canvas never sent the drawing"
    if b["recv"] is None:
        return f"{phase}: sent, no server reply"
    return f"{phase}: server replied, no answer shown"


async def draw_and_time(page, state: LoadState, rng: random.Random) -> None:
    """One stroke, its prediction (timed in the page), then clear the canvas."""
    canvas = await drawing_surface(page)
    box = await canvas.bounding_box()
    points = STROKES[rng.choice(sorted(STROKES))]
    jitter = rng.uniform(-0.05, 0.05)
    xy = [(box["x"] + (fx + jitter) * box["width"], box["y"] + fy * box["height"])
          for fx, fy in points]
    phase = state.phase
    await page.mouse.move(*xy[0])
    await page.mouse.down()
    for x, y in xy[1:]:
        await page.mouse.move(x, y, steps=4)
    await page.mouse.up()
    try:
        await page.wait_for_function("() => window.__bench.shown !== null",
                                     timeout=PREDICTION_TIMEOUT_S * 1000, polling=100)
        b = await page.evaluate("() => window.__bench")
        latency = b["shown"] - b["up"]
        split = None
        if b["sent"] is not None and b["recv"] is not None:
            split = (b["sent"] - b["up"], b["recv"] - b["sent"], b["shown"] - b["recv"])
    except Exception:  # noqa: BLE001 - a timeout: the stroke went unanswered
        latency, split = None, None
        state.unanswered_why.append(await why_unanswered(page, phase))
    end_phase = state.phase
    # A stroke is counted in a phase only if the phase did not change under it.
    state.record(phase if phase == end_phase else "transition", latency, split)
    state.drawings += 1
    await exception_check(page, state, "/draw")
    await canvas.hover()
    await page.get_by_role("button", name="Reset canvas & history").click()
    await page.wait_for_function(NO_ANSWER_ON_SCREEN, timeout=PREDICTION_TIMEOUT_S * 1000,
                                 polling=100)


async def wait_for_script(page, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit shows no 'Running…' status."""
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText"
        ".includes('Running')", timeout=timeout_ms, polling=200)


async def visit(page, state: LoadState, title: str) -> None:
    """Open a page from the sidebar, wait for its script to finish, check for errors."""
    await page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    await page.get_by_role("heading", name=title, exact=True).wait_for(timeout=120_000)
    await wait_for_script(page)
    await exception_check(page, state, f"/{title.lower()}")
    state.visits += 1


async def session(index: int, browser, url: str, state: LoadState, args,
                  browse: tuple[str, ...] = ()) -> None:
    """One person: open /draw, then draw (and, with ``browse``, visit other pages) in a loop."""
    rng = random.Random(1000 + index)
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        page.set_default_timeout(120_000)
        page.on("pageerror", lambda exc: state.page_errors.append(f"session {index}: {exc}"))
        await page.add_init_script(PAGE_PROBE)
        await asyncio.sleep(index * args.stagger_s)  # people arrive one after another
        # Arrive at the home page, as a person does, then open /draw.
        await page.goto(f"{url}/", timeout=180_000)
        await page.get_by_role("heading", name="Keras workbench").wait_for(timeout=180_000)
        await page.goto(f"{url}/draw", timeout=180_000)
        await drawing_surface(page)
        await wait_for_script(page)
        state.ready += 1
        count = 0
        while not state.stop and count < args.max_drawings:
            try:
                if browse and rng.random() < args.browse_p:
                    await visit(page, state, rng.choice(browse))
                    await visit(page, state, "Draw")
                    await drawing_surface(page)
                else:
                    await draw_and_time(page, state, rng)
                    count += 1
            except Exception as exc:  # noqa: BLE001 - counted, the session goes on
                if state.stop:
                    break
                state.page_errors.append(f"session {index}: {type(exc).__name__}: "
                                         f"{str(exc).splitlines()[0][:200]}")
                await page.goto(f"{url}/draw", timeout=180_000)
            await asyncio.sleep(rng.uniform(0.5 * args.think_s, 1.5 * args.think_s))
    finally:
        await context.close()


# ---------------------------------------------------------------- the training job


def submit_job(settings: Settings, epochs: int, train_images: int):
    """Queue one CNN 32-64 run (the default recipe) in the benchmark's data folder."""
    from dashcore.jobs import queue
    from dashcore.training.config import TrainConfig

    config = TrainConfig(epochs=epochs, max_train_images=train_images, batch_size=128,
                         seed=42)
    return queue.submit(config, name="load benchmark", settings=settings)


def stop_job(settings: Settings, run_id: str) -> None:
    """Stop the benchmark's job if it is still queued or running."""
    from dashcore.jobs import queue

    if get_run(settings, run_id).status in ("queued", "starting", "running"):
        queue.stop(run_id, settings)


def get_run(settings: Settings, run_id: str):
    from dashcore.store.factory import open_store

    return open_store(settings).get_run(run_id)


async def wait_until_training(settings: Settings, run_id: str, timeout_s: float = 240
                              ) -> bool:
    """Wait until the worker has logged training batches (TensorFlow imported, data ready)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = get_run(settings, run_id)
        if run.status not in ("queued", "starting", "running"):
            return False
        if run.status == "running" and (run.progress or {}).get("batch"):
            return True
        await asyncio.sleep(1)
    return False


async def wait_until_final(settings: Settings, run_id: str, timeout_s: float) -> str:
    """Wait for the run to reach a final status; returns it (or the last one seen)."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = get_run(settings, run_id)
        if run.status in ("completed", "stopped", "failed", "interrupted"):
            return run.status
        if time.monotonic() > deadline:
            return run.status
        await asyncio.sleep(1)


class Sampler:
    """Samples server and worker memory every second while the benchmark runs."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.worker_pid: int | None = None
        self.server_peak = 0.0
        self.worker_peak = 0.0
        self.worker_last = 0.0
        self._task: asyncio.Task | None = None

    def server_now(self) -> float:
        return tree_rss_mb(self.server_pid, {self.worker_pid} if self.worker_pid else set())

    def worker_now(self) -> float:
        return tree_rss_mb(self.worker_pid) if self.worker_pid else 0.0

    async def _loop(self) -> None:
        while True:
            self.server_peak = max(self.server_peak, self.server_now())
            worker = self.worker_now()
            if worker:
                self.worker_last = worker
                self.worker_peak = max(self.worker_peak, worker)
            await asyncio.sleep(1)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


class CpuMeter:
    """CPU seconds used by the server, the worker and Chromium between two marks."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.worker_pid: int | None = None

    def read(self) -> dict[str, float]:
        browser = sum(process_cpu_s(pid) for pid in chromium_pids())
        return {"server": tree_cpu_s(self.server_pid, {self.worker_pid} if self.worker_pid
                                     else set()),
                "worker": tree_cpu_s(self.worker_pid) if self.worker_pid else 0.0,
                "chromium": browser, "wall": time.monotonic()}

    @staticmethod
    def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        wall = after["wall"] - before["wall"]
        return {key: round((after[key] - before[key]) / wall, 2) for key in before
                if key != "wall"} | {"wall_s": round(wall, 1)}


async def open_sessions(args, url: str, state: LoadState, browse: tuple[str, ...] = ()):
    """Start Chromium and the session tasks; return once every session shows /draw."""
    from playwright.async_api import async_playwright

    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    tasks = [asyncio.create_task(session(i, browser, url, state, args, browse))
             for i in range(args.sessions)]
    deadline = time.monotonic() + args.open_timeout_s
    while state.ready < args.sessions and time.monotonic() < deadline:
        if all(t.done() for t in tasks):
            break
        await asyncio.sleep(0.5)
    return playwright, browser, tasks


async def close_sessions(state: LoadState, playwright, browser, tasks, wait_s: float = 60
                         ) -> None:
    """Stop the session loops (waiting up to ``wait_s`` for them), then the browser."""
    state.stop = True
    done, pending = await asyncio.wait(tasks, timeout=wait_s)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            state.page_errors.append(f"session ended: {task.exception()!r}"[:300])
    await browser.close()
    await playwright.stop()


# ---------------------------------------------------------------- the benchmark


async def run_benchmark(args, home: Path) -> dict:
    settings = get_settings()  # the data folder run_in_fresh_home made
    started = time.monotonic()
    app = App.start(home)
    url = app.url
    state = LoadState()
    sampler, cpu = Sampler(app.pid), CpuMeter(app.pid)
    run_id = None
    result: dict = {"sessions": args.sessions, "phase_s": args.phase_s,
                    "think_s": args.think_s}
    opened = None
    try:
        sampler.start()
        result["server_rss_start_mb"] = round(sampler.server_now(), 1)
        opened = await open_sessions(args, url, state)
        result["sessions_ready"] = state.ready
        await asyncio.sleep(args.warmup_s)
        result["server_rss_sessions_open_mb"] = round(sampler.server_now(), 1)

        state.phase = "idle"
        mark = cpu.read()
        await asyncio.sleep(args.phase_s)
        result["cpu_idle"] = CpuMeter.used(mark, cpu.read())

        state.phase = "startup"
        run = submit_job(settings, epochs=args.epochs, train_images=0)
        run_id = run.run_id
        sampler.worker_pid = cpu.worker_pid = get_run(settings, run_id).pid
        result["job_training"] = await wait_until_training(settings, run_id)
        state.phase = "training"
        mark = cpu.read()
        await asyncio.sleep(args.phase_s)
        result["cpu_training"] = CpuMeter.used(mark, cpu.read())
        state.phase = "done"

        result["server_rss_end_mb"] = round(sampler.server_now(), 1)
        result["worker_rss_end_mb"] = round(sampler.worker_now(), 1)
        result["job_progress_at_end"] = get_run(settings, run_id).progress
        await close_sessions(state, *opened)
        opened = None
        stop_job(settings, run_id)
        result["job_final_status"] = await wait_until_final(settings, run_id, 60)
        result["job_reason"] = get_run(settings, run_id).reason
    finally:
        sampler.stop()
        if opened:  # an error before the sessions were closed: close them now
            await close_sessions(state, *opened, wait_s=5)
        if run_id:
            run = get_run(settings, run_id)
            kill_pid(run.pid if run.status in ("starting", "running") else None)
        result["server_rss_peak_mb"] = round(sampler.server_peak, 1)
        result["worker_rss_peak_mb"] = round(sampler.worker_peak, 1)
        app.stop()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    result["phases"] = {phase: summarize(values) for phase, values in state.latencies.items()}
    result["parts_p50"] = split_medians(state.splits)
    result["parts_p95"] = split_medians(state.splits, 95)
    result["unanswered"] = state.unanswered
    result["unanswered_why"] = state.unanswered_why
    result["drawings"] = state.drawings
    result["page_errors"] = state.page_errors[:20]
    result["exceptions"] = state.exceptions[:20]
    idle, training = result["phases"].get("idle"), result["phases"].get("training")
    if idle and training:
        result["ratio_p95"] = training["p95"] / idle["p95"]
        result["ratio_p50"] = training["p50"] / idle["p50"]
    return result


def print_table(result: dict) -> None:
    print(f"\n{result['sessions']} sessions, {result['phase_s']} s per phase, think time "
          f"~{result['think_s']} s; {result['drawings']} drawings in {result['elapsed_s']} s")
    print(f"{'phase':<12}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'max ms':>10}"
          f"{'no answer':>11}")
    for phase, s in result["phases"].items():
        print(f"{phase:<12}{s['n']:>6}{s['p50']:>10.0f}{s['p95']:>10.0f}{s['mean']:>10.0f}"
              f"{s['max']:>10.0f}{result['unanswered'].get(phase, 0):>11}")
    if "ratio_p95" in result:
        print(f"training / idle: p50 ×{result['ratio_p50']:.2f}, p95 ×{result['ratio_p95']:.2f}")
    for phase, parts in result.get("parts_p50", {}).items():
        print(f"{phase:<12} parts p50 (ms): {parts}")
        print(f"{phase:<12} parts p95 (ms): {result['parts_p95'][phase]}")
    for key in ("sessions_ready", "server_rss_start_mb", "server_rss_sessions_open_mb",
                "server_rss_end_mb", "server_rss_peak_mb", "worker_rss_end_mb",
                "worker_rss_peak_mb", "cpu_idle", "cpu_training", "job_training",
                "job_final_status", "unanswered_why", "page_errors", "exceptions"):
        if key in result:
            print(f"{key}: {result[key]}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="browser sessions (20)")
    parser.add_argument("--phase-s", type=float, default=90,
                        help="seconds of each phase, idle and training (90)")
    parser.add_argument("--warmup-s", type=float, default=20,
                        help="seconds after every session is open, before measuring (20)")
    parser.add_argument("--think-s", type=float, default=3.0,
                        help="mean pause between a person's drawings, seconds (3)")
    parser.add_argument("--stagger-s", type=float, default=0.5,
                        help="seconds between sessions arriving (0.5)")
    parser.add_argument("--max-drawings", type=int, default=200,
                        help="most drawings per session (200)")
    parser.add_argument("--epochs", type=int, default=50,
                        help="epochs of the training job; it is stopped after its phase (50)")
    parser.add_argument("--open-timeout-s", type=float, default=300,
                        help="most seconds to wait for every session to open /draw (300)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    result = run_in_fresh_home("bench-sessions-", run_benchmark, args)
    print_table(result)
    print(LoadMeter(result["load_before"], result["load_after"]).line())
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
