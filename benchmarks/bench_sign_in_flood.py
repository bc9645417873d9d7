"""A sign-in flood against one server, while another person draws on /draw.

    python benchmarks/bench_sign_in_flood.py                  # 10 attempts/s for 30 s
    python benchmarks/bench_sign_in_flood.py --phase-s 10     # smoke run

The app is started on a free loopback port with its own temporary DASHCORE_HOME and a
password list (one user, a real 600,000-round PBKDF2 hash), like the browser tests. One
Debian Chromium holds two kinds of browser context:

- **the person**: signs in with the right password, opens /draw from the sidebar and draws
  a stroke, waits for the prediction, clears, pauses ~1 s, again; latency is measured in
  the page as in ``bench_many_sessions.py`` (pointerup on the canvas → the prediction
  heading in the DOM);
- **the attacker**: ``--attackers`` tabs that together submit the sign-in form
  ``--rate`` times per second, without waiting for answers, each attempt a new made-up
  user name (so no name lock helps) and a wrong password; a tab told "from this browser
  tab" reloads itself (a new Streamlit session) and goes on, so as many attempts as the
  server lets through cost it a hash.

Two phases of ``--phase-s`` seconds: **before** (the person alone), then **attack**. It
reports the person's /draw p50/p95 per phase, the attempts sent and what they were told
(wrong password / locked / busy), and the server's CPU per phase. Everything is stopped
by process id at the end. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_many_sessions import (  # noqa: E402 - after the path insert
    PAGE_PROBE,
    VIEWPORT,
    CpuMeter,
    LoadState,
    draw_and_time,
    drawing_surface,
    load_average,
    summarize,
    wait_for_script,
)
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, start_app, stop_app  # noqa: E402

PASSWORD = "correct horse battery"


async def sign_in_form(page, url: str) -> None:
    """Open the app and wait for its sign-in form."""
    await page.goto(f"{url}/", timeout=180_000)
    await page.get_by_role("heading", name="Sign in").wait_for(timeout=180_000)


async def person(browser, url: str, state: LoadState, think_s: float) -> None:
    """Sign in, open /draw from the sidebar, and draw until told to stop."""
    rng = random.Random(7)
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        page.set_default_timeout(120_000)
        await page.add_init_script(PAGE_PROBE)
        await sign_in_form(page, url)
        await page.get_by_role("textbox", name="User name").fill("alice")
        await page.get_by_role("textbox", name="Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Keras workbench").wait_for(timeout=120_000)
        await page.get_by_test_id("stSidebarNav").get_by_role("link", name="Draw").click()
        await drawing_surface(page)
        await wait_for_script(page)
        await draw_and_time(page, state, rng)  # warm: the model is loaded, first answer seen
        state.ready += 1
        while not state.stop:
            try:
                await draw_and_time(page, state, rng)
            except Exception as exc:  # noqa: BLE001 - counted; the person goes on
                if state.stop:
                    break
                state.page_errors.append(f"person: {type(exc).__name__}: "
                                         f"{str(exc).splitlines()[0][:200]}")
            await asyncio.sleep(rng.uniform(0.5 * think_s, 1.5 * think_s))
    finally:
        await context.close()


async def attacker(index: int, browser, url: str, state: LoadState, period_s: float,
                   told: Counter, sent: list[int]) -> None:
    """One tab submitting a wrong password for a new name every ``period_s`` seconds.

    It does not wait for the answer (an attacker would not): just before each attempt it
    reads the answer to the previous one, if it has come, and counts it.
    """
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        page.set_default_timeout(30_000)
        await sign_in_form(page, url)
        state.ready += 1
        while state.phase != "attack" and not state.stop:
            await asyncio.sleep(0.05)
        await asyncio.sleep(index * period_s / max(1, state.attackers))  # spread the tabs
        attempt = 0
        next_at = time.monotonic()
        while not state.stop:
            attempt += 1
            try:
                alerts = page.get_by_test_id("stAlertContentError")
                if await alerts.count():
                    text = await alerts.first.inner_text(timeout=500)
                    told[_kind(text)] += 1
                    if "from this browser tab" in text:
                        await sign_in_form(page, url)  # a fresh session, as an attacker would
                await page.get_by_role("textbox", name="User name").fill(
                    f"guess-{index}-{attempt}", timeout=5_000)
                await page.get_by_role("textbox", name="Password").fill(f"pw-{attempt}",
                                                                        timeout=5_000)
                await page.get_by_role("button", name="Sign in").click(timeout=5_000)
                sent.append(1)
            except Exception as exc:  # noqa: BLE001 - the tab could not attempt: counted
                told[f"tab could not attempt ({type(exc).__name__})"] += 1
            next_at += period_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        await context.close()


def _kind(text: str) -> str:
    if text.startswith("Wrong user name or password"):
        return "wrong password (hashed)"
    if "Too many wrong passwords" in text:
        return "locked: " + text.split("wrong passwords ", 1)[1].split(":")[0]
    if "busy checking other sign-ins" in text:
        return "server busy (not hashed)"
    return text[:60]


async def run_benchmark(args, home: Path) -> dict:
    from playwright.async_api import async_playwright

    from dashcore.access.auth import hash_password

    secrets = home.parent / "secrets.toml"
    secrets.write_text('[workbench]\nmode = "password"\nadmins = ["alice"]\n\n'
                       f'[workbench.passwords]\nalice = "{hash_password(PASSWORD)}"\n', "utf-8")
    port = free_port()
    server = start_app(home, port, extra_args=["--secrets.files", str(secrets)])
    url = f"http://127.0.0.1:{port}"
    state = LoadState()
    state.attackers = args.attackers
    cpu = CpuMeter(server.pid)
    told: Counter = Counter()
    sent: list[int] = []
    result: dict = {"rate_per_s": args.rate, "attackers": args.attackers,
                    "phase_s": args.phase_s}
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    period = args.attackers / args.rate
    tasks = [asyncio.create_task(person(browser, url, state, args.think_s))]
    tasks += [asyncio.create_task(attacker(i, browser, url, state, period, told, sent))
              for i in range(args.attackers)]
    try:
        deadline = time.monotonic() + 300
        while state.ready < 1 + args.attackers and time.monotonic() < deadline:
            if all(t.done() for t in tasks):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(args.warmup_s)
        state.phase = "before"
        mark = cpu.read()
        await asyncio.sleep(args.phase_s)
        result["cpu_before"] = CpuMeter.used(mark, cpu.read())
        state.phase = "attack"
        mark = cpu.read()
        started = time.monotonic()
        await asyncio.sleep(args.phase_s)
        result["cpu_attack"] = CpuMeter.used(mark, cpu.read())
        result["attempts_sent"] = len(sent)
        result["attempts_per_s"] = round(len(sent) / (time.monotonic() - started), 2)
        state.phase = "done"
    finally:
        state.stop = True
        done, pending = await asyncio.wait(tasks, timeout=60)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                state.page_errors.append(f"task ended: {task.exception()!r}"[:300])
        await browser.close()
        await playwright.stop()
        stop_app(server)
    result["told"] = dict(told)
    result["phases"] = {p: summarize(v) for p, v in state.latencies.items()
                        if p in ("before", "attack")}
    result["unanswered"] = state.unanswered
    result["page_errors"] = state.page_errors[:20]
    before, attack = result["phases"].get("before"), result["phases"].get("attack")
    if before and attack:
        result["ratio_p95"] = attack["p95"] / before["p95"]
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=10, help="attempts per second (10)")
    parser.add_argument("--attackers", type=int, default=10, help="attacking tabs (10)")
    parser.add_argument("--phase-s", type=float, default=30, help="seconds per phase (30)")
    parser.add_argument("--warmup-s", type=float, default=10,
                        help="seconds after everyone is ready, before measuring (10)")
    parser.add_argument("--think-s", type=float, default=1.0,
                        help="mean pause between the person's drawings, seconds (1)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["DASHCORE_HOME"] = str(home)
        load_before = load_average()
        result = asyncio.run(run_benchmark(args, home))
        result["load_before"], result["load_after"] = load_before, load_average()
    print(f"\n{result['attempts_sent']} sign-in attempts in {args.phase_s:g} s "
          f"({result['attempts_per_s']}/s from {args.attackers} tabs); told: {result['told']}")
    print(f"{'phase':<10}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for phase, s in result["phases"].items():
        print(f"{phase:<10}{s['n']:>5}{s['p50']:>10.0f}{s['p95']:>10.0f}{s['max']:>10.0f}")
    if "ratio_p95" in result:
        print(f"attack / before p95: ×{result['ratio_p95']:.2f}")
    print(f"server CPU (cores): before {result.get('cpu_before')}, "
          f"attack {result.get('cpu_attack')}")
    print(f"unanswered: {result['unanswered']}; errors: {result['page_errors']}")
    print(f"load average (1 min): {result['load_before']:.2f} before, "
          f"{result['load_after']:.2f} after")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
