"""Architectures as JSON-serialisable specs: presets, validation, editing, building, summary.

A :class:`ModelSpec` is the one description of a network the whole workbench passes
around: /architecture edits it, training builds it, model cards store it, and
/models shows it again. The output layer ``Dense(num_classes, softmax)`` is part of
every spec (the last entry of ``layers``), exactly as the tutorials write it.

:func:`validate_spec` checks a stack by shape inference in plain Python, so a person
gets a sentence naming the layer and the fix before Keras (and its ~3 s import) is
touched; :func:`summarize` then builds the real model so the numbers it shows are
Keras's own.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any

from dashcore.errors import UserError

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
                       name=str(data.get("name", "custom")))
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

    def with_data(self, input_shape: tuple[int, ...], num_classes: int) -> ModelSpec:
        """The same layers fitted to a dataset: new input shape, output width = classes.

        A leading row-reading ``Reshape`` (as in "LSTM rows") follows the new image size.
        """
        layers = copy.deepcopy(self.layers)
        if layers and layers[-1].get("type") == "Dense":
            layers[-1]["units"] = num_classes
        new_shape = tuple(int(d) for d in input_shape)
        if (layers and layers[0].get("type") == "Reshape" and len(new_shape) >= 2
                and list(layers[0].get("target_shape", [])) == _rows_shape(self.input_shape)):
            layers[0]["target_shape"] = _rows_shape(new_shape)
        return ModelSpec(layers=layers, input_shape=new_shape, num_classes=num_classes,
                         name=self.name)


def _rows_shape(shape: tuple[int, ...]) -> list[int]:
    """Image H×W(×C) read as a sequence of H rows of W·C values."""
    return [int(shape[0]), math.prod(shape[1:])] if len(shape) >= 2 else list(shape)


def _output(num_classes: int = 10) -> dict[str, Any]:
    return {"type": "Dense", "units": num_classes, "activation": "softmax"}


def _conv(filters: int, padding: str = "valid") -> dict[str, Any]:
    return {"type": "Conv2D", "filters": filters, "kernel_size": 3, "activation": "relu",
            "padding": padding}


def _bn() -> dict[str, Any]:
    return {"type": "BatchNormalization"}


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
    # Not from the tutorials: tuned for speed and accuracy on a CPU; see their recipes in
    # dashcore.training.RECIPES and the measurements in BENCHMARKS.md.
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
# Validation by shape inference (pure Python)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """The data after one layer: its shape, the layer that last changed the shape's kind,
    and the parameters (total, non-trainable) that layer holds."""

    shape: Shape
    origin: int  # 0-based index of the layer that made the data flat/sequence/image; -1 = input
    params: int = 0
    frozen: int = 0


def _label(index: int, layers: list[dict[str, Any]]) -> str:
    return f"layer {index + 1} ({layers[index].get('type')})"


def _Label(index: int, layers: list[dict[str, Any]]) -> str:  # noqa: N802 - capitalised twin
    return f"Layer {index + 1} ({layers[index].get('type')})"


def _int_field(layers: list[dict[str, Any]], index: int, key: str, low: int, high: int,
               meaning: str) -> int:
    layer = layers[index]
    where = _Label(index, layers)
    example = LAYER_DEFAULTS[layer["type"]][key]
    value = layer.get(key, example)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where} has {key} = {value!r}, but {key} ({meaning}) must be a whole "
                        f"number from {low} to {_n(high)}. Set it to e.g. {example}.")
    if not low <= value <= high:
        raise UserError(f"{where} has {key} = {_n(value)}, but {key} ({meaning}) must be from "
                        f"{low} to {_n(high)}. Set it to e.g. {example}.")
    return value


def _choice_field(layers: list[dict[str, Any]], index: int, key: str,
                  allowed: tuple[str, ...]) -> str:
    layer = layers[index]
    value = layer.get(key, LAYER_DEFAULTS[layer["type"]].get(key))
    if value not in allowed:
        raise UserError(f"{_Label(index, layers)} has {key} {value!r}, which is "
                        f"not one the workbench offers. Choose one of {', '.join(allowed)}.")
    return str(value)


def _check_fields(layers: list[dict[str, Any]], index: int) -> None:
    """Unknown types and settings, activations, paddings, rates and booleans."""
    layer = layers[index]
    kind = layer.get("type")
    if kind not in LAYER_DEFAULTS:
        raise UserError(f"Layer {index + 1} has type {kind!r}, which the workbench cannot "
                        f"build. Replace it with one of {', '.join(LAYER_DEFAULTS)}.")
    where = _Label(index, layers)
    allowed = LAYER_DEFAULTS[kind]
    extra = sorted(set(layer) - set(allowed) - {"type"})
    if extra:
        takes = ", ".join(allowed) if allowed else "no settings"
        raise UserError(f"{where} has setting {extra[0]!r}, which a {kind} layer does not take "
                        f"(it takes {takes}). Remove {extra[0]!r} or check its spelling.")
    if "activation" in allowed:
        _choice_field(layers, index, "activation", ACTIVATIONS)
    if "padding" in allowed:
        _choice_field(layers, index, "padding", PADDINGS)
    if "return_sequences" in layer and not isinstance(layer["return_sequences"], bool):
        raise UserError(f"{where} has return_sequences = {layer['return_sequences']!r}; it must "
                        "be true (pass every step on) or false (only the last step).")
    if kind == "Dropout":
        rate = layer.get("rate", 0.5)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise UserError(f"{where} has rate {rate!r}, but a dropout rate is the share of "
                            "values silenced while training and must be at least 0 and below "
                            "1. Use e.g. 0.25 or 0.5.")


def _needs_image_fix(kind: str, step: _Step, layers: list[dict[str, Any]]) -> str:
    """The fix for a Conv2D/MaxPooling2D that receives something other than an image."""
    shape = step.shape
    if step.origin >= 0 and len(shape) < 3:
        maker = layers[step.origin].get("type")
        return (f"Move the {kind} above the {maker} (layer {step.origin + 1}), "
                f"or remove the {maker}.")
    if len(shape) == 2:
        return f"Add a Reshape to {shape[0]}, {shape[1]}, 1 above it to make it an image."
    side = math.isqrt(shape[0])
    if side * side == shape[0]:
        return f"Add a Reshape to {side}, {side}, 1 above it to make it an image."
    return "Add a Reshape above it that turns the data into height, width, channels."


def _where(index: int, step: _Step, layers: list[dict[str, Any]]) -> str:
    """'after layer 4 (Flatten) the data is' / 'the input is' — where the shape comes from."""
    if index == 0:
        return "the input is"
    return f"after {_label(index - 1, layers)} the data is"


def _rows_suggestion(shape: Shape) -> list[int]:
    """A sequence shape for data that is not one yet: rows of an image, or a near-square split."""
    if len(shape) == 3:
        return [shape[0], shape[1] * shape[2]]
    total = math.prod(shape)
    steps = max(d for d in range(1, math.isqrt(total) + 1) if total % d == 0)
    return [steps, total // steps]


def _trace_layer(layers: list[dict[str, Any]], index: int, step: _Step) -> _Step:
    """Shape and parameters after ``layers[index]``; raises a UserError for a misfit."""
    layer = layers[index]
    kind = layer["type"]
    shape = step.shape
    where_upper = _Label(index, layers)

    if kind == "Dense":
        units = _int_field(layers, index, "units", 1, MAX_UNITS, "how many neurons")
        if len(shape) >= 3:
            return_shape = _dims((*shape[:-1], units))
            raise UserError(
                f"{where_upper} gets {describe_shape(shape)}, but Dense needs a flat vector: on "
                f"an image Keras applies Dense to every pixel separately (giving "
                f"{return_shape}), which is rarely what you want. Add a Flatten above "
                f"the Dense to turn the image into a flat vector of {_n(math.prod(shape))} "
                "values.")
        params = shape[-1] * units + units
        return _Step((*shape[:-1], units), step.origin, params)

    if kind == "Conv2D":
        filters = _int_field(layers, index, "filters", 1, MAX_FILTERS, "how many filters")
        kernel = _int_field(layers, index, "kernel_size", 1, 64, "the filter's size in pixels")
        padding = _choice_field(layers, index, "padding", PADDINGS)
        if len(shape) != 3:
            raise UserError(
                f"{where_upper} needs an image (height × width × channels), but "
                f"{_where(index, step, layers)} {describe_shape(shape)}. "
                f"{_needs_image_fix(kind, step, layers)}")
        height, width, channels = shape
        if padding == "valid" and kernel > min(height, width):
            raise UserError(
                f"{where_upper} has a {kernel}×{kernel} kernel, but "
                f"{_where(index, step, layers)} only {height}×{width} pixels. Use a kernel of at "
                f"most {min(height, width)}, set padding to 'same', or remove a pooling layer "
                "above it.")
        if padding == "valid":
            height, width = height - kernel + 1, width - kernel + 1
        params = kernel * kernel * channels * filters + filters
        return _Step((height, width, filters), step.origin, params)

    if kind == "MaxPooling2D":
        pool = _int_field(layers, index, "pool_size", 1, 64, "the block size in pixels")
        if len(shape) != 3:
            raise UserError(
                f"{where_upper} needs an image (height × width × channels), but "
                f"{_where(index, step, layers)} {describe_shape(shape)}. "
                f"{_needs_image_fix(kind, step, layers)}")
        height, width, channels = shape
        if pool > min(height, width):
            raise UserError(
                f"{where_upper} pools {pool}×{pool} blocks, but {_where(index, step, layers)} "
                f"only {height}×{width} pixels, so nothing would be left. Use a pool size of at "
                f"most {min(height, width)}, or remove this pooling layer.")
        return _Step((height // pool, width // pool, channels), step.origin)

    if kind == "Flatten":
        return _Step((math.prod(shape),), index if len(shape) > 1 else step.origin)

    if kind == "Dropout":
        return _Step(shape, step.origin)

    if kind == "BatchNormalization":
        return _Step(shape, step.origin, 4 * shape[-1], 2 * shape[-1])

    if kind in ("LSTM", "GRU"):
        units = _int_field(layers, index, "units", 1, MAX_RECURRENT_UNITS, "the memory size")
        if len(shape) != 2:
            rows = _rows_suggestion(shape)
            reading = " so it reads the image row by row" if len(shape) == 3 else ""
            raise UserError(
                f"{where_upper} needs a sequence (steps × values per step), but "
                f"{_where(index, step, layers)} {describe_shape(shape)}. Add a Reshape to "
                f"{rows[0]}, {rows[1]} above it{reading}.")
        features = shape[1]
        gates = 4 if kind == "LSTM" else 3
        extra_bias = 0 if kind == "LSTM" else units  # Keras's GRU has reset_after=True
        params = gates * (units * (features + units) + units + extra_bias)
        out = (shape[0], units) if layer.get("return_sequences", False) else (units,)
        return _Step(out, index, params)

    # Reshape
    target = layer.get("target_shape")
    if (not isinstance(target, list) or not 1 <= len(target) <= 3
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in target)):
        raise UserError(f"{where_upper} has target_shape {target!r}; it must be 1 to 3 whole "
                        "numbers, each at least 1, e.g. 28, 28.")
    size = math.prod(shape)
    if math.prod(target) != size:
        rows = _rows_suggestion(shape)
        raise UserError(
            f"{where_upper} asks for {_dims(tuple(target))} = {_n(math.prod(target))} values, "
            f"but {_where(index, step, layers)} {describe_shape(shape)} = {_n(size)} values; "
            f"a Reshape can only rearrange them. Use sizes that multiply to {_n(size)}, e.g. "
            f"{rows[0]}, {rows[1]}.")
    return _Step(tuple(target), index)


def _check_output(spec: ModelSpec, steps: list[_Step]) -> None:
    """The last layer must turn a flat vector into one probability per class."""
    layers = spec.layers
    index = len(layers) - 1
    last = layers[index]
    fix = f"End the stack with Dense({spec.num_classes}, softmax): one unit per class."
    label = f"The last layer (layer {index + 1}, {last['type']})"
    if last["type"] != "Dense":
        raise UserError(f"{label} is not an output layer, so the model cannot give one "
                        f"probability per class. {fix}")
    if last.get("units") != spec.num_classes:
        raise UserError(f"{label} has {last.get('units')} units, but the data has "
                        f"{spec.num_classes} classes and the output layer needs one unit per "
                        f"class. Set its units to {spec.num_classes}.")
    if last.get("activation", "relu") != "softmax":
        raise UserError(f"{label} uses activation {last.get('activation', 'relu')!r}, but the "
                        "output layer must use softmax so its outputs are class probabilities "
                        "that add up to 1 (what the loss expects). Set its activation to "
                        "softmax.")
    before = steps[index - 1] if index else _Step(tuple(spec.input_shape), -1)
    if len(before.shape) == 2:
        maker = layers[before.origin] if before.origin >= 0 else None
        hint = (f"Turn off return_sequences on layer {before.origin + 1} ({maker['type']}), or "
                if maker and maker["type"] in ("LSTM", "GRU") else "")
        raise UserError(f"{label} gets {describe_shape(before.shape)}, so it would predict a "
                        f"class for every step instead of one per image. {hint}"
                        f"{'add' if hint else 'Add'} a Flatten above the output layer.")


def _trace(spec: ModelSpec, steps: list[_Step] | None = None) -> list[_Step]:
    """Validate ``spec`` and return the data after every layer (pure Python, no Keras).

    ``steps`` (if given) is filled as layers pass, so a caller keeps the shapes up to a
    failing layer.
    """
    steps = [] if steps is None else steps
    if not isinstance(spec.input_shape, tuple) or not 1 <= len(spec.input_shape) <= 3 or any(
            not isinstance(d, int) or d < 1 for d in spec.input_shape):
        raise StackError(f"The input shape {list(spec.input_shape)!r} is not usable: give 1 "
                         "to 3 whole numbers, each at least 1, e.g. 28, 28, 1 for grey images.")
    if not 2 <= spec.num_classes <= MAX_UNITS:
        raise StackError(f"The model is set up for {spec.num_classes} classes; a classifier "
                         f"needs 2 to {_n(MAX_UNITS)}. Use the number of classes in your "
                         "dataset.")
    if not spec.layers:
        raise StackError("The model has no layers yet. Pick a preset, or add layers ending "
                         f"with the output layer Dense({spec.num_classes}, softmax).")
    step = _Step(tuple(spec.input_shape), -1)
    for index in range(len(spec.layers)):
        try:
            _check_fields(spec.layers, index)
            step = _trace_layer(spec.layers, index, step)
        except UserError as exc:
            raise StackError(str(exc), index) from None
        steps.append(step)
    try:
        _check_output(spec, steps)
    except UserError as exc:
        raise StackError(str(exc), len(spec.layers) - 1) from None
    return steps


def trace_stack(spec: ModelSpec) -> tuple[list[Shape | None], StackError | None]:
    """Shape after each layer (None past the first problem) and that problem, if any.

    Lets a page show every shape it can while it explains what to fix.
    """
    steps: list[_Step] = []
    try:
        _check_size(spec, _trace(spec, steps), None)
    except StackError as exc:
        shapes: list[Shape | None] = [s.shape for s in steps]
        return shapes + [None] * (len(spec.layers) - len(shapes)), exc
    return [s.shape for s in steps], None


def validate_spec(spec: ModelSpec, max_params: int | None = None) -> None:
    """Explain the first problem in a layer stack, in plain words, before anything is built.

    Checks, in order: the input shape and class count, that there are layers, each layer's
    type and settings, that each layer gets data of the kind it needs (image, sequence or
    flat vector) and of a size it fits, the output layer, and the total size.

    Args:
        spec: the stack to check.
        max_params: most parameters allowed. Defaults to the workbench's training limit
            (``DASHCORE_MAX_PARAMS``, 20,000,000 unless configured).

    Raises:
        StackError: a :class:`UserError` naming the layer (number and type), what it found,
            and the fix; its ``layer`` attribute is the 0-based index of that layer.

    Example:
        >>> validate_spec(get_preset("CNN 32-64"))  # fine: returns None
    """
    _check_size(spec, _trace(spec), max_params)


def _check_size(spec: ModelSpec, steps: list[_Step], max_params: int | None) -> None:
    """Refuse a model too big to train here, naming its largest layer."""
    from dashcore.settings import get_settings, limit_setting

    if max_params is None:
        max_params = get_settings().limits.max_params
    total = sum(s.params for s in steps)
    if total > max_params:
        biggest = max(range(len(steps)), key=lambda i: steps[i].params)
        raise StackError(
            f"This model would have {_n(total)} parameters, more than the {_n(max_params)} the "
            f"workbench trains. The largest is {_label(biggest, spec.layers)} with "
            f"{_n(steps[biggest].params)}: give it fewer units or filters, or add pooling "
            "before the Flatten so the vector it gets is shorter. "
            f"{limit_setting('max_params')}", biggest)


def infer_shapes(spec: ModelSpec) -> list[Shape]:
    """The shape after each layer (no batch axis), without Keras. Raises like validate_spec."""
    return [step.shape for step in _trace(spec)]


def estimate_params(spec: ModelSpec) -> list[int]:
    """Parameters per layer computed by hand (matches Keras; cheap enough for every rerun)."""
    return [step.params for step in _trace(spec)]


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


# ---------------------------------------------------------------------------------------------
# Keras: building and the summary
# ---------------------------------------------------------------------------------------------


def _make_layer(layer: dict[str, Any], index: int, dtype: str | None = None):
    """One Keras layer from its (validated) dict; keyword names match Keras's own.

    ``dtype`` overrides the global policy (the float32 output layer of a mixed-precision
    model); only Dense takes it, as only the output layer needs it.
    """
    from keras import layers as kl

    kind = layer["type"]
    options = {**LAYER_DEFAULTS[kind], **{k: v for k, v in layer.items() if k != "type"}}
    name = f"{kind.lower()}_{index}"
    if kind == "Dense":
        return kl.Dense(int(options["units"]), activation=options["activation"], name=name,
                        dtype=dtype)
    if kind == "Conv2D":
        return kl.Conv2D(int(options["filters"]), int(options["kernel_size"]),
                         activation=options["activation"], padding=options["padding"],
                         name=name)
    if kind == "MaxPooling2D":
        return kl.MaxPooling2D(int(options["pool_size"]), name=name)
    if kind == "Flatten":
        return kl.Flatten(name=name)
    if kind == "Dropout":
        return kl.Dropout(float(options["rate"]), name=name)
    if kind == "BatchNormalization":
        # Moving statistics average over ~10 batches (PyTorch's default), not Keras's ~100:
        # after a one-epoch one-cycle run, Keras's 0.99 left them so stale that test
        # accuracy was 42% with them against 98% with the batch's own (measured here).
        return kl.BatchNormalization(momentum=BN_MOMENTUM, name=name)
    if kind in ("LSTM", "GRU"):
        cls = kl.LSTM if kind == "LSTM" else kl.GRU
        return cls(int(options["units"]), return_sequences=bool(options["return_sequences"]),
                   name=name)
    return kl.Reshape(tuple(int(d) for d in options["target_shape"]), name=name)


def build_model(spec: ModelSpec, output_float32: bool = False):
    """Build an (uncompiled) ``keras.Sequential`` from a spec, after :func:`validate_spec`.

    ``output_float32`` keeps the softmax output layer in float32 under a mixed-precision
    policy, as Keras's mixed-precision guide advises (float16 softmax loses precision).

    Raises:
        UserError: naming the layer and the fix, when the stack cannot be built.
    """
    validate_spec(spec)
    import keras

    model = keras.Sequential(name=_keras_name(spec.name))
    model.add(keras.Input(shape=tuple(spec.input_shape)))
    for index, layer in enumerate(spec.layers):
        try:
            last = index == len(spec.layers) - 1
            model.add(_make_layer(layer, index, "float32" if output_float32 and last else None))
        except Exception as exc:  # noqa: BLE001 - a shape case validate_spec missed
            raise UserError(f"Layer {index + 1} ({layer.get('type')}) cannot be added here: "
                            f"{str(exc).splitlines()[0][:200]}") from None
    return model


def _keras_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
    return cleaned or "model"


@dataclass(frozen=True)
class LayerRow:
    """One line of the summary table, as Keras's ``model.summary()`` reports it."""

    number: int  # 1-based position in the stack
    name: str  # Keras layer name, e.g. "conv2d_0"
    type: str  # layer type, e.g. "Conv2D"
    description: str  # the layer in a few words, e.g. "Conv2D 32 filters 3×3, relu"
    output_shape: Shape  # without the batch axis
    params: int  # weights in this layer (trainable + non-trainable)


