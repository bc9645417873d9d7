"""How a run uses the machine: GPUs seen, XLA, mixed precision, distribution."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import keras

from dashcore.training.config import TrainConfig


@dataclass(frozen=True)
class DevicePlan:
    """How a run uses the machine's accelerators, decided once before the model is built."""

    gpus: int  # GPUs TensorFlow can see
    jit_compile: bool  # XLA-compile the train step: one GPU only (slower on CPU here)
    mixed_precision: bool  # float16 compute with float32 weights (asked for, and a GPU seen)
    distribute: bool  # one replica per GPU with tf.distribute.MirroredStrategy (>1 GPU)
    notes: tuple[str, ...] = ()  # sentences for the model card (e.g. a setting ignored)

    def describe(self) -> str:
        """One line for a log or model card: ``2 GPUs · XLA · mixed precision · mirrored``."""
        parts = [f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}" if self.gpus else "CPU"]
        parts += [label for on, label in ((self.jit_compile, "XLA"),
                                          (self.mixed_precision, "mixed precision"),
                                          (self.distribute, "MirroredStrategy")) if on]
        return " · ".join(parts)


def device_plan(config: TrainConfig, gpus: list[Any] | tuple[Any, ...]) -> DevicePlan:
    """Decide XLA, mixed precision and distribution from the visible GPUs (pure: testable
    with a fake device list).

    Mixed precision asked for on a machine without a GPU is *ignored with a note* rather
    than refused: the web server that validates a form may not see the GPU a worker sees,
    and a recipe saved on a GPU machine should still run (in float32) on a laptop.
    """
    count = len(gpus)
    notes: list[str] = []
    mixed = bool(config.mixed_precision) and count > 0
    if config.mixed_precision and not count:
        notes.append("Mixed precision was asked for but no GPU is visible, so this run "
                     "trained in float32 (float16 is slower than float32 on a CPU).")
    # XLA on one GPU only: on a CPU it made steps ~5x slower here, and Keras itself turns
    # it off under tf.distribute.
    return DevicePlan(gpus=count, jit_compile=count == 1, mixed_precision=mixed,
                      distribute=count > 1, notes=tuple(notes))


def visible_gpus() -> list[Any]:
    """The GPUs TensorFlow can use here (an empty list on a CPU-only machine)."""
    import tensorflow as tf

    return list(tf.config.list_physical_devices("GPU"))


@contextlib.contextmanager
def precision_scope(mixed: bool) -> Iterator[None]:
    """Keras's global dtype policy set to ``mixed_float16`` inside, restored after."""
    if not mixed:
        yield
        return
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def strategy_scope(distribute: bool) -> contextlib.AbstractContextManager[Any]:
    """``MirroredStrategy().scope()`` for more than one GPU, else nothing.

    Variables created inside (model and optimizer) are mirrored on every GPU; ``fit``
    then splits each batch of ``batch_size`` images between them.
    """
    if not distribute:
        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.distribute.MirroredStrategy().scope()
