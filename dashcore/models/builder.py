"""Building a Keras model from a :class:`ModelSpec`, and Keras's own summary of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashcore.errors import UserError
from dashcore.models.specs import (
    BN_MOMENTUM,
    LAYER_DEFAULTS,
    ModelSpec,
    Shape,
    describe_layer,
    format_shape,
)
from dashcore.models.validation import validate_spec

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


def build_model(spec: ModelSpec, max_params: int, output_float32: bool = False):
    """Build an (uncompiled) ``keras.Sequential`` from a spec, after :func:`validate_spec`.

    ``max_params`` is the training limit (``settings.limits.max_params``), checked first.
    ``output_float32`` keeps the softmax output layer in float32 under a mixed-precision
    policy, as Keras's mixed-precision guide advises (float16 softmax loses precision).

    Raises:
        UserError: naming the layer and the fix, when the stack cannot be built.
    """
    validate_spec(spec, max_params)
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


def summarize(spec: ModelSpec, max_params: int) -> ModelSummary:
    """Build the model and read Keras's own numbers: per-layer shapes and counts, and totals.

    ``max_params`` is the training limit (``settings.limits.max_params``): a stack over it is
    refused before Keras builds it.

    Raises:
        UserError: from :func:`validate_spec` when the stack is invalid.
    """
    import numpy as np

    model = build_model(spec, max_params)

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
