"""A sweep around the tutorial CNN against the tutorial recipe given the same epochs.

    python -m benchmarks.bench_sweep                      # 12 trials × 2 epochs; 1 and 2 at once
    python -m benchmarks.bench_sweep --trials 4 --epochs 1 --train-images 3000   # a smoke run

Everything goes through the code a person's sweep uses: :func:`dashcore.sweeps.dispatch.
start_sweep` submits the trials to the job queue, detached worker processes train them
(``python -m dashcore.jobs.worker``), the median pruner stops hopeless trials after an
epoch, and this script polls :func:`dashcore.sweeps.dispatch.advance` every two seconds as
the sweep page does. Each configuration gets its own temporary data folder.

* **tutorial** — CNN 32-64 with the tutorial recipe (Adam 0.001, batch 128, validation
  split 0.1) for ``trials × epochs`` epochs in one run: the same epoch budget.
* **sweep, N at once** — ``--trials`` trials of ``--epochs`` epochs, varying the learning
  rate (log-uniform 0.0003–0.003), batch size (64, 128, 256) and dropout (0.25–0.6), with
  ``DASHCORE_CONCURRENT_JOBS=N`` and N trials queued at once; ``--schedule`` also varies the
  learning-rate schedule (constant or one-cycle). ``--sharing`` picks whether trials follow
  one another in the same warm worker (``on``, the form's default), each in a worker of its
  own (``off``), or both, one after the other.

Reported per configuration: wall time from start to the last trial told, the best
validation accuracy (the metric a sweep optimises, at the epoch whose weights were kept)
and that run's test accuracy, trials pruned, epochs actually trained, and the overhead per
run: the wall time spent outside ``model.fit`` (each run's ``fit_s``; the first step's
tracing counts as fitting), over the runs: starting or handing over a worker, loading the
data, the test pass, saving, telling the study. Only meaningful one run at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import LoadMeter, fresh_home, markdown_table

SPACE = {"learning_rate": {"low": 3e-4, "high": 3e-3},
         "batch_size": {"choices": [64, 128, 256]},
         "dropout": {"low": 0.25, "high": 0.6}}


def _settings(at_once: int) -> Any:
    """The settings of the current (fresh) data folder with ``at_once`` jobs at a time."""
    os.environ["DASHCORE_CONCURRENT_JOBS"] = str(at_once)
    os.environ["DASHCORE_QUEUED_PER_USER"] = str(max(3, at_once))
    from dashcore.settings import get_settings

    return get_settings()


def _base(epochs: int, images: int) -> dict[str, Any]:
    from dashcore.training.config import recommended_config

    return recommended_config("CNN 32-64", epochs=epochs, max_train_images=images).to_dict()


def run_tutorial(epochs: int, images: int, max_s: float) -> dict[str, Any]:
    """The tutorial recipe as one run of ``epochs`` epochs, through the job queue."""
    from dashcore.jobs import queue
    from dashcore.store.factory import open_store
    from dashcore.training.config import TrainConfig

    with fresh_home("bench-sweep-"):
        settings = _settings(1)
        started = time.monotonic()
        run = queue.submit(TrainConfig.from_dict(_base(epochs, images)), name="tutorial",
                           settings=settings)
        store = open_store(settings)
        while store.get_run(run.run_id).active:
            if time.monotonic() - started > max_s:
                queue.stop(run.run_id, settings)
                raise SystemExit(f"tutorial run took more than {max_s:.0f} s: stopped")
            time.sleep(2)
            queue.dispatch(settings)
        run = store.get_run(run.run_id)
        best = run.summary.get("best_metrics") or {}
        return {"config": "tutorial", "epochs": epochs, "status": run.status,
                "wall_s": round(time.monotonic() - started, 1),
                "val_accuracy": best.get("val_accuracy"),
                "test_accuracy": run.summary.get("test_accuracy"),
                "epochs_trained": run.summary.get("epochs_done"),
                "fit_s": float(run.summary.get("fit_s") or 0.0), "runs": 1}


def run_sweep(trials: int, epochs: int, images: int, at_once: int, max_s: float,
              same_worker: bool = True, schedule: bool = False) -> dict[str, Any]:
    """One sweep to its end with ``at_once`` trials queued and trained at a time."""
    from dashcore.store.factory import open_store
    from dashcore.sweeps import dispatch, study
    from dashcore.sweeps.space import SweepPlan

    with fresh_home("bench-sweep-"):
        settings = _settings(at_once)
        space = {**SPACE, **({"schedule": {"choices": ["constant", "one_cycle"]}}
                             if schedule else {})}
        plan = SweepPlan(name=f"bench {at_once} at once", base=_base(epochs, images),
                         vary=space, n_trials=trials, parallel=at_once, pruner="median",
                         same_worker=same_worker)
        started = time.monotonic()
        sweep = dispatch.start_sweep(plan, settings)
        while study.load_sweep(sweep.sweep_id, settings).status == study.RUNNING_SWEEP:
            if time.monotonic() - started > max_s:
                dispatch.stop_sweep(sweep.sweep_id, settings)
                raise SystemExit(f"sweep took more than {max_s:.0f} s: stopped")
            time.sleep(2)
            dispatch.advance(settings)
        wall = time.monotonic() - started
        sweep = study.load_sweep(sweep.sweep_id, settings)
        store = open_store(settings)
        runs = [store.get_run(t.user_attrs["run_id"]) for t in sweep.trials()
                if t.user_attrs.get("run_id")]
        best = sweep.best()
        best_run = store.get_run(best.user_attrs["run_id"]) if best else None
        label = f"sweep, {at_once} at once, " + ("same worker" if same_worker
                                                  else "a worker each")
        return {"config": label, "trials": len(runs),
                "wall_s": round(wall, 1),
                "val_accuracy": best.value if best else None,
                "test_accuracy": best_run.summary.get("test_accuracy") if best_run else None,
                "best_params": best.params if best else None,
                "pruned": sum(study.outcome_of(r) == "pruned" for r in runs),
                "epochs_trained": sum(int(r.summary.get("epochs_done") or 0) for r in runs),
                "fit_s": round(sum(float(r.summary.get("fit_s") or 0.0) for r in runs), 1),
                "runs": len(runs), "phases_s_per_run": phase_means(runs)}


def phase_means(runs: list[Any]) -> dict[str, float]:
    """Mean seconds per run in each phase (waiting for a worker, loading data, compiling,
    training, testing), from the runs' summaries: where the time outside training goes."""
    totals: dict[str, float] = {}
    for run in runs:
        for row in run.summary.get("phases") or []:
            totals[row["phase"]] = totals.get(row["phase"], 0.0) + float(row["s"])
    return {phase: round(total / max(len(runs), 1), 2) for phase, total in totals.items()}


