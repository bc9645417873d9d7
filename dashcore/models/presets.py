"""The ready-made architectures and, in the same place, the recipe each one trains best with.

A new preset goes here: a :class:`ModelSpec` in :data:`PRESETS` and, if it has one, its
recipe in :data:`RECIPES` with a line in :data:`RECIPE_NOTES`. No Keras here.
"""

from __future__ import annotations

from typing import Any

from dashcore.errors import UserError
from dashcore.models.specs import ModelSpec


def _output(num_classes: int = 10) -> dict[str, Any]:
    return {"type": "Dense", "units": num_classes, "activation": "softmax"}


def _conv(filters: int, padding: str = "valid") -> dict[str, Any]:
    return {"type": "Conv2D", "filters": filters, "kernel_size": 3, "activation": "relu",
            "padding": padding}


def _bn() -> dict[str, Any]:
    return {"type": "BatchNormalization"}


DEFAULT_PRESET = "CNN 32-64"  # the tutorial convnet: what /train and TrainConfig start from
PRESETS: dict[str, ModelSpec] = {
    "Dense 64": ModelSpec(name="Dense 64", layers=[
        {"type": "Flatten"}, {"type": "Dense", "units": 64, "activation": "relu"}, _output()]),
    "MLP 2×512": ModelSpec(name="MLP 2×512", layers=[
        {"type": "Flatten"}, {"type": "Dense", "units": 512, "activation": "relu"},
        {"type": "Dense", "units": 512, "activation": "relu"}, _output()]),
    "CNN 32-64": ModelSpec(name="CNN 32-64", layers=[
        _conv(32), {"type": "MaxPooling2D", "pool_size": 2}, _conv(64),
        {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
        {"type": "Dropout", "rate": 0.5}, _output()]),
    "LSTM rows": ModelSpec(name="LSTM rows", layers=[
        {"type": "Reshape", "target_shape": [28, 28]},
        {"type": "LSTM", "units": 128, "return_sequences": False}, _output()]),
    # For tables (feature vectors): the tutorial's Dense 64 reads them too (its Flatten
    # passes a vector through); this one is wider, with dropout against overfitting the
    # few hundred rows a spreadsheet often has.
    "MLP 128-64 dropout": ModelSpec(name="MLP 128-64 dropout", layers=[
        {"type": "Flatten"}, {"type": "Dense", "units": 128, "activation": "relu"},
        {"type": "Dropout", "rate": 0.2},
        {"type": "Dense", "units": 64, "activation": "relu"}, {"type": "Dropout", "rate": 0.2},
        _output()]),
    # Not from the tutorials: tuned for speed and accuracy on a CPU; see their recipes in
    # dashcore.models.presets.RECIPES and the measurements in BENCHMARKS.md.
    "Fast CNN": ModelSpec(name="Fast CNN", layers=[  # the tutorial CNN's convs, BatchNorm
        # after each pooling (4× fewer values to normalise than before it; max-pooling
        # commutes with a positive per-channel scale, so the model is much the same), a
        # BatchNorm'd Dense 128 head instead of dropout. ~1.3× the tutorial's CPU per step.
        _conv(32), {"type": "MaxPooling2D", "pool_size": 2}, _bn(), _conv(64),
        {"type": "MaxPooling2D", "pool_size": 2}, _bn(), {"type": "Flatten"},
        {"type": "Dense", "units": 128, "activation": "relu"}, _bn(), _output()]),
    "Best CNN": ModelSpec(name="Best CNN", layers=[  # two conv pairs with BatchNorm, 'valid'
        # padding (a quarter of the 'same'-padded cost), a BatchNorm'd Dense head
        _conv(32), _bn(), _conv(32), _bn(), {"type": "MaxPooling2D", "pool_size": 2},
        _conv(64), _bn(), _conv(64), _bn(), {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "Flatten"}, {"type": "Dense", "units": 128, "activation": "relu"}, _bn(),
        {"type": "Dropout", "rate": 0.3}, _output()]),
}


def get_preset(name: str) -> ModelSpec:
    """A fresh copy of a preset (callers may edit it freely)."""
    if name not in PRESETS:
        raise UserError(f"Unknown preset {name!r}: choose one of {', '.join(PRESETS)}.")
    return ModelSpec.from_dict(PRESETS[name].to_dict())


def empty_spec(input_shape: tuple[int, ...] = (28, 28, 1), num_classes: int = 10) -> ModelSpec:
    """A blank stack holding only the output layer, so it is one step from valid."""
    return ModelSpec(layers=[_output(num_classes)], input_shape=tuple(input_shape),
                     num_classes=num_classes, name="custom")


# The recipe each preset trains best with (fields of TrainConfig); presets not listed use
# TrainConfig's defaults, the tutorial recipe. /train fills the form from these when a
# preset is picked; every field stays editable.
RECIPES: dict[str, dict[str, Any]] = {
    "Fast CNN": {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 128, "epochs": 1,
                 "validation_split": 0.1, "schedule": "one_cycle", "augment": False,
                 "patience": 0, "keep_best": True},
    "Best CNN": {"optimizer": "adam", "learning_rate": 0.003, "batch_size": 128, "epochs": 20,
                 "validation_split": 0.1, "schedule": "one_cycle", "augment": True,
                 "patience": 0, "keep_best": True},
    "MLP 128-64 dropout": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32,
                           "epochs": 100, "validation_split": 0.1, "schedule": "constant",
                           "augment": False, "patience": 15, "keep_best": True},
}
# Why each recipe, in a line /train shows under the form.
RECIPE_NOTES: dict[str, str] = {
    "MLP 128-64 dropout": "For tables: many small-batch epochs (a spreadsheet has few rows), "
                          "stopped once the validation loss has not improved for 15; the "
                          "best epoch's weights are kept.",
    "Fast CNN": "One epoch of one-cycle Adam peaking at 0.01: about 99.1% test accuracy in a "
                "single pass (see BENCHMARKS.md).",
    "Best CNN": "20 epochs of one-cycle Adam with light augmentation: 99.64% test accuracy "
                "(see BENCHMARKS.md); the registered weights are the epoch with the lowest "
                "validation loss (the test set never chooses).",
}


def fit_notes(spec: ModelSpec, input_shape: tuple[int, ...]) -> list[str]:
    """Sentences on how well a stack suits a dataset's images, beyond "it builds".

    The presets were written for 28×28 grey digits; :meth:`ModelSpec.with_data` adapts their
    input and output, and these notes say when the result is a poor fit.
    """
    notes: list[str] = []
    if len(input_shape) != 3:
        return notes
    height, width, channels = input_shape
    first = spec.layers[0] if spec.layers else {}
    recurrent = any(layer.get("type") in ("LSTM", "GRU") for layer in spec.layers)
    if first.get("type") == "Reshape" and recurrent and channels > 1:
        notes.append(
            f"{spec.name} reads an image row by row, so on colour images each of the "
            f"{height} steps holds a row's red, green and blue values side by side "
            f"({width * channels} values): it builds, but it cannot see colour patterns as "
            "shapes. A CNN preset (e.g. Fast CNN) suits colour images better.")
    if channels > 1 and first.get("type") == "Flatten":
        notes.append(f"{spec.name} flattens each {height}×{width} colour image into "
                     f"{height * width * channels:,} numbers, so its first Dense layer is "
                     f"{channels}× larger than on grey images, and it ignores where things "
                     "are. A CNN preset usually does better on photos.")
    return notes

