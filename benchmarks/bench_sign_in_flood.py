"""A sign-in flood against one server, while another person draws on /draw.

    python -m benchmarks.bench_sign_in_flood                  # 10 attempts/s for 30 s
    python -m benchmarks.bench_sign_in_flood --phase-s 10     # smoke run

The app is started on a free loopback port with its own temporary DASHCORE_HOME and a
password list (one user, alice, with a real 600,000-round PBKDF2 hash). No browsers: every
session is a :class:`benchmarks.protocol_client.ProtocolSession` (the websocket protocol
as Chromium speaks it), so the load generator costs the box little and each interaction
is timed from the frame sent to the server's ``script_finished``.

- **The person** signs in as alice, opens /draw and loops: send a one-stroke drawing,
  wait for the answer, look at it ``--look-s``, clear, pause ``--think-s``.
- **The attacker** is ``--attackers`` sessions that together submit the sign-in form
  ``--rate`` times per second. Each attempt is a new made-up user name (so no name lock
  helps) with a wrong password; a session told "from this browser tab" is dropped and a
  new one connected in its place (a new Streamlit session), so as many attempts as the
  server lets through cost it a password hash. A session still waiting for its previous
  answer skips its turn (counted).

Two phases of ``--phase-s`` seconds: **before** (the person alone), then **attack**. It
reports the person's /draw p50/p95 in each, the attempts sent and what they were told
(wrong password, locked, server busy), and the server's CPU per phase. The server is
stopped by process id at the end. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path

from streamlit.proto.WidgetStates_pb2 import WidgetState

from benchmarks.bench_protocol_load import Meter, drawings, used
from benchmarks.common import App, latency_table, load_1min, run_in_fresh_home, summarize
from benchmarks.protocol_client import ProtocolSession, canvas_json, empty_png

PASSWORD = "correct horse battery"


class Session(ProtocolSession):
    """A protocol session that also keeps the text of error boxes (what a person reads)."""

    def _on_element(self, element, run) -> None:
        super()._on_element(element, run)
        if element.WhichOneof("type") == "alert" and run is not None:
            run.headings.append("ALERT " + element.alert.body)


def _form(name: str, password: str) -> dict[str, WidgetState]:
    """The sign-in form as a browser submits it: both fields and the button's trigger."""
    return {"sign_in_name": WidgetState(string_value=name),
            "sign_in_password": WidgetState(string_value=password),
            "sign_in_submit": WidgetState(trigger_value=True)}


def _told(run) -> str:
    """What an attempt was told, in a few words."""
    alerts = [h[6:] for h in run.headings if h.startswith("ALERT ")]
    if run.status == "timeout":
        return "no answer in 60 s"
    if not alerts:
        return f"no message ({run.status})"
    text = alerts[0]
    if text.startswith("Wrong user name or password"):
        return "wrong password (hashed)"
    if "Too many wrong passwords" in text:
        return "locked " + text.split("wrong passwords ", 1)[1].split(":")[0]
    if "busy checking other sign-ins" in text:
        return "server busy (not hashed)"
    return text[:60]


async def signed_in_session(url: str) -> Session:
    """alice's session, signed in, on /draw."""
    session = Session(url)
    await session.connect()
    await session.open_page("")
    run = await session.rerun("sign in", _form("alice", PASSWORD), timeout_s=120)
    if not session.pages or run.status != "FINISHED_SUCCESSFULLY":
        raise RuntimeError(f"alice could not sign in: {run.status} {run.headings}")
    await session.open_page("draw")
    return session


async def person(url: str, state: dict, think_s: float, look_s: float,
                 stop: asyncio.Event) -> None:
    """Sign in, then draw and clear on /draw until ``stop``; latencies per phase."""
    rng = random.Random(7)
    values, cleared = drawings(), canvas_json(empty_png())
    session = await signed_in_session(url)
    await session.send_canvas(values[0], "draw", timeout_s=120)  # loads TF and the model
    await session.send_canvas(cleared, "clear")
    state["ready"] += 1
    try:
        while not stop.is_set():
            phase = state["phase"]
            run = await session.send_canvas(rng.choice(values), "draw")
            if run.status == "FINISHED_SUCCESSFULLY" and phase == state["phase"]:
                state["latencies"].setdefault(phase, []).append(run.latency_ms)
            elif run.status != "FINISHED_SUCCESSFULLY":
                state["errors"].append(f"draw: {run.status}")
            await asyncio.sleep(look_s)
            await session.send_canvas(cleared, "clear")
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
    finally:
        await session.close()