@dataclass(frozen=True)
class ModelSummary:
    """The model as a table plus Keras's three totals; plain data, cheap to cache."""

    name: str
    input_shape: Shape
    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    non_trainable_params: int

    def table(self) -> list[dict[str, Any]]:
        """Rows as dicts with Keras's column names, ready for a dataframe."""
        return [{"#": r.number, "Layer (type)": f"{r.name} ({r.type})",
                 "Output shape": format_shape(r.output_shape), "Param #": r.params}
                for r in self.rows]


def summarize(spec: ModelSpec) -> ModelSummary:
    """Build the model and read Keras's own numbers: per-layer shapes and counts, and totals.

    Raises:
        UserError: from :func:`validate_spec` when the stack is invalid.
    """
    import numpy as np

    model = build_model(spec)

    def size(weights) -> int:
        return int(sum(np.prod(w.shape) for w in weights))

    rows = [LayerRow(number=i + 1, name=layer.name, type=spec.layers[i]["type"],
                     description=describe_layer(spec.layers[i]),
                     output_shape=tuple(int(d) for d in layer.output.shape[1:]),
                     params=int(layer.count_params()))
            for i, layer in enumerate(model.layers)]
    return ModelSummary(name=spec.name, input_shape=tuple(spec.input_shape), rows=rows,
                        total_params=int(model.count_params()),
                        trainable_params=size(model.trainable_weights),
                        non_trainable_params=size(model.non_trainable_weights))
