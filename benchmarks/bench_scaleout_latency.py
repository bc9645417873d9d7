"""How quick is a run to start and to stop, on one box versus a team's Ray setup?

    .ci/services.sh start /tmp/svc && source /tmp/svc/env.sh
    python -m benchmarks.bench_scaleout_latency --rounds 5 --ray-dir /tmp/svc/ray

Alternates the same tiny run (Dense 16 on 2,000 MNIST images, batch 8, points every
0.1 s) between two setups, as a page would drive it (``queue.submit``, then ``dispatch``
and store reads every 50 ms):

* **local** — the default: a detached worker process, SQLite, the local data folder.
* **ray** — a Ray job through the Jobs API (``RAY_ADDRESS``), runs in PostgreSQL
  (``DASHCORE_TEST_PG``), the model saved to S3 (``DASHCORE_TEST_S3``, moto here).

For each: Submit → first live point (the worker started, TensorFlow imported, data
prepared, the first batch written to the store) and Stop → stopped (the flag read at the
next batch, the model saved, the final status written). With ``--ray-dir`` (the head's
``--temp-dir``) it also sums the resident memory of the head's processes.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _config():
    from dashcore.training.config import TrainConfig

    tiny = {"name": "tiny", "input_shape": [28, 28, 1], "layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 16, "activation": "relu"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]}
    return TrainConfig(architecture=tiny, epochs=200, batch_size=8, max_train_images=2000,
                       batch_log_interval_s=0.1)


def _setup(kind: str, home: Path) -> dict[str, str]:
    """The environment of one setup (a fresh data folder, schema and prefix per round)."""
    env = {"DASHCORE_HOME": str(home), "DASHCORE_BACKEND": kind, "DASHCORE_DB": "",
           "DASHCORE_ARTIFACTS": "", "DASHCORE_CONCURRENT_JOBS": "1",
           "DASHCORE_STOP_GRACE_S": "60"}
    if kind == "ray":
        env.update({"DASHCORE_DB": os.environ["DASHCORE_TEST_PG"],
                    "DASHCORE_RAY_ADDRESS": os.environ["DASHCORE_TEST_RAY"],
                    "DASHCORE_ARTIFACTS": f"{os.environ['DASHCORE_TEST_S3']}/bench-"
                                          f"{secrets.token_hex(3)}"})
    return env


def one_round(kind: str) -> tuple[float, float]:
    """(submit → first point, stop → stopped) in seconds."""
    from dashcore.jobs import queue
    from dashcore.store.factory import open_store
    from dashcore.store.runs import STOPPED

    home = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    os.environ.update(_setup(kind, home))
    store = open_store()
    start = time.monotonic()
    run = queue.submit(_config(), name=f"latency {kind}")
    while not store.batch_points(run.run_id):
        queue.dispatch()
        time.sleep(0.05)
        if time.monotonic() - start > 300:
            raise SystemExit(f"{kind}: no live point after 300 s: {store.get_run(run.run_id)}")
    first = time.monotonic() - start
    start = time.monotonic()
    queue.stop(run.run_id)
    while store.get_run(run.run_id).active:
        queue.dispatch()
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
    results: dict[str, list[tuple[float, float]]] = {"local": [], "ray": []}
    load_before = os.getloadavg()
    for round_no in range(args.rounds):
        order = ("local", "ray") if round_no % 2 == 0 else ("ray", "local")
        for kind in order:
            results[kind].append(one_round(kind))
            first, stopped = results[kind][-1]
            print(f"round {round_no + 1} {kind}: first point {first:.2f} s, "
                  f"stopped {stopped:.2f} s", flush=True)
    print("\n| setup | Submit → first live point, median (all) | Stop → stopped, median (all) |")
    print("|---|---|---|")
    for kind, rows in results.items():
        firsts, stops = [r[0] for r in rows], [r[1] for r in rows]
        print(f"| {kind} | {statistics.median(firsts):.2f} s "
              f"({', '.join(f'{v:.1f}' for v in firsts)}) | {statistics.median(stops):.2f} s "
              f"({', '.join(f'{v:.1f}' for v in stops)}) |")
    if args.ray_dir:
        print(f"\nRay head resident memory: {head_memory_mb(args.ray_dir):.0f} MB")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
