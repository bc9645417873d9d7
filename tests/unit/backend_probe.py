"""A child process for the cross-backend tests: ``python -m tests.unit.backend_probe CMD``.

Run with ``KERAS_BACKEND`` set; each command prints one JSON line.

- ``save MODEL.keras IMAGES.npz``: train the Fast CNN for a few batches (so BatchNorm's
  statistics are not the defaults), save it, and save its outputs on fixed images.
- ``predict MODEL.keras IMAGES.npz [MODEL.keras IMAGES.npz ...]``: load each file and
  report the largest difference from the outputs saved with it (one process for all: the
  backend is imported once).
- ``train SEED``: the Fast CNN recipe, one epoch of MNIST, nothing registered (in the
  ``DASHCORE_HOME`` the test gives): its test accuracy.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from dashcore.settings import get_settings


def _images() -> np.ndarray:
    from dashcore.datasets.catalog import load_mnist
    from dashcore.training.data import to_model_input

    return to_model_input(load_mnist().x_test[:64])


def save(model_path: str, outputs_path: str) -> dict:
    import keras

    from dashcore.datasets.catalog import load_mnist
    from dashcore.datasets.prepare import one_hot
    from dashcore.models.builder import build_model
    from dashcore.models.presets import get_preset
    from dashcore.training.data import to_model_input

    keras.utils.set_random_seed(0)
    mnist = load_mnist()
    model = build_model(get_preset("Fast CNN"), get_settings().limits.max_params)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(to_model_input(mnist.x_train[:512]), one_hot(mnist.y_train[:512], 10),
              batch_size=64, epochs=1, verbose=0)
    model.save(model_path)
    outputs = keras.ops.convert_to_numpy(model(_images(), training=False))
    np.savez(outputs_path, outputs=outputs)
    return {"backend": keras.backend.backend()}


def predict(*paths: str) -> dict:
    import keras

    from dashcore.inference.predictor import SharedPredictor
    from dashcore.models.registry import load_keras_model

    files = []
    for model_path, outputs_path in zip(paths[::2], paths[1::2], strict=True):
        model = load_keras_model(model_path)
        with np.load(outputs_path) as saved:
            expected = saved["outputs"]
        direct = keras.ops.convert_to_numpy(model(_images(), training=False))
        predictor = SharedPredictor(model)
        shared = predictor.predict_many((_images()[..., 0] * 255).round().astype(np.uint8))
        files.append({"max_diff": float(np.abs(direct - expected).max()),
                      "max_diff_predictor": float(np.abs(shared - expected).max()),
                      "fast_path": predictor._forward is not None,
                      "same_top1": bool((direct.argmax(1) == expected.argmax(1)).all())})
    return {"backend": keras.backend.backend(), "files": files}


def train(seed: str) -> dict:
    import keras

    from dashcore.settings import get_settings
    from dashcore.training.config import recommended_config
    from dashcore.training.pipeline import train_in_process

    config = recommended_config("Fast CNN", epochs=1, seed=int(seed))
    outcome = train_in_process(config, settings=get_settings(), register=False)
    return {"backend": keras.backend.backend(), "status": outcome.status,
            "test_accuracy": outcome.test_accuracy, "fit_s": outcome.fit_s,
            "compile_s": outcome.compile_s}


def main(argv: list[str]) -> int:
    commands = {"save": save, "predict": predict, "train": train}
    print(json.dumps(commands[argv[0]](*argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
