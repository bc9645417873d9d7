"""What does the live machinery cost? One epoch of CNN 32-64 on full MNIST, as a workbench
job versus a plain ``model.fit`` of the same model and data, alternating in one run.

    python -m benchmarks.bench_training_overhead            # 3 rounds, ~4 min on 2 cores
    python -m benchmarks.bench_training_overhead --rounds 5 --threads 2

Both sides run in a fresh process with the same process setup (the worker's priority and
TensorFlow thread pools, :func:`dashcore.jobs.worker.configure_process`), the same prepared
arrays (:func:`dashcore.training.pipeline.prepare_data`: 54,000 training and 6,000 validation
images) and the same compiled model (:func:`dashcore.training.pipeline.compile_model`, seed 42).

* **job** — :func:`dashcore.jobs.queue.submit` → detached worker → ``train_in_process``; the time
  compared is that of its ``model.fit`` call (``fit_s``), which includes the live-metrics
  callback, per-batch stop checks, SQLite writes, TensorBoard events and the best-weights
  checkpoint.
* **plain** — ``model.fit(x, y, batch_size=128, epochs=1, validation_data=…, verbose=0)``.

Both fit times include Keras's first-step tracing and the validation pass. The job's
fixed cost around the fit (process start and TensorFlow import, data preparation, test
evaluation, saving to the registry) is reported separately as "job end to end".
The ratio of medians (job / plain) is the figure the issue asks to be at most 1.05. On a
shared, loaded machine wall-clock times swing by tens of percent from run to run, so the
CPU seconds each fit used (``time.process_time``, all threads of the process) are reported
too: the extra work the live machinery does shows up there without the waiting for a core.
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

from benchmarks.common import LoadMeter, fresh_home, markdown_table

REPO = Path(__file__).resolve().parents[1]

RECIPE = {"epochs": 1, "batch_size": 128, "validation_split": 0.1, "seed": 42,
          "optimizer": "adam", "learning_rate": 1e-3, "batch_log_interval_s": 0.5}


def _config():
    from dashcore.training.config import TrainConfig

    return TrainConfig(**RECIPE)  # the default architecture is CNN 32-64


def plain_fit(config_json: str | None = None) -> dict:
    """Child process: the tutorial's plain ``model.fit`` on the same data; prints JSON.

    ``config_json`` is a :class:`TrainConfig` dict (default: this benchmark's CNN 32-64);
    each epoch's wall seconds are returned too (``bench_backends`` compares them).
    """
    from dashcore.jobs.worker import configure_process
    from dashcore.settings import get_settings

    settings = get_settings()
    threads = configure_process(settings)
    import keras

    from dashcore.models.builder import build_model
    from dashcore.training.config import TrainConfig
    from dashcore.training.data import fitted_spec, prepare_data
    from dashcore.training.pipeline import compile_model

    config = TrainConfig.from_dict(json.loads(config_json)) if config_json else _config()
    data = prepare_data(config, settings)
    keras.utils.set_random_seed(config.seed)
    model = compile_model(build_model(fitted_spec(config, data.input_shape, data.num_classes),
                                      settings.limits.max_params), config)
    epoch_s: list[float] = []
    began = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: epoch_s.append(-time.monotonic()),
        on_epoch_end=lambda epoch, logs: epoch_s.__setitem__(-1, epoch_s[-1]
                                                             + time.monotonic()))
    start, cpu_start = time.monotonic(), time.process_time()
    model.fit(data.x_train, data.y_train, batch_size=config.batch_size, epochs=config.epochs,
              validation_data=(data.x_val, data.y_val), verbose=0, callbacks=[began])
    return {"fit_s": time.monotonic() - start, "fit_cpu_s": time.process_time() - cpu_start,
            "epoch_s": epoch_s, "threads": threads, "train_images": len(data.x_train)}


def run_plain(env: dict[str, str], config=None) -> dict:
    """``plain_fit`` in a fresh process with ``env`` (e.g. its ``KERAS_BACKEND``)."""
    extra = ["--config", json.dumps(config.to_dict())] if config is not None else []
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_training_overhead",
                          "--plain-child", *extra], env=env, cwd=REPO, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_job(env: dict[str, str], config=None) -> dict:
    """Submit through the real job path and wait for the worker to finish (the worker
    inherits ``env``, e.g. its ``KERAS_BACKEND``)."""
    os.environ.update(env)
    from dashcore.jobs import queue
    from dashcore.settings import get_settings
    from dashcore.store.factory import open_store
    from dashcore.store.runs import COMPLETED

    start = time.monotonic()
    settings = get_settings()
    run = queue.submit(config or _config(), name="overhead benchmark", settings=settings)
    store = open_store(settings)
    while store.get_run(run.run_id).active:
        time.sleep(0.2)
        queue.dispatch(settings)
    wall = time.monotonic() - start
    run = store.get_run(run.run_id)
    if run.status != COMPLETED:
        raise SystemExit(f"benchmark job ended {run.status}: {run.reason}")
    epochs = [p for p in store.epoch_points(run.run_id) if not p.get("partial")]
    return {"fit_s": run.summary["fit_s"], "fit_cpu_s": run.summary["fit_cpu_s"],
            "wall_s": wall, "compile_s": run.summary.get("compile_s"),
            # the first epoch's duration_s leaves out the compile estimate: add it back, so
            # epoch 1 reads as a plain fit's first epoch does
            "epoch_s": [p["duration_s"] + (p.get("compile_s") or 0.0) for p in epochs],
            "threads": run.progress.get("threads"), "points": len(store.batch_points(run.run_id))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="job+plain pairs (default 3)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads for both sides (default: the worker's rule)")
    parser.add_argument("--plain-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)  # the plain child's TrainConfig
    args = parser.parse_args()
    if args.plain_child:
        print(json.dumps(plain_fit(args.config)))
        return 0
    with fresh_home("bench-overhead-") as home:
        return compare(args, home)


def compare(args: argparse.Namespace, home: Path) -> int:
    """Job and plain fits, alternating which goes first, in the data folder ``home``."""
    env = {**os.environ, "DASHCORE_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3",
           "DASHCORE_WORKER_THREADS": str(args.threads), "DASHCORE_CONCURRENT_JOBS": "1"}
    jobs_s, plain_s, walls, ratios, jobs_cpu, plain_cpu = [], [], [], [], [], []
    load = LoadMeter()
    for round_no in range(args.rounds):
        order = ("job", "plain") if round_no % 2 == 0 else ("plain", "job")
        result = {}
        for side in order:
            result[side] = run_job(env) if side == "job" else run_plain(env)
        jobs_s.append(result["job"]["fit_s"])
        plain_s.append(result["plain"]["fit_s"])
        walls.append(result["job"]["wall_s"])
        jobs_cpu.append(result["job"]["fit_cpu_s"])
        plain_cpu.append(result["plain"]["fit_cpu_s"])
        ratios.append(result["job"]["fit_s"] / result["plain"]["fit_s"])
        print(f"round {round_no + 1} ({' then '.join(order)}): job fit "
              f"{result['job']['fit_s']:.2f} s ({result['job']['points']} batch points), plain "
              f"fit {result['plain']['fit_s']:.2f} s, ratio {ratios[-1]:.3f}; CPU s job "
              f"{jobs_cpu[-1]:.2f} plain {plain_cpu[-1]:.2f}; job end to end "
              f"{result['job']['wall_s']:.1f} s; threads {result['plain']['threads']}",
              flush=True)
    ratio = statistics.median(jobs_s) / statistics.median(plain_s)
    print()
    cpu_ratio = statistics.median(jobs_cpu) / statistics.median(plain_cpu)
    print(markdown_table(["measure", "median", "all rounds"], [
        ["job: model.fit inside the worker (s)", f"{statistics.median(jobs_s):.2f}",
         ", ".join(f"{v:.2f}" for v in jobs_s)],
        ["plain model.fit (s)", f"{statistics.median(plain_s):.2f}",
         ", ".join(f"{v:.2f}" for v in plain_s)],
        ["**ratio job / plain**", f"**{ratio:.3f}**", ", ".join(f"{v:.3f}" for v in ratios)],
        ["job: CPU seconds in model.fit", f"{statistics.median(jobs_cpu):.2f}",
         ", ".join(f"{v:.2f}" for v in jobs_cpu)],
        ["plain: CPU seconds in model.fit", f"{statistics.median(plain_cpu):.2f}",
         ", ".join(f"{v:.2f}" for v in plain_cpu)],
        ["**CPU ratio job / plain**", f"**{cpu_ratio:.3f}**",
         ", ".join(f"{a / b:.3f}" for a, b in zip(jobs_cpu, plain_cpu, strict=True))],
        ["job end to end, submit → completed (s)", f"{statistics.median(walls):.1f}",
         ", ".join(f"{v:.1f}" for v in walls)],
    ]))
    print(f"\n{load.line()}; target ratio ≤ 1.05: wall "
          f"{'met' if ratio <= 1.05 else 'NOT met'}, "
          f"CPU {'met' if cpu_ratio <= 1.05 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