async def attacker(index: int, url: str, state: dict, period_s: float, stop: asyncio.Event,
                   told: Counter) -> None:
    """One attacking tab: a wrong password for a new name every ``period_s`` seconds."""
    session = Session(url)
    await session.connect()
    await session.open_page("")
    state["ready"] += 1
    while state["phase"] != "attack" and not stop.is_set():
        await asyncio.sleep(0.05)
    await asyncio.sleep(index * period_s / state["attackers"])  # spread the tabs
    pending: asyncio.Task | None = None
    attempt = 0
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            if pending is not None and not pending.done():
                told["turn skipped (previous attempt unanswered)"] += 1
            else:
                if pending is not None:
                    what = _told(pending.result())
                    told[what] += 1
                    if what.startswith("locked from this browser tab"):
                        await session.close()
                        session = Session(url)  # a fresh session, as an attacker would
                        await session.connect()
                        await session.open_page("")
                attempt += 1
                state["sent"] += 1
                pending = asyncio.create_task(session.rerun(
                    "sign in", _form(f"guess-{index}-{attempt}", f"pw-{attempt}")))
            next_at += period_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if pending is not None:
            done, _ = await asyncio.wait([pending], timeout=15)
            if done:
                told[_told(pending.result())] += 1
    finally:
        await session.close()


async def run_benchmark(args, home: Path) -> dict:
    from dashcore.access.auth import hash_password

    secrets = home.parent / "secrets.toml"
    secrets.write_text('[workbench]\nmode = "password"\nadmins = ["alice"]\n\n'
                       f'[workbench.passwords]\nalice = "{hash_password(PASSWORD)}"\n', "utf-8")
    app = App.start(home, extra_args=["--secrets.files", str(secrets)])
    url = app.url
    meter = Meter(app.pid)
    state = {"phase": "warmup", "ready": 0, "sent": 0, "attackers": args.attackers,
             "latencies": {}, "errors": []}
    told: Counter = Counter()
    stop = asyncio.Event()
    period = args.attackers / args.rate
    result: dict = {"rate_per_s": args.rate, "attackers": args.attackers,
                    "phase_s": args.phase_s, "think_s": args.think_s}
    tasks = [asyncio.create_task(person(url, state, args.think_s, args.look_s, stop))]
    tasks += [asyncio.create_task(attacker(i, url, state, period, stop, told))
              for i in range(args.attackers)]
    try:
        deadline = time.monotonic() + 300
        while state["ready"] < 1 + args.attackers and time.monotonic() < deadline:
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.5)
        state["phase"] = "before"
        mark = meter.read()
        await asyncio.sleep(args.phase_s)
        result["cpu_before"] = used(mark, meter.read())
        result["load_before_phase"] = round(load_1min(), 2)
        state["phase"] = "attack"
        mark = meter.read()
        await asyncio.sleep(args.phase_s)
        result["cpu_attack"] = used(mark, meter.read())
        result["load_attack_phase"] = round(load_1min(), 2)
        result["attempts_sent"] = state["sent"]
        result["attempts_per_s"] = round(state["sent"] / args.phase_s, 2)
        state["phase"] = "done"
    finally:
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=60)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                state["errors"].append(f"task ended: {task.exception()!r}"[:300])
        app.stop()
    result["told"] = dict(told)
    result["phases"] = {p: summarize(v) for p, v in state["latencies"].items()
                        if p in ("before", "attack")}
    result["errors"] = state["errors"][:20]
    before, attack = result["phases"].get("before"), result["phases"].get("attack")
    if before and attack and before["n"] and attack["n"]:
        result["ratio_p95"] = attack["p95"] / before["p95"]
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=10, help="attempts per second (10)")
    parser.add_argument("--attackers", type=int, default=20,
                        help="attacking sessions sharing the rate (20)")
    parser.add_argument("--phase-s", type=float, default=30, help="seconds per phase (30)")
    parser.add_argument("--think-s", type=float, default=0.3,
                        help="mean pause between the person's drawings, seconds (0.3)")
    parser.add_argument("--look-s", type=float, default=0.3,
                        help="seconds the person looks at an answer before clearing (0.3)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    result = run_in_fresh_home("bench-flood-", run_benchmark, args)
    print(f"\n{result.get('attempts_sent')} sign-in attempts sent in {args.phase_s:g} s "
          f"({result.get('attempts_per_s')}/s from {args.attackers} sessions)")
    for what, count in sorted(result["told"].items(), key=lambda kv: -kv[1]):
        print(f"  {count:>5}  {what}")
    print(latency_table(result["phases"]))
    if "ratio_p95" in result:
        print(f"attack / before p95: x{result['ratio_p95']:.2f}")
    print(f"cores used: before {result.get('cpu_before')}, attack {result.get('cpu_attack')}")
    print(f"errors: {result['errors']}")
    print(f"load average (1 min): {result['load_before']:.2f} at start, "
          f"{result.get('load_before_phase')} after 'before', "
          f"{result.get('load_attack_phase')} after 'attack', {result['load_after']:.2f} at end")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
