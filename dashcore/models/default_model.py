"""The small default model shipped with the package, and the one command that remakes it.

/draw must predict on a fresh install, before anyone has trained anything, so the
package ships ``dashcore/assets/default_model.keras`` and its card. Both come from the
workbench's own training pipeline (:func:`dashcore.training.pipeline.train_in_process`, the very
job /train runs) with a fixed configuration and seed, so the card can say exactly how
the model was made and anyone can repeat it on /train. Regenerate with::

    python -m dashcore.models.default_model

About 1–3 minutes on 2 CPU cores (longer on a busy machine); both files are rewritten
atomically, and only if the new model reaches :data:`MIN_TEST_ACCURACY`.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dashcore.atomic import atomic_write_json, atomic_write_with
from dashcore.datasets.base import MNIST
from dashcore.datasets.catalog import load_mnist
from dashcore.models.registry import BUILTIN_ID, builtin_paths, load_keras_model, model_file
from dashcore.models.specs import ModelSpec
from dashcore.settings import get_settings

REGENERATE_COMMAND = "python -m dashcore.models.default_model"
MIN_TEST_ACCURACY = 0.985  # the shipped model must score at least this on MNIST's test set
SEED = 1234  # seeds the split, shuffling, initial weights and dropout
EPOCHS = 3  # full passes over the 54,000 training images (10% held out for validation)


def default_spec() -> ModelSpec:
    """A small CNN with BatchNorm: ~72k parameters, ~0.3 MB on disk, ~99.2% on MNIST.

    Three 3×3 convolutions (32, 64, 64 filters), each followed by BatchNorm, the first
    two by 2×2 max-pooling; then dropout and the softmax layer. Small enough to answer a
    drawing in a few milliseconds on a CPU; BatchNorm lets it converge in 3 epochs.
    """
    def conv(filters: int, padding: str) -> dict[str, Any]:
        return {"type": "Conv2D", "filters": filters, "kernel_size": 3, "activation": "relu",
                "padding": padding}

    return ModelSpec(name="Default CNN-BN", layers=[
        conv(32, "same"), {"type": "BatchNormalization"}, {"type": "MaxPooling2D", "pool_size": 2},
        conv(64, "same"), {"type": "BatchNormalization"}, {"type": "MaxPooling2D", "pool_size": 2},
        conv(64, "valid"), {"type": "BatchNormalization"},
        {"type": "Flatten"}, {"type": "Dropout", "rate": 0.25},
        {"type": "Dense", "units": 10, "activation": "softmax"},
    ])


def default_config(epochs: int = EPOCHS, seed: int = SEED, max_train_images: int = 0) -> Any:
    """The fixed training configuration (a :class:`dashcore.training.config.TrainConfig`).

    Exactly what a user would enter on /train: MNIST, the spec above, Adam 0.001,
    batch 128, 10% validation, best epoch kept. ``max_train_images`` > 0 is for tests.
    """
    from dashcore.training.config import TrainConfig

    return TrainConfig(dataset=MNIST, architecture=default_spec().to_dict(), optimizer="adam",
                       learning_rate=1e-3, batch_size=128, epochs=epochs, validation_split=0.1,
                       seed=seed, augment=False, keep_best=True,
                       max_train_images=max_train_images)


class _PrintEpochs:
    """A training sink that prints one line per epoch (the regenerate command's output)."""

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Per-batch points are not printed."""

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        """Print the epoch's metrics."""
        shown = ", ".join(f"{k} {v:.4f}" for k, v in point.items()
                          if k in ("loss", "accuracy", "val_loss", "val_accuracy"))
        print(f"epoch {point['epoch']}: {shown} ({point.get('duration_s', 0):.0f} s)",
              flush=True)


def train_default(config: Any = None, quiet: bool = False) -> tuple[Any, dict[str, Any]]:
    """Train the default model through the project's pipeline; returns (model, card).

    Training registers the model in a throw-away data folder (so the user's registry is
    untouched); the result is reloaded without its optimizer state, which keeps the
    shipped file small, and scored on all 10,000 MNIST test images.
    """
    from dashcore.store.runs import COMPLETED
    from dashcore.training.pipeline import train_in_process
    from dashcore.training.sinks import NullSink

    config = config or default_config()
    load_before = _load_average()
    with tempfile.TemporaryDirectory(prefix="dashcore-default-") as home:
        settings = dataclasses.replace(get_settings(), home=Path(home))
        outcome = train_in_process(config, NullSink() if quiet else _PrintEpochs(),
                                   settings=settings, name="Default model", register=True)
        if outcome.status != COMPLETED or outcome.model_id is None:
            raise RuntimeError(f"Training the default model did not complete: "
                               f"{outcome.status} ({outcome.reason}).")
        model = load_keras_model(model_file(outcome.model_id, settings))
    accuracy = test_accuracy(model)
    trained = outcome.card or {}
    card = {
        "id": BUILTIN_ID,
        "name": "Default model (CNN-BN, shipped)",
        "description": "A small CNN shipped with the package so /draw predicts on a fresh "
                       "install. Trained by the workbench's own pipeline "
                       "(dashcore.training.pipeline.train_in_process) with the settings "
                       "below; enter "
                       "them on /train to repeat it.",
        "source": "builtin",
        "dataset": MNIST,
        "spec": trained.get("spec"),
        "input_shape": trained.get("input_shape", [28, 28, 1]),
        "num_classes": trained.get("num_classes", 10),
        "class_names": trained.get("class_names", [str(d) for d in range(10)]),
        "params": int(model.count_params()),
        "hyperparameters": config.to_dict(),
        "seed": config.seed,
        "epochs_done": outcome.epochs_done,
        "best_epoch": outcome.best_epoch,
        "weights": trained.get("weights"),
        "final_metrics": outcome.final_metrics,
        "best_metrics": outcome.best_metrics,
        "test_accuracy": round(accuracy, 5),
        "test_images": int(len(load_mnist().x_test)),
        "fit_s": round(outcome.fit_s, 1),
        "duration_s": round(outcome.duration_s, 1),
        "trained_on": f"{platform.machine()} CPU, {_cpu_count()} cores",
        "load_average": {"before": load_before, "after": _load_average(),
                         "meaning": "1-minute load average of the machine (runnable "
                                    "processes): above the core count, training shared the "
                                    "CPU and took longer"},
        "versions": trained.get("versions"),
        "regenerate": REGENERATE_COMMAND,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "note": "Re-running gives nearly the same model; results can differ slightly "
                "between machines and library versions (floating-point order). The test "
                "suite requires at least 98.5% test accuracy from the shipped file.",
    }
    return model, card


def _load_average() -> float | None:
    """The machine's 1-minute load average (how busy it was), where the OS reports it."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_accuracy(model: Any) -> float:
    """Accuracy on all 10,000 MNIST test images, through the shared predictor's batching."""
    from dashcore.inference.predictor import SharedPredictor

    dataset = load_mnist()
    probs = SharedPredictor(model).predict_many(dataset.x_test)
    return float(np.mean(probs.argmax(axis=1) == dataset.y_test))


test_accuracy.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def write_default(model: Any, card: dict[str, Any], model_path: Path | None = None,
                  card_path: Path | None = None) -> tuple[Path, Path]:
    """Save the model, then its card, each atomically (a card never describes a half file)."""
    default_model, default_card = builtin_paths()
    model_path, card_path = model_path or default_model, card_path or default_card
    atomic_write_with(model_path, lambda tmp: model.save(tmp), suffix=".keras")
    card = {**card, "file_bytes": model_path.stat().st_size}
    atomic_write_json(card_path, card)
    for path in (model_path, card_path):
        path.chmod(0o644)  # shipped assets: readable by whoever runs the app
    return model_path, card_path


def main(argv: list[str] | None = None) -> int:
    """Command line: train with the fixed configuration and rewrite the shipped files."""
    parser = argparse.ArgumentParser(description="Retrain the default model shipped with "
                                                 "the workbench and rewrite its card.")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for default_model.keras/.json (default: the package's "
                             "assets, which is what ships)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    print(f"Training the default model: {args.epochs} epochs, seed {args.seed}…", flush=True)
    model, card = train_default(default_config(epochs=args.epochs, seed=args.seed))
    accuracy = card["test_accuracy"]
    if accuracy < MIN_TEST_ACCURACY:
        print(f"Test accuracy {accuracy:.4f} is below {MIN_TEST_ACCURACY}: the shipped files "
              "were not changed. Try --epochs 5 or another --seed.", file=sys.stderr)
        return 1
    paths = ((args.out / "default_model.keras", args.out / "default_model.json")
             if args.out else (None, None))
    model_path, card_path = write_default(model, card, *paths)
    print(f"Test accuracy {accuracy:.4f} after {card['fit_s']} s of training "
          f"({card['duration_s']} s in all); wrote {model_path} "
          f"({model_path.stat().st_size / 1e3:.0f} kB) and {card_path}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
