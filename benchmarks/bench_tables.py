"""Tables: a small MLP trained by the workbench against a linear / logistic regression of the
same encoded features on the same split, on data that ships inside scikit-learn (no download).

Each data set goes through the workbench's own path: a CSV in, imported by
``dashcore.tables.importing.import_table`` (seeded 80/20 split, features standardised with the
training rows' statistics), trained by ``train_in_process`` with the task's loss, and scored
on the test rows. scikit-learn's ``LinearRegression`` / ``LogisticRegression`` are fitted on
exactly the encoded training rows the MLP saw (its validation share included) and scored on
the same test rows.

    python -m benchmarks.bench_tables [--seeds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression

from benchmarks.common import LoadMeter, fresh_home, markdown_table
from dashcore.models.presets import get_preset
from dashcore.settings import Settings, get_settings
from dashcore.tables.importing import TableOptions, import_table
from dashcore.tables.metrics import regression_report
from dashcore.training.config import TrainConfig
from dashcore.training.pipeline import train_in_process


def csv_of(loader) -> tuple[bytes, str]:
    """A scikit-learn data set as the CSV a person would upload, and its target's name."""
    frame = loader(as_frame=True).frame
    if loader is load_breast_cancer:  # 0/1 → words, as a spreadsheet would have them
        frame["target"] = np.where(frame["target"] == 1, "benign", "malignant")
    return frame.to_csv(index=False).encode(), "target"


def run(name: str, loader, loss: str, preset: str, seed: int, settings: Settings) -> dict:
    data, target = csv_of(loader)
    dataset = import_table(f"{name} {seed} {preset}", data, TableOptions(target=target, seed=seed),
                           settings)
    recipe = {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 200,
              "validation_split": 0.1, "patience": 20, "keep_best": True}
    started = time.monotonic()
    outcome = train_in_process(TrainConfig(
        dataset=dataset.name, architecture=get_preset(preset).to_dict(), loss=loss,
        seed=seed, **recipe), settings=settings, register=False)
    seconds = time.monotonic() - started
    x_train, y_train, x_test, y_test = (dataset.x_train, dataset.y_train, dataset.x_test,
                                        dataset.y_test)
    if dataset.table.task == "regression":
        linear = LinearRegression().fit(x_train, y_train)
        line = regression_report(y_test, linear.predict(x_test), float(y_train.mean()))
        # the MLP's R² from its test mean squared error: 1 − MSE / variance of the test targets
        mlp_r2 = 1.0 - outcome.test_metrics["loss"] / float(np.var(y_test))
        return {"data": name, "seed": seed, "preset": preset, "mlp": mlp_r2,
                "linear": line.r2, "metric": "R²", "epochs": outcome.epochs_done,
                "seconds": seconds}
    logistic = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    return {"data": name, "seed": seed, "preset": preset, "mlp": outcome.test_accuracy,
            "linear": float((logistic.predict(x_test) == y_test).mean()), "metric": "accuracy",
            "epochs": outcome.epochs_done, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="splits (seeds 0..N-1)")
    args = parser.parse_args()
    load = LoadMeter()
    rows = []
    with fresh_home("bench-tables-"):
        settings = get_settings()
        for seed in range(args.seeds):
            for preset in ("Dense 64", "MLP 128-64 dropout"):
                rows.append(run("diabetes", load_diabetes, "mse", preset, seed, settings))
                rows.append(run("breast cancer", load_breast_cancer, "binary_crossentropy",
                                preset, seed, settings))
                print(rows[-2], rows[-1], flush=True)
    print(load.line())
    table = []
    for data in ("diabetes", "breast cancer"):
        for preset in ("Dense 64", "MLP 128-64 dropout"):
            mine = [r for r in rows if r["data"] == data and r["preset"] == preset]
            mlp, lin = np.mean([r["mlp"] for r in mine]), np.mean([r["linear"] for r in mine])
            table.append([data, preset, mine[0]["metric"], f"{mlp:.4f}", f"{lin:.4f}",
                          f"{mlp - lin:+.4f}"])
    print(markdown_table(["data", "preset", "metric", "MLP (mean of seeds)", "linear/logistic",
                          "difference"], table, "lllrrr"))


if __name__ == "__main__":
    main()