def overheads(results: list[dict[str, Any]], at_once: list[int]) -> None:
    """Add the overhead per run of each one-run-at-a-time configuration: its wall time less
    its runs' time in ``model.fit``, over its runs."""
    for r in results:
        one_at_a_time = r["config"] == "tutorial" or r["config"].startswith("sweep, 1 at once")
        if one_at_a_time and r.get("runs"):
            r["overhead_s_per_trial"] = round((r["wall_s"] - r["fit_s"]) / r["runs"], 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per trial")
    parser.add_argument("--at-once", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--train-images", type=int, default=0, help="0 = all 60,000")
    parser.add_argument("--max-s", type=float, default=7200, help="give up on one config")
    parser.add_argument("--skip-tutorial", action="store_true")
    parser.add_argument("--sharing", choices=("on", "off", "both"), default="on",
                        help="trials in the same warm worker, each in its own, or both")
    parser.add_argument("--schedule", action="store_true",
                        help="also vary the schedule (constant or one-cycle)")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    meter = LoadMeter()
    results = []
    if not args.skip_tutorial:
        results.append(run_tutorial(args.trials * args.epochs, args.train_images, args.max_s))
        print(json.dumps(results[-1]), flush=True)
    sharing = {"on": [True], "off": [False], "both": [True, False]}[args.sharing]
    for at_once in args.at_once:
        for same_worker in sharing:
            results.append(run_sweep(args.trials, args.epochs, args.train_images, at_once,
                                     args.max_s, same_worker, args.schedule))
            print(json.dumps(results[-1]), flush=True)
    overheads(results, args.at_once)
    meter.stop()
    load = {"load_1min_before": meter.before, "load_1min_after": meter.after,
            "cores": os.cpu_count()}
    print(json.dumps(load))

    def figure(value: float | None, form: str = ".4f") -> str:
        return format(value, form) if value is not None else "–"

    print()
    print(markdown_table(["config", "wall s", "val acc", "test acc", "epochs",
                          "outside fit, s / run"], [
        [r["config"], r["wall_s"], figure(r.get("val_accuracy")),
         figure(r.get("test_accuracy")), r.get("epochs_trained", "–"),
         figure(r.get("overhead_s_per_trial"), ".1f")] for r in results], "lrrrrr"))
    print(meter.line())
    if args.json:
        args.json.write_text(json.dumps({"results": results, **load}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
