"""How many people one server holds: N protocol-level sessions, idle and while a CNN trains.

    python -m benchmarks.bench_protocol_load                         # 10/25/50/100, ~8 min
    python -m benchmarks.bench_protocol_load --sessions 5 --phase-s 15   # smoke run

No browsers: each session is a ``benchmarks.protocol_client.ProtocolSession`` (one
websocket, the BackMsgs Chromium sends), so the two cores go to the server, not to the
load. Latency is the server's own: from sending an interaction to its ``script_finished``.

The app starts on a free loopback port with a temporary DASHCORE_HOME
(:mod:`benchmarks.common`). Each person arrives on home, opens /draw, then about every
``--think-s`` seconds either draws (one stroke, the prediction, then a reset of the canvas
a moment later) or, with probability ``--browse-p``, visits another page and comes back.
``--watchers`` of every 10 sessions sit on /train instead and follow its live fragment
(``run_every`` 1 s while a job runs).

Phases of ``--phase-s`` seconds: **idle** at each N, ascending (sessions are added), then
one CNN 32-64 job is submitted (``dashcore.jobs``) and, once it logs batches,
**training** at each N, descending (sessions are closed). Per phase: p50/p95/p99 per
interaction kind, errors, the server's CPU (cores, its process tree without the worker),
its RSS, the worker's and this client's CPU. The knee: the largest N whose drawing p95 is
≤ ``--target-ms`` (250), idle and training.

Bounded (``--max-s`` hard stop), loopback only; stops the server, the job and its worker.
``--json PATH`` writes the raw figures; ``--profile "training 25"`` records the server
with py-spy (if installed; busy threads only) during that phase and prints the functions
seen in most samples, inclusive and as the innermost frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import tests.helpers.harness as harness
from benchmarks.bench_many_sessions import (
    get_run,
    kill_pid,
    process_cpu_s,
    stop_job,
    submit_job,
    tree_cpu_s,
    tree_rss_mb,
    wait_until_final,
    wait_until_training,
)
from benchmarks.common import App, LoadMeter, load_1min, percentile, run_in_fresh_home
from benchmarks.protocol_client import (
    CANVAS_SIDE,
    ProtocolSession,
    canvas_json,
    empty_png,
    render_stroke_png,
)
from dashcore.settings import get_settings

REPO = Path(__file__).resolve().parents[1]

# Digit-like single strokes, fractions of the canvas (as bench_many_sessions draws them).
STROKES = {
    "1": [(0.52, 0.15), (0.51, 0.5), (0.5, 0.85)],
    "7": [(0.25, 0.2), (0.75, 0.2), (0.55, 0.5), (0.42, 0.85)],
    "0": [(0.5 + 0.22 * math.sin(a / 8 * 2 * math.pi), 0.5 - 0.33 * math.cos(a / 8 * 2 * math.pi))
          for a in range(9)],
    "2": [(0.3, 0.3), (0.5, 0.15), (0.7, 0.3), (0.3, 0.8), (0.75, 0.8)],
    "L": [(0.35, 0.15), (0.35, 0.8), (0.7, 0.8)],
}
BROWSE = ("", "data", "evaluate", "models", "train")  # pages a person glances at
CLEAR_AFTER_S = 1.0  # a person looks at the answer, then resets the canvas


def drawings(variants: int = 4) -> list[str]:
    """Canvas values to send, rendered once (the client's CPU stays out of the figures)."""
    values = []
    for name in sorted(STROKES):
        for v in range(variants):
            shift = (v - variants / 2) * 0.03
            points = [((fx + shift) * CANVAS_SIDE, fy * CANVAS_SIDE)
                      for fx, fy in STROKES[name]]
            values.append(canvas_json(render_stroke_png(points), points))
    return values


@dataclass
class Load:
    """Shared state between the orchestrator and the sessions."""

    phase: str = "warmup"
    values: list[str] = field(default_factory=list)
    cleared: str = ""
    latencies: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    bytes_in: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def record(self, phase: str, run) -> None:
        """One finished (or failed) interaction, counted in the phase it started in."""
        kind = run.kind if not run.kind.startswith("open /") else "page visit"
        if run.status in ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY") \
                and not run.exceptions:
            self.latencies.setdefault((phase, kind), []).append(run.latency_ms)
            self.bytes_in.setdefault((phase, kind), []).append(run.bytes_in)
        else:
            self.errors.setdefault(phase, []).append(
                f"{kind}: {run.status} {run.exceptions[:1]}"[:300])


async def person(index: int, url: str, load: Load, args, stop: asyncio.Event,
                 watcher: bool) -> ProtocolSession:
    """One person's session until ``stop``: draws on /draw, or watches /train."""
    rng = random.Random(index)
    session = ProtocolSession(url)
    await session.connect()
    await session.open_page("", "page visit")
    if watcher:
        await session.open_page("train", "page visit")
        session.runs.clear()
        # Fragment ticks are timed by the session itself; record them as they finish. The
        # live panel only ticks while a job runs: until then, look at /train again now
        # and then, as a person waiting for a job does.
        last_look = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(1)
            if not session.following and time.monotonic() - last_look > args.think_s:
                await session.open_page("train", "page visit")
                last_look = time.monotonic()
            for run in session.runs:
                load.record(load.phase, run)
            session.runs.clear()
        return session
    await session.open_page("draw", "page visit")
    session.runs.clear()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(0.5, 1.5) * args.think_s)
            break
        except TimeoutError:
            pass
        phase = load.phase
        if rng.random() < args.browse_p:
            load.record(phase, await session.open_page(rng.choice(BROWSE)))
            load.record(phase, await session.open_page("draw"))
            continue
        load.record(phase, await session.send_canvas(rng.choice(load.values), "draw"))
        await asyncio.sleep(CLEAR_AFTER_S)
        load.record(phase, await session.send_canvas(load.cleared, "clear"))
        if session.errors:
            load.errors.setdefault(phase, []).extend(session.errors)
            session.errors.clear()
    return session


