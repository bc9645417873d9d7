"""Per-epoch training time on each Keras backend on this CPU box: the tutorial recipe
(CNN 32-64) and the Fast CNN recipe, each as a workbench job and as a plain ``model.fit`` of
the same model and data, on TensorFlow, JAX and PyTorch.

    python -m benchmarks.bench_backends                   # 3 rounds, 2 epochs, all images
    python -m benchmarks.bench_backends --rounds 1 --epochs 2 --train-images 600   # smoke

Every measurement is a fresh process with ``KERAS_BACKEND`` set: the job goes through the
queue to a cold worker, the plain fit is :func:`benchmarks.bench_training_overhead.plain_fit`
(same process setup, prepared arrays and compiled model as the worker's). Within a round
each recipe visits every installed backend, in an order that rotates from round to round,
and job and plain alternate which goes first, so a load change on a shared machine does not
always fall on the same side.

Reported per recipe and backend (medians over rounds): the *steady* epoch (epochs after the
first: no tracing or compiling in it; the validation pass included), wall and CPU seconds of
the whole ``fit`` per epoch (first-step compile included), the job / plain ratio of the
steady epoch (the target is at most 1.15) and each backend's steady job epoch against
TensorFlow's. Backends whose package is not installed are left out with a line saying so.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from benchmarks.bench_training_overhead import run_job, run_plain
from benchmarks.common import LoadMeter, fresh_home, markdown_table

BACKENDS = ("tensorflow", "jax", "torch")
RECIPES = ("CNN 32-64", "Fast CNN")
TARGET = 1.15  # the job's steady epoch may take at most this times a plain fit's


def steady_epoch(result: dict) -> float:
    """Median wall seconds of the epochs after the first (the first when there is one)."""
    epochs = result["epoch_s"]
    return statistics.median(epochs[1:] or epochs)


def _median(rows: list[dict], key) -> float:
    return statistics.median(key(row) for row in rows)


def table(results: dict[tuple[str, str, str], list[dict]], recipes: list[str],
          backends: list[str], epochs: int) -> str:
    """The markdown table of medians: one row per recipe and backend."""
    rows = []
    for recipe in recipes:
        tensorflow = results.get((recipe, "tensorflow", "job"))
        for backend in backends:
            plain, job = results[(recipe, backend, "plain")], results[(recipe, backend, "job")]
            plain_epoch, job_epoch = _median(plain, steady_epoch), _median(job, steady_epoch)
            versus = (f"{job_epoch / _median(tensorflow, steady_epoch):.2f}×"
                      if tensorflow else "—")
            compile_s = [r["compile_s"] for r in job if r.get("compile_s") is not None]
            rows.append((
                recipe, backend, f"{plain_epoch:.2f}", f"{job_epoch:.2f}",
                f"**{job_epoch / plain_epoch:.3f}**",
                f"{_median(plain, lambda r: r['fit_s']) / epochs:.2f} / "
                f"{_median(plain, lambda r: r['fit_cpu_s']) / epochs:.2f}",
                f"{_median(job, lambda r: r['fit_s']) / epochs:.2f} / "
                f"{_median(job, lambda r: r['fit_cpu_s']) / epochs:.2f}",
                f"{statistics.median(compile_s) if compile_s else float('nan'):.1f}", versus))
    return markdown_table(
        ("recipe", "backend", "plain steady epoch (s)", "job steady epoch (s)",
         "**job / plain**", "plain fit per epoch: wall / CPU (s)",
         "job fit per epoch: wall / CPU (s)", "job compile (s)", "job epoch vs TensorFlow"),
        rows, align="llrrrrrrr")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs per fit, at least 2 for a steady epoch (default 2)")
    parser.add_argument("--train-images", type=int, default=0,
                        help="training images, 0 = all 54,000 (default 0)")
    parser.add_argument("--threads", type=int, default=0,
                        help="backend threads for both sides (default: the worker's rule)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated (default: tensorflow,jax,torch)")
    parser.add_argument("--recipes", default=",".join(RECIPES),
                        help="comma-separated presets (default: 'CNN 32-64,Fast CNN')")
    args = parser.parse_args()
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    backends = [b for b in wanted if importlib.util.find_spec(b) is not None]
    for missing in sorted(set(wanted) - set(backends)):
        print(f"{missing}: not installed here, left out (pip install -e '.[{missing}]')")
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    with fresh_home("bench-backends-") as home:
        return compare(args, backends, recipes, home)


def compare(args: argparse.Namespace, backends: list[str], recipes: list[str],
            home: Path) -> int:
    """Every recipe on every backend, job and plain, for ``args.rounds`` rounds."""
    from dashcore.training.config import recommended_config

    base_env = {**os.environ, "DASHCORE_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3",
                "DASHCORE_WORKER_THREADS": str(args.threads), "DASHCORE_CONCURRENT_JOBS": "1",
                "DASHCORE_SPARES": "0"}  # every job a cold worker on its own backend
    results: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    load = LoadMeter()
    for round_no in range(args.rounds):
        for recipe_no, recipe in enumerate(recipes):
            config = recommended_config(recipe, epochs=args.epochs, seed=42,
                                        max_train_images=args.train_images)
            shift = (round_no + recipe_no) % len(backends)
            for turn, backend in enumerate(backends[shift:] + backends[:shift]):
                env = {**base_env, "KERAS_BACKEND": backend}
                sides = ("job", "plain") if (round_no + turn) % 2 == 0 else ("plain", "job")
                for side in sides:
                    run = run_job if side == "job" else run_plain
                    results[(recipe, backend, side)].append(run(env, config))
                job, plain = (results[(recipe, backend, s)][-1] for s in ("job", "plain"))
                print(f"round {round_no + 1} · {recipe} · {backend} ({' then '.join(sides)}):"
                      f" steady epoch job {steady_epoch(job):.2f} s, plain "
                      f"{steady_epoch(plain):.2f} s; fit CPU s job {job['fit_cpu_s']:.1f} "
                      f"plain {plain['fit_cpu_s']:.1f}; threads {plain['threads']}; load "
                      f"{os.getloadavg()[0]:.2f}", flush=True)
    images = f"{args.train_images:,}" if args.train_images else "all 54,000"
    print(f"\n{args.rounds} round(s), {args.epochs} epochs, {images} training images, "
          "medians:\n")
    print(table(results, recipes, backends, args.epochs))
    print(f"\n{load.line()}; target: job / plain ≤ {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
