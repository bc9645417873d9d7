"""Time to 99% MNIST test accuracy: the tutorial recipe against the "Fast CNN" recipe.

    python -m benchmarks.bench_time_to_99                 # both recipes once, ~3-5 min on 2 cores
    python -m benchmarks.bench_time_to_99 --rounds 2 --threads 1

Each recipe trains in a fresh child process with the worker's process setup (lower
priority, TensorFlow thread pools: :func:`dashcore.jobs.worker.configure_process`) through the
code the workers run (:func:`dashcore.training.pipeline.train_in_process`, nothing registered),
alternating the order between rounds.

* **tutorial** — CNN 32-64, Adam 0.001, batch 128, validation split 0.1 (the Keras
  mnist_convnet recipe), up to ``--max-epochs`` epochs, stopped once it reaches the target.
* **fast** — the "Fast CNN" preset with its recommended recipe
  (:func:`dashcore.training.config.recommended_config`).

After every epoch a probe (:class:`TestProbe`) measures test accuracy. Its own time is
subtracted: "training time" is ``model.fit``'s wall clock (including the validation pass
and the live-metrics callback) minus the probing. The probe only reads: checkpoints are
chosen on the validation split by ``train_in_process`` as always, never on the test set.
The figure of merit is the ratio of the two times to the first epoch at ≥ 99.0%.
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
from typing import Any

from benchmarks.common import LoadMeter, fresh_home, markdown_table

REPO = Path(__file__).resolve().parents[1]

TARGET = 0.99
TUTORIAL = {"epochs": 12, "batch_size": 128, "validation_split": 0.1, "seed": 42,
            "optimizer": "adam", "learning_rate": 1e-3}  # architecture: CNN 32-64 (default)


def make_probe(x_test: Any, y_test: Any, target: float | None) -> Any:
    """A Keras callback measuring test accuracy after each epoch, timing itself out.

    ``target``: stop training once test accuracy reaches it (None: never). Stopping a
    benchmark run early changes nothing a checkpoint is chosen from: the time to the
    target is already recorded.
    """
    import keras
    import numpy as np

    labels = np.asarray(y_test).argmax(axis=1)

    class TestProbe(keras.callbacks.Callback):
        """Per-epoch test accuracy and the training time up to that epoch, probe excluded."""

        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[dict[str, float]] = []
            self._start = self._cpu_start = 0.0
            self._probe_s = self._probe_cpu_s = 0.0

        def on_train_begin(self, logs: dict | None = None) -> None:
            self._start, self._cpu_start = time.monotonic(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            now, cpu_now = time.monotonic(), time.process_time()
            train_s = now - self._start - self._probe_s
            train_cpu_s = cpu_now - self._cpu_start - self._probe_cpu_s
            predicted = self.model.predict(x_test, batch_size=1000, verbose=0).argmax(axis=1)
            accuracy = float((predicted == labels).mean())
            self._probe_s += time.monotonic() - now
            self._probe_cpu_s += time.process_time() - cpu_now
            logs = logs or {}
            self.epochs.append({"epoch": epoch + 1, "train_s": train_s,
                                "train_cpu_s": train_cpu_s, "test_accuracy": accuracy,
                                "val_accuracy": float(logs.get("val_accuracy", float("nan"))),
                                "val_loss": float(logs.get("val_loss", float("nan")))})
            print(json.dumps({"progress": self.epochs[-1]}), file=sys.stderr, flush=True)
            if target is not None and accuracy >= target:
                self.model.stop_training = True

    return TestProbe()


def child(recipe: str, max_epochs: int, stop_at_target: bool) -> dict[str, Any]:
    """One recipe in this (fresh) process; returns what the parent tabulates."""
    from dashcore.jobs.worker import configure_process
    from dashcore.settings import get_settings

    settings = get_settings()
    threads = configure_process(settings)
    from dashcore.datasets.catalog import load_dataset
    from dashcore.datasets.prepare import one_hot, to_model_input
    from dashcore.training.config import TrainConfig, recommended_config
    from dashcore.training.pipeline import train_in_process

    if recipe == "tutorial":
        config = TrainConfig(**{**TUTORIAL, "epochs": max_epochs})
    elif recipe == "best" and max_epochs:
        config = recommended_config("Best CNN", epochs=max_epochs)
    else:
        config = recommended_config({"fast": "Fast CNN", "best": "Best CNN"}[recipe])
    test = load_dataset(config.dataset, settings)  # cached: train_in_process reuses it
    probe = make_probe(to_model_input(test.x_test), one_hot(test.y_test, test.num_classes),
                       TARGET if stop_at_target else None)
    outcome = train_in_process(config, settings=settings, register=False,
                               extra_callbacks=(probe,))
    first = next((e for e in probe.epochs if e["test_accuracy"] >= TARGET), None)
    return {"recipe": recipe, "threads": threads, "config": config.to_dict(),
            "epochs": probe.epochs, "first_at_target": first, "status": outcome.status,
            "best_epoch": outcome.best_epoch, "final_test_accuracy": outcome.test_accuracy,
            "params": outcome.params, "fit_s": outcome.fit_s}


def run_child(recipe: str, env: dict[str, str], max_epochs: int, stop: bool) -> dict[str, Any]:
    """Run :func:`child` in a new interpreter (same setup for every recipe)."""
    command = [sys.executable, "-m", "benchmarks.bench_time_to_99", "--child", recipe,
               "--max-epochs", str(max_epochs)]
    if not stop:
        command.append("--no-stop")
    out = subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.PIPE,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="tutorial+fast pairs (default 1)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads for both (default: the worker's rule)")
    parser.add_argument("--max-epochs", type=int, default=12,
                        help="most epochs of the tutorial recipe (default 12)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no-stop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.max_epochs, not args.no_stop)))
        return 0

    load = LoadMeter()
    with fresh_home("bench-time-to-99-"):  # the children's data folder
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "DASHCORE_WORKER_THREADS": str(args.threads)}
        times: dict[str, list[float]] = {"tutorial": [], "fast": []}
        cpu: dict[str, list[float]] = {"tutorial": [], "fast": []}
        epochs: dict[str, list[int]] = {"tutorial": [], "fast": []}
        for round_no in range(args.rounds):
            order = ("tutorial", "fast") if round_no % 2 == 0 else ("fast", "tutorial")
            for recipe in order:
                result = run_child(recipe, env, args.max_epochs, stop=True)
                first = result["first_at_target"]
                curve = ", ".join(
                    f"{e['epoch']}: {e['test_accuracy']:.4f} @ {e['train_s']:.1f} s"
                    for e in result["epochs"])
                print(f"round {round_no + 1} {recipe}: {result['params']:,} params, "
                      f"{result['threads']} threads; test accuracy per epoch {curve}; "
                      f"registered weights (epoch {result['best_epoch']}, chosen on validation) "
                      f"{result['final_test_accuracy']:.4f}", flush=True)
                if first is None:
                    print(f"  {recipe} did not reach {TARGET:.1%} within its epochs", flush=True)
                    continue
                times[recipe].append(first["train_s"])
                epochs[recipe].append(first["epoch"])
                cpu[recipe].append(first["train_cpu_s"])
    print()
    print(markdown_table(
        ["recipe", "epochs to 99.0%", "training s to 99.0% (median)", "CPU s (median)", "runs"],
        [[recipe, ", ".join(str(e) for e in epochs[recipe]), f"{statistics.median(values):.1f}",
          f"{statistics.median(cpu[recipe]):.1f}", ", ".join(f"{v:.1f}" for v in values)]
         for recipe, values in times.items() if values], "lrrrl"))
    if times["tutorial"] and times["fast"]:
        ratio = statistics.median(times["tutorial"]) / statistics.median(times["fast"])
        cpu_ratio = statistics.median(cpu["tutorial"]) / statistics.median(cpu["fast"])
        print(f"\nratio tutorial / fast: wall {ratio:.2f}×, CPU {cpu_ratio:.2f}× "
              f"(target ≥ 5×: {'met' if ratio >= 5 else 'NOT met'})")
    print(load.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