class Crowd:
    """The running sessions; grows and shrinks between phases."""

    def __init__(self, url: str, load: Load, args) -> None:
        self.url, self.load, self.args = url, load, args
        self.members: list[tuple[asyncio.Task, asyncio.Event]] = []

    async def resize(self, n: int) -> None:
        """Add sessions (staggered, waiting until each has opened its page) or close some."""
        while len(self.members) > n:
            task, stop = self.members.pop()
            stop.set()
            await self._finish(task)
        while len(self.members) < n:
            i = len(self.members)
            stop = asyncio.Event()
            watcher = i % 10 < self.args.watchers
            task = asyncio.create_task(person(i, self.url, self.load, self.args, stop,
                                              watcher))
            self.members.append((task, stop))
            await asyncio.sleep(self.args.stagger_s)

    async def _finish(self, task: asyncio.Task) -> None:
        try:
            session = await asyncio.wait_for(task, 60)
            await session.close()
        except Exception as exc:  # noqa: BLE001 - counted as an error of the phase
            self.load.errors.setdefault(self.load.phase, []).append(
                f"session: {type(exc).__name__}: {exc}"[:300])

    async def close(self) -> None:
        await self.resize(0)


class Meter:
    """CPU seconds and peak RSS of the server (without the worker), the worker, this client."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.worker_pid: int | None = None
        self.peak_rss = 0.0
        self._task: asyncio.Task | None = None

    def read(self) -> dict[str, float]:
        exclude = {self.worker_pid} if self.worker_pid else set()
        return {"server": tree_cpu_s(self.server_pid, exclude),
                "worker": tree_cpu_s(self.worker_pid) if self.worker_pid else 0.0,
                "client": process_cpu_s(os.getpid()), "wall": time.monotonic()}

    def rss(self) -> float:
        return tree_rss_mb(self.server_pid, {self.worker_pid} if self.worker_pid else set())

    async def _sample(self) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, self.rss())
            await asyncio.sleep(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Cores used between two readings (CPU seconds per wall second)."""
    wall = after["wall"] - before["wall"]
    return {k: round((after[k] - before[k]) / wall, 2) for k in before if k != "wall"}


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    """Start py-spy on the server for ``seconds`` (None when py-spy is not installed)."""
    exe = shutil.which("py-spy")
    if not exe:
        print("py-spy not installed: no profile (pip install py-spy)")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration",
                             str(int(seconds)), "--rate", "50", "--format", "raw",
                             "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_frames(raw: Path, n: int = 30, leaf: bool = False) -> list[tuple[str, float]]:
    """Share of busy samples in which each function appears (``leaf``: as the innermost
    frame), from py-spy's raw (collapsed stacks) output."""
    counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        k = int(count)
        total += k
        frames = stack.split(";")
        for frame in ({frames[-1]} if leaf else set(frames)):
            counts[frame] = counts.get(frame, 0) + k
    return [(f, round(c / total, 3)) for f, c in
            sorted(counts.items(), key=lambda kv: -kv[1])[:n]] if total else []


