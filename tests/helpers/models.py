"""Model builders: tiny Keras models, the model files a user would upload, a model saved
straight into the registry, and the fakes the training callbacks are fed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dashcore.atomic import atomic_write_json
from dashcore.models import registry
from dashcore.settings import get_settings


def tiny_model(input_shape=(28, 28, 1), units=10, extra=()):
    """Flatten → Dense(softmax), seeded; ``extra`` layers go before the Flatten."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(input_shape), *extra, keras.layers.Flatten(),
                             keras.layers.Dense(units, activation="softmax")])


def user_model_files(folder: Path) -> dict[str, Path]:
    """Model files as users would save them with plain Keras code, written into ``folder``:
    the tutorial CNN, a tiny model in .h5, Lambda and custom layers, a colour input, a
    regression output and a weights-only file."""
    import keras

    out: dict[str, Path] = {}

    def save(name: str, model) -> None:
        out[name] = folder / name
        model.save(out[name])

    keras.utils.set_random_seed(0)
    cnn = keras.Sequential([  # the tutorial CNN, exactly as mnist_convnet.py builds it
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    cnn.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    save("tutorial_cnn.keras", cnn)
    save("tiny.h5", tiny_model())
    save("lambda.keras", tiny_model(extra=[keras.layers.Lambda(lambda x: x * 2.0)]))
    save("lambda.h5", tiny_model(extra=[keras.layers.Lambda(lambda x: x * 2.0)]))

    @keras.saving.register_keras_serializable(package="evil")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    save("custom.keras", tiny_model(extra=[Doubler()]))
    save("custom.h5", tiny_model(extra=[Doubler()]))
    save("rgb.keras", tiny_model(input_shape=(32, 32, 3)))
    save("regression.keras", tiny_model(units=1))
    weights = tiny_model()
    out["weights.h5"] = folder / "weights.weights.h5"
    weights.save_weights(out["weights.h5"])
    return out


def saved_model(model_id: str, source: str) -> registry.ModelEntry:
    """A tiny real Keras model in the registry, with a card saying where it came from."""
    import keras

    settings = get_settings().ensure_dirs()
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(registry.model_file(model_id, settings))
    atomic_write_json(registry.card_file(model_id, settings),
                      {"id": model_id, "name": model_id, "owner": "bob", "source": source})
    return registry.get_entry(model_id, settings)


class FakeModel:
    """What the callback touches on a Keras model: the stop flag and the weights."""

    def __init__(self) -> None:
        self.stop_training = False
        self.weights = [np.zeros(3)]

    def get_weights(self) -> list[np.ndarray]:
        return self.weights

    def save_weights(self, path) -> None:
        raise AssertionError("no checkpoint path was given")


class FakeClock:
    """A clock that moves only when a test sets ``now``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
