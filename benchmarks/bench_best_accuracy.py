"""Best accuracy: the "Best CNN" preset with its recommended recipe, to the end.

    python -m benchmarks.bench_best_accuracy --threads 2   # 20 epochs, ~24 CPU minutes
    python -m benchmarks.bench_best_accuracy --epochs 12   # a shorter one-cycle run

One run in a fresh child process with the worker's process setup, through
:func:`dashcore.training.pipeline.train_in_process` (nothing registered), as
``bench_time_to_99.py`` does. The registered weights are those of the epoch with the
lowest *validation* loss (``keep_best``); their test accuracy is the result. The
per-epoch test accuracy is printed for information only (the probe reads, it never
chooses), and the training time excludes that probing.
"""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.bench_time_to_99 import run_child
from benchmarks.common import LoadMeter, fresh_home, markdown_table

TARGET = 0.996


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads (default: the worker's rule)")
    parser.add_argument("--epochs", type=int, default=0,
                        help="epochs instead of the recipe's (the one-cycle schedule spans them)")
    args = parser.parse_args()
    load = LoadMeter()
    with fresh_home("bench-best-"):  # the child's data folder
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "DASHCORE_WORKER_THREADS": str(args.threads)}
        result = run_child("best", env, max_epochs=args.epochs, stop=False)
    epochs = result["epochs"]
    chosen = " ← chosen (lowest val loss)"
    print(markdown_table(
        ["epoch", "training s (cumulative)", "CPU s", "val loss", "val accuracy",
         "test accuracy (information only)"],
        [[e["epoch"], f"{e['train_s']:.1f}", f"{e['train_cpu_s']:.1f}", f"{e['val_loss']:.4f}",
          f"{e['val_accuracy']:.4f}",
          f"{e['test_accuracy']:.4f}{chosen if e['epoch'] == result['best_epoch'] else ''}"]
         for e in epochs], "rrrrrr"))
    final = result["final_test_accuracy"]
    print(f"\nBest CNN: {result['params']:,} params, {len(epochs)} epochs, "
          f"{epochs[-1]['train_s']:.1f} s of training ({epochs[-1]['train_cpu_s']:.1f} CPU s), "
          f"{result['threads']} threads; registered weights: epoch {result['best_epoch']} "
          f"(lowest validation loss), test accuracy {final:.4f} "
          f"(target ≥ {TARGET:.1%}: {'met' if final >= TARGET else 'NOT met'})")
    print(load.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
