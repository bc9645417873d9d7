"""Checking a layer stack by shape inference in plain Python, before Keras is touched.

:func:`validate_spec` gives a person a sentence naming the layer and the fix before
Keras (and its ~3 s import) is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dashcore.errors import UserError
from dashcore.models.specs import (
    ACTIVATIONS,
    LAYER_DEFAULTS,
    MAX_FILTERS,
    MAX_RECURRENT_UNITS,
    MAX_UNITS,
    PADDINGS,
    ModelSpec,
    Shape,
    StackError,
    _dims,
    _n,
    describe_shape,
)

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


def _image_shape(kind: str, where_upper: str, index: int, step: _Step,
                 layers: list[dict[str, Any]]) -> tuple[int, int, int]:
    """The incoming (height, width, channels), or the sentence saying an image is needed."""
    shape = step.shape
    if len(shape) != 3:
        raise UserError(
            f"{where_upper} needs an image (height × width × channels), but "
            f"{_where(index, step, layers)} {describe_shape(shape)}. "
            f"{_needs_image_fix(kind, step, layers)}")
    return shape[0], shape[1], shape[2]


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
        height, width, channels = _image_shape(kind, where_upper, index, step, layers)
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
        height, width, channels = _image_shape(kind, where_upper, index, step, layers)
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


SINGLE_OUTPUTS = ("linear", "sigmoid")  # one-unit outputs: a number, or a probability


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
    single = spec.num_classes == 1  # a table's regression (linear) or sigmoid output
    if single and last.get("units") == 1 and last.get("activation") in SINGLE_OUTPUTS:
        return
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
    if not 1 <= spec.num_classes <= MAX_UNITS:
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


def trace_stack(spec: ModelSpec, max_params: int
                ) -> tuple[list[Shape | None], StackError | None]:
    """Shape after each layer (None past the first problem) and that problem, if any
    (``max_params``: the training limit, as for :func:`validate_spec`).

    Lets a page show every shape it can while it explains what to fix.
    """
    steps: list[_Step] = []
    try:
        _check_size(spec, _trace(spec, steps), max_params)
    except StackError as exc:
        shapes: list[Shape | None] = [s.shape for s in steps]
        return shapes + [None] * (len(spec.layers) - len(shapes)), exc
    return [s.shape for s in steps], None


def validate_spec(spec: ModelSpec, max_params: int) -> None:
    """Explain the first problem in a layer stack, in plain words, before anything is built.

    Checks, in order: the input shape and class count, that there are layers, each layer's
    type and settings, that each layer gets data of the kind it needs (image, sequence or
    flat vector) and of a size it fits, the output layer, and the total size.

    Args:
        spec: the stack to check.
        max_params: most parameters allowed: the workbench's training limit
            (``settings.limits.max_params``, from ``DASHCORE_MAX_PARAMS``).

    Raises:
        StackError: a :class:`UserError` naming the layer (number and type), what it found,
            and the fix; its ``layer`` attribute is the 0-based index of that layer.

    Example:
        >>> validate_spec(get_preset("CNN 32-64"), 20_000_000)  # fine: returns None
    """
    _check_size(spec, _trace(spec), max_params)


def _check_size(spec: ModelSpec, steps: list[_Step], max_params: int) -> None:
    """Refuse a model too big to train here, naming its largest layer."""
    from dashcore.settings import limit_setting

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
