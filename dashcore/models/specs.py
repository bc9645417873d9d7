"""A network as data: :class:`ModelSpec`, its layer vocabulary, words for shapes and
layers, and pure editing functions.

A :class:`ModelSpec` is the one description of a network the whole workbench passes
around: /architecture edits it, training builds it, model cards store it, and /models
shows it again. The output layer ``Dense(num_classes, softmax)`` is part of every spec
(the last entry of ``layers``), exactly as the tutorials write it. No Keras here.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any

from dashcore.errors import UserError
from dashcore.text import check_name

# Layer types the builder offers, with the fields each one takes and their defaults.
LAYER_DEFAULTS: dict[str, dict[str, Any]] = {
    "Dense": {"units": 64, "activation": "relu"},
    "Conv2D": {"filters": 32, "kernel_size": 3, "activation": "relu", "padding": "valid"},
    "MaxPooling2D": {"pool_size": 2},
    "Flatten": {},
    "Dropout": {"rate": 0.5},
    "BatchNormalization": {},
    "LSTM": {"units": 128, "return_sequences": False},
    "GRU": {"units": 128, "return_sequences": False},
    "Reshape": {"target_shape": [28, 28]},
}
ACTIVATIONS = ("relu", "softmax", "sigmoid", "tanh", "linear", "elu", "gelu", "swish")
PADDINGS = ("valid", "same")

# What each layer is for, in one line a non-programmer can read (shown beside the forms).
LAYER_HELP: dict[str, str] = {
    "Dense": "Fully connected: every input value feeds every unit. Needs a flat vector.",
    "Conv2D": "Slides small filters over an image to find strokes and shapes.",
    "MaxPooling2D": "Shrinks an image by keeping the largest value in each block.",
    "Flatten": "Turns an image (or sequence) into one flat vector for Dense layers.",
    "Dropout": "Randomly silences a share of values while training, against overfitting.",
    "BatchNormalization": "Rescales values to a steady range so training is faster and stabler.",
    "LSTM": "Recurrent: reads a sequence step by step (e.g. an image row by row).",
    "GRU": "Recurrent like LSTM, a little smaller and faster.",
    "Reshape": "Rearranges the values into a new shape with the same total count.",
}

BN_MOMENTUM = 0.9  # BatchNormalization's moving-average momentum (Keras's default is 0.99)

# Limits beyond which a setting is almost surely a typo (e.g. 64000 for 64).
MAX_SPEC_NAME = 60  # characters in an architecture's name (run names add dataset and recipe)
MAX_UNITS = 10_000
MAX_FILTERS = 1_024
MAX_RECURRENT_UNITS = 2_048

Shape = tuple[int, ...]

# Form labels for each setting: (label, what it means), shared by the page's forms.
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "units": ("Units", "how many neurons (or memory cells) the layer has"),
    "filters": ("Filters", "how many patterns the layer looks for"),
    "kernel_size": ("Kernel size", "the side of each filter in pixels, e.g. 3 for 3×3"),
    "pool_size": ("Pool size", "the side of each block kept as one value, e.g. 2 for 2×2"),
    "activation": ("Activation", "the function applied to each output; softmax on the last"),
    "padding": ("Padding", "'valid' shrinks the image by the kernel; 'same' keeps its size"),
    "rate": ("Rate", "share of values silenced while training, from 0 to below 1"),
    "return_sequences": ("Pass every step on", "on: output a sequence (to stack another "
                         "LSTM/GRU); off: only the last step"),
    "target_shape": ("Target shape", "the new shape, e.g. 28, 28 to read an image row by row"),
}


class StackError(UserError):
    """An invalid layer stack; ``layer`` is the 0-based index to blame (None: the whole stack)."""

    def __init__(self, message: str, layer: int | None = None) -> None:
        super().__init__(message)
        self.layer = layer


@dataclass
class ModelSpec:
    """A network as data: input shape, class count and an ordered list of layer dicts.

    Example:
        >>> spec = ModelSpec(layers=[{"type": "Flatten"},
        ...                          {"type": "Dense", "units": 10, "activation": "softmax"}])
        >>> ModelSpec.from_json(spec.to_json()) == spec
        True
    """

    layers: list[dict[str, Any]] = field(default_factory=list)
    input_shape: tuple[int, ...] = (28, 28, 1)
    num_classes: int = 10
    name: str = "custom"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (what model cards store)."""
        return {"name": self.name, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "layers": copy.deepcopy(self.layers)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`; rejects anything that is not a list of layer dicts."""
        expected = ("expected {'layers': [{'type': 'Dense', ...}, ...], "
                    "'input_shape': [28, 28, 1], 'num_classes': 10}.")
        try:
            layers = data["layers"]
            if not isinstance(layers, list):
                raise TypeError(f"'layers' is a {type(layers).__name__}, not a list")
            for number, layer in enumerate(layers, start=1):
                if not isinstance(layer, dict) or not isinstance(layer.get("type"), str):
                    raise TypeError(f"layer {number} is not a dict with a 'type'")
            return cls(layers=copy.deepcopy(layers),
                       input_shape=tuple(int(d) for d in data.get("input_shape", (28, 28, 1))),
                       num_classes=int(data.get("num_classes", 10)),
                       name=check_name("architecture", data.get("name", "custom"),
                                       MAX_SPEC_NAME))
        except UserError:
            raise
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            raise UserError(f"This architecture description is not valid ({exc}); "
                            f"{expected}") from None

    def to_json(self, indent: int | None = None) -> str:
        """Serialise to a JSON string (``indent`` for a file a person may read)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelSpec:
        """Parse a JSON string from :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"This is not valid JSON: {exc.msg} at line {exc.lineno}.") from None
        except RecursionError:
            raise UserError("This JSON is nested too deeply to be an architecture: upload the "
                            ".json file that the Download button saved.") from None
        except UnicodeDecodeError:
            raise UserError("This file is not text: upload the .json file that the "
                            "Download button saved.") from None
        if not isinstance(data, dict):
            raise UserError("This JSON is not an architecture: expected an object with "
                            "'layers', 'input_shape' and 'num_classes'.")
        return cls.from_dict(data)

    def with_data(self, input_shape: tuple[int, ...], num_classes: int,
                  activation: str = "softmax") -> ModelSpec:
        """The same layers fitted to a dataset: new input shape, output width = classes.

        A leading row-reading ``Reshape`` (as in "LSTM rows") follows the new image size.
        ``activation`` is the output layer's: softmax for classes, or (with one unit)
        ``linear`` for regression and ``sigmoid`` for binary cross-entropy on a table.
        """
        layers = copy.deepcopy(self.layers)
        if layers and layers[-1].get("type") == "Dense":
            layers[-1]["units"] = num_classes
            layers[-1]["activation"] = activation
        new_shape = tuple(int(d) for d in input_shape)
        if (layers and layers[0].get("type") == "Reshape" and len(new_shape) >= 2
                and list(layers[0].get("target_shape", [])) == _rows_shape(self.input_shape)):
            layers[0]["target_shape"] = _rows_shape(new_shape)
        return ModelSpec(layers=layers, input_shape=new_shape, num_classes=num_classes,
                         name=self.name)


def _rows_shape(shape: tuple[int, ...]) -> list[int]:
    """Image H×W(×C) read as a sequence of H rows of W·C values."""
    return [int(shape[0]), math.prod(shape[1:])] if len(shape) >= 2 else list(shape)


# ---------------------------------------------------------------------------------------------
# Words for shapes and layers
# ---------------------------------------------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


def _dims(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def describe_shape(shape: Shape) -> str:
    """A shape (without the batch axis) in words: what the data *is* at that point."""
    if len(shape) == 1:
        return f"a flat vector of {_n(shape[0])} values"
    if len(shape) == 2:
        return f"a sequence of {_n(shape[0])} steps × {_n(shape[1])} values"
    if len(shape) == 3:
        channels = "1 channel" if shape[2] == 1 else f"{_n(shape[2])} channels"
        return f"an image {shape[0]}×{shape[1]} with {channels}"
    return f"a {len(shape)}-D block of {_dims(shape)} values"


def format_shape(shape: Shape) -> str:
    """A shape as Keras's ``model.summary()`` prints it: ``(None, 26, 26, 32)``."""
    return "(" + ", ".join(["None", *(str(d) for d in shape)]) + ")"


def describe_layer(layer: dict[str, Any]) -> str:
    """One layer in a few words, e.g. ``Conv2D 32 filters 3×3, relu``."""
    kind = layer.get("type")
    layer = {**LAYER_DEFAULTS.get(kind, {}), **layer} if isinstance(kind, str) else layer
    if kind == "Dense":
        return f"Dense {layer.get('units')}, {layer.get('activation', 'relu')}"
    if kind == "Conv2D":
        k = layer.get("kernel_size", 3)
        text = f"Conv2D {layer.get('filters')} filters {k}×{k}, {layer.get('activation', 'relu')}"
        return text + (", same padding" if layer.get("padding") == "same" else "")
    if kind == "MaxPooling2D":
        p = layer.get("pool_size", 2)
        return f"MaxPooling2D {p}×{p}"
    if kind == "Dropout":
        rate = layer.get("rate", 0.5)
        return f"Dropout {rate:.0%}" if isinstance(rate, int | float) else f"Dropout {rate}"
    if kind in ("LSTM", "GRU"):
        every = ", every step" if layer.get("return_sequences") else ""
        return f"{kind} {layer.get('units')}{every}"
    if kind == "Reshape":
        target = layer.get("target_shape", [])
        return f"Reshape to {_dims(tuple(target)) if isinstance(target, list) else target}"
    return str(kind)


def parse_shape(text: str) -> list[int]:
    """``"28, 28"`` or ``"28x28x1"`` → ``[28, 28]`` / ``[28, 28, 1]`` (what Reshape takes)."""
    parts = [p for p in text.replace("×", ",").replace("x", ",").replace(" ", ",").split(",") if p]
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise UserError(f"{text!r} is not a shape: write whole numbers separated by commas, "
                        "e.g. 28, 28.") from None
    if not 1 <= len(dims) <= 3 or min(dims) < 1:
        raise UserError(f"{text!r} is not a usable shape: give 1 to 3 whole numbers, each at "
                        "least 1, e.g. 28, 28.")
    return dims


# ---------------------------------------------------------------------------------------------
# Editing (pure functions: each returns a new spec and leaves the old one alone)
# ---------------------------------------------------------------------------------------------


def new_layer(kind: str) -> dict[str, Any]:
    """A layer dict of ``kind`` with the builder's default settings."""
    if kind not in LAYER_DEFAULTS:
        raise UserError(f"Unknown layer type {kind!r}; choose one of {', '.join(LAYER_DEFAULTS)}.")
    return {"type": kind, **copy.deepcopy(LAYER_DEFAULTS[kind])}


def _edited(spec: ModelSpec, layers: list[dict[str, Any]]) -> ModelSpec:
    name = spec.name if spec.name.endswith("(edited)") or spec.name == "custom" \
        else f"{spec.name} (edited)"
    return ModelSpec(layers=layers, input_shape=spec.input_shape, num_classes=spec.num_classes,
                     name=name)


def _check_index(spec: ModelSpec, index: int) -> None:
    if not 0 <= index < len(spec.layers):
        raise UserError(f"There is no layer {index + 1}: the model has {len(spec.layers)} "
                        "layers.")


def add_layer(spec: ModelSpec, layer: dict[str, Any], position: int | None = None) -> ModelSpec:
    """Insert ``layer`` so it becomes layer ``position + 1``; ``None`` = just before the output."""
    layers = copy.deepcopy(spec.layers)
    if position is None:
        position = max(len(layers) - 1, 0)
    layers.insert(min(max(position, 0), len(layers)), copy.deepcopy(layer))
    return _edited(spec, layers)


def remove_layer(spec: ModelSpec, index: int) -> ModelSpec:
    """Drop layer ``index`` (0-based)."""
    _check_index(spec, index)
    layers = copy.deepcopy(spec.layers)
    del layers[index]
    return _edited(spec, layers)


def move_layer(spec: ModelSpec, index: int, offset: int) -> ModelSpec:
    """Move layer ``index`` up (``offset`` -1) or down (+1); at either end nothing changes."""
    _check_index(spec, index)
    target = min(max(index + offset, 0), len(spec.layers) - 1)
    layers = copy.deepcopy(spec.layers)
    layers.insert(target, layers.pop(index))
    return _edited(spec, layers) if target != index else spec


def replace_layer(spec: ModelSpec, index: int, layer: dict[str, Any]) -> ModelSpec:
    """Put ``layer`` in place of layer ``index`` (an edit from the builder's form)."""
    _check_index(spec, index)
    layers = copy.deepcopy(spec.layers)
    layers[index] = copy.deepcopy(layer)
    return _edited(spec, layers)
