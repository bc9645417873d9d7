"""How quick is a run to start and to stop, on one box versus a team's Ray setup?

    .ci/services.sh start /tmp/svc && source /tmp/svc/env.sh
    python -m benchmarks.bench_scaleout_latency --rounds 5 --ray-dir /tmp/svc/ray

Alternates the same tiny run (Dense 16 on 2,000 MNIST images, batch 8, points every
0.1 s) between two setups, as a page would drive it (``queue.submit``, then ``dispatch``
and store reads every 50 ms):

* **local** — the default: a detached worker process, SQLite, the local data folder.
* **ray** — a Ray job through the Jobs API (``RAY_ADDRESS``), runs in PostgreSQL
  (``DASHCORE_TEST_PG``), the model saved to S3 (``DASHCORE_TEST_S3``, moto here).
* **ray-spare** — the same with ``DASHCORE_SPARES=1``: a first, untimed run warms the
  Ray host (its job leaves a spare there), and once that spare is ready the timed run's
  job hands it the run (``local`` and ``ray`` keep ``DASHCORE_SPARES=0``: cold starts).

For each: Submit → first live point (the worker started, TensorFlow imported, data
prepared, the first batch written to the store) and Stop → stopped (the flag read at the
next batch, the model saved, the final status written). With ``--ray-dir`` (the head's
``--temp-dir``) it also sums the resident memory of the head's processes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.common import LoadMeter, fresh_home, markdown_table

if TYPE_CHECKING:
    from dashcore.settings import Settings


def _config():
    from dashcore.training.config import TrainConfig

    tiny = {"name": "tiny", "input_shape": [28, 28, 1], "layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 16, "activation": "relu"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]}
    return TrainConfig(architecture=tiny, epochs=200, batch_size=8, max_train_images=2000,
                       batch_log_interval_s=0.1)


def _setup(kind: str) -> dict[str, str]:
    """The environment of one setup (with a fresh data folder: a fresh schema and prefix)."""
    env = {"DASHCORE_BACKEND": "local" if kind == "local" else "ray", "DASHCORE_DB": "",
           "DASHCORE_ARTIFACTS": "", "DASHCORE_CONCURRENT_JOBS": "1",
           "DASHCORE_STOP_GRACE_S": "60", "DASHCORE_SPARES": "1" if kind == "ray-spare" else "0"}
    if kind != "local":
        env.update({"DASHCORE_DB": os.environ["DASHCORE_TEST_PG"],
                    "DASHCORE_RAY_ADDRESS": os.environ["DASHCORE_TEST_RAY"],
                    "DASHCORE_ARTIFACTS": f"{os.environ['DASHCORE_TEST_S3']}/bench-"
                                          f"{secrets.token_hex(3)}"})
    return env


def one_round(kind: str) -> tuple[float, float]:
    """(submit → first point, stop → stopped) in seconds, in a fresh data folder."""
    from dashcore.settings import get_settings

    with fresh_home(f"bench-{kind}-"):
        os.environ.update(_setup(kind))
        settings = get_settings()
        if kind == "ray-spare":
            warm_ray_host(settings)
        try:
            return submit_and_stop(kind, settings)
        finally:
            end_spares(settings)


def warm_ray_host(settings: Settings) -> None:
    """Run one tiny run through Ray (cold) and wait until the spare its job leaves on the
    host is ready (not timed)."""
    from dataclasses import replace

    from dashcore.jobs import queue, spares
    from dashcore.store.factory import open_store

    store = open_store(settings)
    run = queue.submit(replace(_config(), epochs=1, max_train_images=300), name="warm-up",
                       settings=settings)
    deadline = time.monotonic() + 600
    while store.get_run(run.run_id).active or not any(
            s.ready for s in spares.list_spares(settings)):
        if time.monotonic() > deadline:
            raise SystemExit(f"ray-spare: no warm spare after 600 s: {store.get_run(run.run_id)}")
        queue.dispatch(settings)
        time.sleep(0.2)


def end_spares(settings: Settings) -> None:
    """Kill the spares a round left on this host (a replacement starts at each first point)."""
    from dashcore.jobs import spares

    time.sleep(1.0)
    for spare in spares.list_spares(settings):
        with contextlib.suppress(OSError):
            os.kill(spare.pid, signal.SIGKILL)


def submit_and_stop(kind: str, settings: Settings) -> tuple[float, float]:
    """Submit a tiny run, wait for its first live point, stop it and wait until it stopped."""
    from dashcore.jobs import queue
    from dashcore.store.factory import open_store
    from dashcore.store.runs import STOPPED

    store = open_store(settings)
    start = time.monotonic()
    run = queue.submit(_config(), name=f"latency {kind}", settings=settings)
    while not store.batch_points(run.run_id):
        queue.dispatch(settings)
        time.sleep(0.05)
        if time.monotonic() - start > 300:
            raise SystemExit(f"{kind}: no live point after 300 s: {store.get_run(run.run_id)}")
    first = time.monotonic() - start
    start = time.monotonic()
    queue.stop(run.run_id, settings)
    while store.get_run(run.run_id).active:
        queue.dispatch(settings)
        time.sleep(0.05)
    stopped = time.monotonic() - start
    final = store.get_run(run.run_id)
    if final.status != STOPPED or not final.summary.get("model_id"):
        raise SystemExit(f"{kind}: ended {final.status}: {final.reason}")
    return first, stopped


def head_memory_mb(marker: str) -> float:
    """Resident memory of every process whose command line names the head's temp dir."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if marker.encode() not in cmd:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ray-dir", default="", help="the Ray head's --temp-dir")
    args = parser.parse_args()
    missing = [v for v in ("DASHCORE_TEST_PG", "DASHCORE_TEST_RAY", "DASHCORE_TEST_S3")
               if not os.environ.get(v)]
    if missing:
        raise SystemExit(f"{', '.join(missing)} not set: source the env.sh of "
                         ".ci/services.sh start first")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    results: dict[str, list[tuple[float, float]]] = {"local": [], "ray": [], "ray-spare": []}
    load = LoadMeter()
    for round_no in range(args.rounds):
        order = tuple(results) if round_no % 2 == 0 else tuple(reversed(results))
        for kind in order:
            results[kind].append(one_round(kind))
            first, stopped = results[kind][-1]
            print(f"round {round_no + 1} {kind}: first point {first:.2f} s, "
                  f"stopped {stopped:.2f} s", flush=True)
    table = []
    for kind, rows in results.items():
        firsts, stops = [r[0] for r in rows], [r[1] for r in rows]
        table.append([kind, f"{statistics.median(firsts):.2f} s "
                            f"({', '.join(f'{v:.1f}' for v in firsts)})",
                      f"{statistics.median(stops):.2f} s ({', '.join(f'{v:.1f}' for v in stops)})"])
    print()
    print(markdown_table(["setup", "Submit → first live point, median (all)",
                          "Stop → stopped, median (all)"], table))
    if args.ray_dir:
        print(f"\nRay head resident memory: {head_memory_mb(args.ray_dir):.0f} MB")
    print(load.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
