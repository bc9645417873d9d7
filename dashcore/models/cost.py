"""What a layer stack costs to train, estimated from its shapes before anything is built.

Two numbers a shared server budgets per run (no Keras, from the same shape inference as
:mod:`dashcore.models.validation`):

- **work**: multiply-accumulates (MACs) per image for the forward pass, summed over the
  layers; training costs about three times that (forward, and the backward pass's two
  products), plus a fixed overhead per gradient step that dominates tiny batches;
- **activation memory**: every layer's output (and the input) is kept for the backward
  pass, as float32, per image; gradients and optimizer temporaries need about as much
  again twice, hence ×3.

Example:
    >>> cost = model_cost(get_preset("CNN 32-64"))  # doctest: +SKIP
    >>> round(cost.macs_per_image / 1e6, 2)  # doctest: +SKIP
    2.44
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dashcore.models.specs import ModelSpec, Shape
from dashcore.models.validation import infer_shapes

TRAINING_FACTOR = 3  # a training step ≈ 3 forward passes (forward + two backward products)
STEP_OVERHEAD_MACS = 50e6  # a step's fixed cost (~1 ms of Python/Keras on a 2-core CPU),
# in MAC-equivalents at the ~44 GMAC/s this CPU trains the CNN at
BYTES_PER_VALUE = 4  # float32
ACTIVATION_FACTOR = 3  # outputs kept for backward + their gradients + temporaries


@dataclass(frozen=True)
class ModelCost:
    """Per-image cost of a fitted spec: forward MACs and stored activation values."""

    macs_per_image: int  # multiply-accumulates of one forward pass
    values_per_image: int  # floats of every layer output plus the input
    largest_layer: int  # 0-based index of the layer with the largest output
    largest_values: int  # floats in that output, per image

    def training_bytes(self, batch_size: int) -> int:
        """Activation memory of one training step at ``batch_size``, in bytes."""
        return self.values_per_image * batch_size * BYTES_PER_VALUE * ACTIVATION_FACTOR

    def training_macs(self, images: int, steps: int, epochs: int) -> float:
        """Estimated MACs of a run: ``epochs`` × (images × 3 × forward + steps × overhead)."""
        per_epoch = images * TRAINING_FACTOR * self.macs_per_image + steps * STEP_OVERHEAD_MACS
        return float(epochs) * per_epoch


def _layer_macs(kind: str, layer: dict, before: Shape, after: Shape) -> int:
    """Forward multiply-accumulates of one layer, per image."""
    if kind == "Dense":  # on a sequence Keras applies it to every step
        return math.prod(before[:-1]) * before[-1] * after[-1]
    if kind == "Conv2D":
        kernel = int(layer.get("kernel_size", 3))
        return after[0] * after[1] * after[2] * kernel * kernel * before[2]
    if kind in ("LSTM", "GRU"):
        steps, features = before
        units = after[-1]
        gates = 4 if kind == "LSTM" else 3
        return steps * gates * units * (features + units)
    if kind == "MaxPooling2D":
        return math.prod(before)  # one comparison per input value
    if kind == "BatchNormalization":
        return 2 * math.prod(after)
    return 0  # Flatten, Reshape, Dropout (a multiply per value at most)


def model_cost(spec: ModelSpec) -> ModelCost:
    """Per-image forward MACs and activation values of a spec fitted to its data.

    Raises:
        StackError: like :func:`~dashcore.models.validation.validate_spec` for a stack that
            does not fit together.
    """
    shapes = infer_shapes(spec)
    before: Shape = tuple(spec.input_shape)
    macs = 0
    for layer, after in zip(spec.layers, shapes, strict=True):
        macs += _layer_macs(layer["type"], layer, before, after)
        before = after
    sizes = [math.prod(s) for s in shapes]
    largest = max(range(len(sizes)), key=sizes.__getitem__)
    return ModelCost(macs_per_image=int(macs),
                     values_per_image=int(math.prod(spec.input_shape) + sum(sizes)),
                     largest_layer=largest, largest_values=int(sizes[largest]))