async def warm_up(url: str, load: Load) -> None:
    """One drawing and one visit of each page before any phase: the first drawing loads
    TensorFlow and the model (seconds, once per server), which is not what N people wait."""
    session = ProtocolSession(url)
    await session.connect()
    try:
        await session.open_page("")
        for path in BROWSE:
            await session.open_page(path)
        await session.open_page("draw")
        await session.send_canvas(load.values[0], "draw", timeout_s=120)
        await session.send_canvas(load.cleared, "clear")
    finally:
        await session.close()


async def measure(name: str, load: Load, meter: Meter, seconds: float, result: dict,
                  crowd_n: int) -> None:
    """One phase: sessions keep going; record CPU, RSS and the phase's name."""
    load.phase = name
    rss_before = meter.rss()
    mark = meter.read()
    await asyncio.sleep(seconds)
    result["phases"][name] = {"sessions": crowd_n, "cpu_cores": used(mark, meter.read()),
                              "server_rss_mb": round(max(rss_before, meter.rss()), 1),
                              "load_1min": round(load_1min(), 2)}
    load.phase = "between"


async def run_benchmark(args, home: Path) -> dict:
    settings = get_settings()  # the data folder run_in_fresh_home made
    started = time.monotonic()
    if args.app_dir:  # another checkout of the app (e.g. the commit before a fix)
        harness.REPO_ROOT = args.app_dir.resolve()
        args.server_env = [*args.server_env, f"PYTHONPATH={harness.REPO_ROOT}"]
    app = App.start(home, extra_env=dict(e.split("=", 1) for e in args.server_env))
    url = app.url
    load = Load(values=drawings(), cleared=canvas_json(empty_png()))
    meter = Meter(app.pid)
    crowd = Crowd(url, load, args)
    result: dict = {"sessions": args.sessions, "phase_s": args.phase_s,
                    "think_s": args.think_s, "browse_p": args.browse_p,
                    "watchers_per_10": args.watchers, "server_env": args.server_env,
                    "app_dir": str(args.app_dir or REPO),
                    "phases": {}}
    run_id = None
    deadline = started + args.max_s
    try:
        meter.start()
        result["server_rss_start_mb"] = round(meter.rss(), 1)
        await warm_up(url, load)
        for n in args.sessions:
            await crowd.resize(n)
            load.phase = "warmup"
            await asyncio.sleep(args.warmup_s)
            await profiled(f"idle {n}", load, meter, args, result, n, app.pid)
            if time.monotonic() > deadline:
                raise TimeoutError("--max-s reached during the idle phases")
        if not args.no_training:
            load.phase = "startup"
            run_id = submit_job(settings, epochs=args.epochs, train_images=0).run_id
            meter.worker_pid = get_run(settings, run_id).pid
            result["job_training"] = await wait_until_training(settings, run_id)
            for n in sorted(args.sessions, reverse=True):
                await crowd.resize(n)
                load.phase = "warmup"
                await asyncio.sleep(args.warmup_s)
                await profiled(f"training {n}", load, meter, args, result, n, app.pid)
                if time.monotonic() > deadline:
                    raise TimeoutError("--max-s reached during the training phases")
            result["job_progress_at_end"] = get_run(settings, run_id).progress
    except TimeoutError as exc:
        result["stopped_early"] = str(exc)
    finally:
        await crowd.close()
        meter.stop()
        result["server_rss_peak_mb"] = round(meter.peak_rss, 1)
        if run_id:
            stop_job(settings, run_id)
            result["job_final_status"] = await wait_until_final(settings, run_id, 30)
            run = get_run(settings, run_id)
            kill_pid(run.pid if run.status in ("starting", "running") else None)
        app.stop()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    for (phase, kind), values in load.latencies.items():
        if phase not in result["phases"]:
            continue
        sizes = load.bytes_in[(phase, kind)]
        result["phases"][phase].setdefault("kinds", {})[kind] = {
            "n": len(values), "p50": round(percentile(values, 50), 1),
            "p95": round(percentile(values, 95), 1), "p99": round(percentile(values, 99), 1),
            "kb_per_run": round(sum(sizes) / len(sizes) / 1024, 1)}
    for phase, errors in load.errors.items():
        if phase in result["phases"]:
            result["phases"][phase]["errors"] = len(errors)
            result["phases"][phase]["error_samples"] = errors[:3]
    for condition in ("idle", "training"):
        ok = [p["sessions"] for name, p in result["phases"].items()
              if name.startswith(condition)
              and p.get("kinds", {}).get("draw", {}).get("p95", math.inf) <= args.target_ms
              and not p.get("errors")]
        result[f"knee_{condition}"] = max(ok) if ok else None
    return result


