"""Architectures as JSON-serialisable specs: presets, validation, building, summary.

A :class:`ModelSpec` is the one description of a network the whole workbench passes
around: /architecture edits it, training builds it, model cards store it, and
/models shows it again. The output layer ``Dense(num_classes, softmax)`` is part of
every spec (the last entry of ``layers``), exactly as the tutorials write it.
"""

from __future__ import annotations

import copy
import json
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
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(layers=copy.deepcopy(list(data["layers"])),
                       input_shape=tuple(int(d) for d in data.get("input_shape", (28, 28, 1))),
                       num_classes=int(data.get("num_classes", 10)),
                       name=str(data.get("name", "custom")))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"This architecture description is not valid ({exc}); expected "
                            "{'layers': [...], 'input_shape': [28, 28, 1], "
                            "'num_classes': 10}.") from None

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Parse a JSON string from :meth:`to_json`."""
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UserError(f"This is not valid JSON: {exc.msg} at line {exc.lineno}.") from None

    def with_data(self, input_shape: tuple[int, ...], num_classes: int) -> ModelSpec:
        """The same layers fitted to a dataset: new input shape, output width = classes."""
        layers = copy.deepcopy(self.layers)
        if layers and layers[-1].get("type") == "Dense":
            layers[-1]["units"] = num_classes
        return ModelSpec(layers=layers, input_shape=tuple(input_shape), num_classes=num_classes,
                         name=self.name)


def _output(num_classes: int = 10) -> dict[str, Any]:
    return {"type": "Dense", "units": num_classes, "activation": "softmax"}


def _conv(filters: int, padding: str = "valid") -> dict[str, Any]:
    return {"type": "Conv2D", "filters": filters, "kernel_size": 3, "activation": "relu",
            "padding": padding}


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
    "Best CNN": ModelSpec(name="Best CNN", layers=[
        _conv(32, "same"), {"type": "BatchNormalization"}, _conv(32, "same"),
        {"type": "BatchNormalization"}, {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "Dropout", "rate": 0.25},
        _conv(64, "same"), {"type": "BatchNormalization"}, _conv(64, "same"),
        {"type": "BatchNormalization"}, {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "Dropout", "rate": 0.25}, {"type": "Flatten"},
        {"type": "Dense", "units": 256, "activation": "relu"}, {"type": "BatchNormalization"},
        {"type": "Dropout", "rate": 0.4}, _output()]),
}


def get_preset(name: str) -> ModelSpec:
    """A fresh copy of a preset (callers may edit it freely)."""
    if name not in PRESETS:
        raise UserError(f"Unknown preset {name!r}: choose one of {', '.join(PRESETS)}.")
    return ModelSpec.from_dict(PRESETS[name].to_dict())


def _make_layer(layer: dict[str, Any], index: int):
    """One Keras layer from its dict; keyword names match Keras's own."""
    from keras import layers as kl

    kind = layer.get("type")
    options = {k: v for k, v in layer.items() if k != "type"}
    name = f"{kind.lower()}_{index}" if isinstance(kind, str) else None
    try:
        if kind == "Dense":
            return kl.Dense(int(options["units"]), activation=options.get("activation", "relu"),
                            name=name)
        if kind == "Conv2D":
            return kl.Conv2D(int(options["filters"]), int(options.get("kernel_size", 3)),
                             activation=options.get("activation", "relu"),
                             padding=options.get("padding", "valid"), name=name)
        if kind == "MaxPooling2D":
            return kl.MaxPooling2D(int(options.get("pool_size", 2)), name=name)
        if kind == "Flatten":
            return kl.Flatten(name=name)
        if kind == "Dropout":
            return kl.Dropout(float(options.get("rate", 0.5)), name=name)
        if kind == "BatchNormalization":
            return kl.BatchNormalization(name=name)
        if kind in ("LSTM", "GRU"):
            cls = kl.LSTM if kind == "LSTM" else kl.GRU
            return cls(int(options["units"]),
                       return_sequences=bool(options.get("return_sequences", False)), name=name)
        if kind == "Reshape":
            return kl.Reshape(tuple(int(d) for d in options["target_shape"]), name=name)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"Layer {index + 1} ({kind}) has an invalid setting: {exc}.") from None
    raise UserError(f"Layer {index + 1} has unknown type {kind!r}; choose one of "
                    f"{', '.join(LAYER_DEFAULTS)}.")


def build_model(spec: ModelSpec):
    """Build an (uncompiled) ``keras.Sequential`` from a spec.

    Raises:
        UserError: naming the layer and the fix, when the stack cannot be built.
    """
    import keras

    model = keras.Sequential(name=_keras_name(spec.name))
    model.add(keras.Input(shape=tuple(spec.input_shape)))
    for index, layer in enumerate(spec.layers):
        try:
            model.add(_make_layer(layer, index))
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - Keras shape errors become a sentence
            raise UserError(f"Layer {index + 1} ({layer.get('type')}) cannot be added here: "
                            f"{str(exc).splitlines()[0][:200]}") from None
    return model


def _keras_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
    return cleaned or "model"
