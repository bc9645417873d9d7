"""Press Train, see it learn: submit → first live point with a warm spare and without.

    python -m benchmarks.bench_first_point --rounds 5

The default preset and recipe (CNN 32-64 on full MNIST, batch 128) is submitted as a page
submits it (``queue.submit``, then ``dispatch`` and store reads every 50 ms), alternating
two setups in the same run, each round in a fresh data folder:

* **spare** — ``DASHCORE_SPARES=1``: a spare is started and waited for (not timed), then
  the run is handed to it.
* **cold** — ``DASHCORE_SPARES=0``: the run starts its worker the old way.

The clock runs from the Train press (``submit``) to the first batch point in the store;
then the run is stopped. It also reports each run's phases (from its summary), the time
a spare takes to get warm, its resident memory, and the CPU an idle ready spare used over
``--idle-s`` seconds (it should be none). The submitting process has MNIST loaded before
the clock starts, as a running server does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import LoadMeter, fresh_home, load_1min, markdown_table
from dashcore.jobs import queue, spares
from dashcore.settings import Settings, get_settings
from dashcore.store.factory import open_store
from dashcore.training.config import TrainConfig
from dashcore.training.data import describe_job


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait(condition, what: str, settings: Settings, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        queue.dispatch(settings)
        time.sleep(0.05)


def one_round(kind: str, idle_s: float) -> dict:
    """One timed Train press in a fresh data folder; returns its figures."""
    with fresh_home(f"bench-first-{kind}-"):
        os.environ.update({"DASHCORE_SPARES": "1" if kind == "spare" else "0",
                           "DASHCORE_CONCURRENT_JOBS": "1"})
        return press_train(kind, idle_s, get_settings())


def press_train(kind: str, idle_s: float, settings: Settings) -> dict:
    """Submit → first live point (with a warm spare waiting, for ``spare``), then stop."""
    store = open_store(settings)
    result: dict = {"kind": kind}
    if kind == "spare":
        began = time.monotonic()
        spares.top_up(settings)
        wait(lambda: any(s.ready for s in spares.list_spares(settings)), "a warm spare", settings)
        result["warm_s"] = time.monotonic() - began
        spare = next(s for s in spares.list_spares(settings) if s.ready)
        before = cpu_seconds(spare.pid)
        time.sleep(idle_s)
        result["idle_cpu_s"] = cpu_seconds(spare.pid) - before
        result["rss_mb"] = spares.resident_mb(spare.pid)
    start = time.monotonic()
    run = queue.submit(TrainConfig(), name=f"first point {kind}", settings=settings)
    wait(lambda: bool(store.batch_points(run.run_id)), "the first live point", settings, 300)
    result["first_s"] = time.monotonic() - start
    queue.stop(run.run_id, settings)
    wait(lambda: not store.get_run(run.run_id).active, "the run to stop", settings)
    final = store.get_run(run.run_id)
    result["worker"] = final.summary.get("worker")
    result["phases"] = {row["phase"]: row["s"] for row in final.summary.get("phases") or []}
    for spare in spares.list_spares(settings):  # a replacement started at the first point
        os.kill(spare.pid, 9)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=10.0,
                        help="seconds to watch an idle spare's CPU")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    describe_job(TrainConfig(), get_settings())  # MNIST loaded here, as in a server
    load = LoadMeter()
    rows: dict[str, list[dict]] = {"spare": [], "cold": []}
    for round_no in range(args.rounds):
        for kind in (("spare", "cold") if round_no % 2 == 0 else ("cold", "spare")):
            row = one_round(kind, args.idle_s)
            rows[kind].append(row)
            print(f"round {round_no + 1} {kind}: first point {row['first_s']:.2f} s "
                  f"(worker {row['worker']}; {row['phases']}) load "
                  f"{load_1min():.2f}", flush=True)
    medians, table = {}, []
    for kind, results in rows.items():
        firsts = [r["first_s"] for r in results]
        medians[kind] = statistics.median(firsts)

        def phase(name: str, results: list[dict] = results) -> str:
            values = [r["phases"].get(name) for r in results if r["phases"].get(name) is not None]
            return f"{statistics.median(values):.2f} s" if values else "–"

        table.append([kind, f"{medians[kind]:.2f} s", ", ".join(f"{v:.2f}" for v in firsts),
                      phase("waiting for a worker"), phase("loading data"), phase("compiling")])
    print()
    print(markdown_table(["setup", "Submit → first live point, median", "rounds",
                          "waiting for a worker", "loading data", "compiling"], table, "lrlrrr"))
    print(f"\ncold / spare: {medians['cold'] / medians['spare']:.1f}×")
    warm = [r for r in rows["spare"] if "warm_s" in r]
    print(f"spare warm-up, median {statistics.median(r['warm_s'] for r in warm):.1f} s; "
          f"resident {statistics.median(r['rss_mb'] for r in warm):.0f} MB; CPU used while "
          f"idle for {args.idle_s:g} s: {max(r['idle_cpu_s'] for r in warm):.2f} s at most")
    print(load.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