def print_table(result: dict) -> None:
    print(f"\nthink ~{result['think_s']} s, browse p={result['browse_p']}, "
          f"{result['watchers_per_10']}/10 watching /train, {result['phase_s']} s per phase, "
          f"{result['elapsed_s']} s in all")
    print(f"{'phase':<14}{'kind':<12}{'n':>6}{'p50':>8}{'p95':>8}{'p99':>8}{'KB':>7}"
          f"   cores server/worker/client  RSS MB  errors  load")
    for name, p in result["phases"].items():
        cpu = p["cpu_cores"]
        first = True
        for kind, s in sorted(p.get("kinds", {}).items()):
            tail = (f"   {cpu['server']:.2f}/{cpu['worker']:.2f}/{cpu['client']:.2f}"
                    f"{p['server_rss_mb']:>16.0f}{p.get('errors', 0):>8}"
                    f"{p['load_1min']:>6.1f}") if first else ""
            print(f"{name if first else '':<14}{kind:<12}{s['n']:>6}{s['p50']:>8.0f}"
                  f"{s['p95']:>8.0f}{s['p99']:>8.0f}{s['kb_per_run']:>7.1f}{tail}")
            first = False
        for sample in p.get("error_samples", []):
            print(f"{'':<14}error: {sample}")
    for key in ("knee_idle", "knee_training", "server_rss_start_mb", "server_rss_peak_mb",
                "job_training", "job_final_status", "stopped_early"):
        if key in result:
            print(f"{key}: {result[key]}")
    for key in ("profile", "profile_self"):
        if key in result:
            print(f"{key}:")
        for frame, share in result.get(key, []):
            print(f"  {share:6.1%}  {frame}")


async def profiled(name: str, load: Load, meter: Meter, args, result: dict, n: int,
                   server_pid: int) -> None:
    """``measure``, with py-spy on the server when ``--profile`` names this phase."""
    spy = py_spy(server_pid, args.phase_s, args.profile_out) if args.profile == name else None
    await measure(name, load, meter, args.phase_s, result, n)
    if spy is not None:
        await asyncio.to_thread(spy.wait, 60)
        result["profile"] = top_frames(args.profile_out)
        result["profile_self"] = top_frames(args.profile_out, leaf=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=lambda s: [int(x) for x in s.split(",")],
                        default=[10, 25, 50, 100], help="session counts (10,25,50,100)")
    parser.add_argument("--phase-s", type=float, default=30, help="seconds per phase (30)")
    parser.add_argument("--warmup-s", type=float, default=5,
                        help="seconds after resizing, before measuring (5)")
    parser.add_argument("--think-s", type=float, default=5.0,
                        help="mean seconds between a person's actions (5)")
    parser.add_argument("--browse-p", type=float, default=0.2,
                        help="chance an action is a page visit instead of a drawing (0.2)")
    parser.add_argument("--watchers", type=int, default=1,
                        help="of every 10 sessions, how many watch /train (1)")
    parser.add_argument("--stagger-s", type=float, default=0.1,
                        help="seconds between sessions arriving (0.1)")
    parser.add_argument("--target-ms", type=float, default=250,
                        help="drawing p95 that still counts as holding (250)")
    parser.add_argument("--epochs", type=int, default=50,
                        help="epochs of the job; it is stopped at the end (50)")
    parser.add_argument("--no-training", action="store_true", help="idle phases only")
    parser.add_argument("--server-env", nargs="*", default=[],
                        help="NAME=VALUE for the server's environment")
    parser.add_argument("--app-dir", type=Path,
                        help="run the app from this checkout instead (before/after a fix)")
    parser.add_argument("--profile", help='py-spy this phase, e.g. "training 25"')
    parser.add_argument("--profile-out", type=Path, default=Path("/tmp/protocol-load.pyspy"))
    parser.add_argument("--max-s", type=float, default=900,
                        help="hard stop: no new phase after this many seconds (900)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    result = run_in_fresh_home("bench-protocol-", run_benchmark, args)
    print_table(result)
    print(LoadMeter(result["load_before"], result["load_after"]).line())
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
