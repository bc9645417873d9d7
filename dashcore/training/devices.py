"""How a run uses the machine: the backend, GPUs seen, jit, mixed precision, distribution.

Decided once per run by :func:`device_plan` (pure: testable with fake GPUs), then applied by
:func:`device_scope` around everything that creates, loads, fits or tests the model, so a
fresh model and a resumed checkpoint are made under the same dtype policy and
distribution.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from dashcore.backend import BACKEND_NAMES, Gpu
from dashcore.training.config import TrainConfig

# Callbacks (the live chart, Stop) run once per execution: at least this many per epoch.
MIN_CALLS_PER_EPOCH = 32
MAX_STEPS_PER_EXECUTION = 64  # beyond this the dispatch saved is negligible on any GPU


@dataclass(frozen=True)
class DevicePlan:
    """How a run uses the machine's accelerators, decided once before the model is built."""

    gpus: int  # GPUs the backend can see
    jit_compile: bool  # compile the train step (JAX always; TensorFlow's XLA on one GPU)
    mixed_precision: bool  # 16-bit compute with float32 weights (asked for, and it pays)
    distribute: bool  # data parallel over every GPU (>1 GPU, JAX or TensorFlow)
    notes: tuple[str, ...] = ()  # sentences for the model card (e.g. a setting ignored)
    backend: str = "tensorflow"  # Keras's backend: tensorflow, jax or torch
    policy: str = "float32"  # the Keras dtype policy models are built under
    steps_per_execution: int = 1  # train steps per compiled call (and per callback call)
    gpu_names: tuple[str, ...] = ()  # what the backend calls each GPU

    def describe(self) -> str:
        """One line for a log or model card, e.g. ``JAX · 2 GPUs · jit · mixed precision
        (bfloat16) · data parallel`` or ``TensorFlow · CPU``."""
        parts = [BACKEND_NAMES.get(self.backend, self.backend),
                 f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}" if self.gpus else "CPU"]
        parallel = "MirroredStrategy" if self.backend == "tensorflow" else "data parallel"
        parts += [label for on, label in (
            (self.jit_compile, "XLA" if self.backend == "tensorflow" else "jit"),
            (self.mixed_precision, f"mixed precision ({self.policy.removeprefix('mixed_')})"),
            (self.distribute, parallel)) if on]
        return " · ".join(parts)

    @property
    def device_word(self) -> str:
        """``GPU`` or ``CPU``: what the live panel says it is preparing."""
        return "GPU" if self.gpus else "CPU"


def mixed_policy(gpus: Sequence[Any]) -> tuple[str | None, str | None]:
    """(dtype policy, note) for mixed precision on these GPUs.

    bfloat16 where every GPU has bfloat16 tensor cores (Ampere and later: the H200); float16
    on older tensor-core GPUs (Volta, Turing), where it is faster than float32; none on GPUs
    without tensor cores, where 16-bit is no faster. A GPU whose capability is unknown gets
    float16, the choice that works everywhere.
    """
    known = [g for g in gpus if isinstance(g, Gpu) and g.compute_capability is not None]
    if known and len(known) == len(gpus):
        if all(g.has_bfloat16 for g in known):
            return "mixed_bfloat16", None
        if not all(g.has_float16_cores for g in known):
            return None, ("Mixed precision was asked for but this GPU has no tensor cores, "
                          "where 16-bit is no faster, so this run trained in float32.")
    return "mixed_float16", None


def steps_per_execution(gpus: int, steps_per_epoch: int) -> int:
    """Train steps per compiled call: 1 on a CPU, where a step's compute dwarfs Python's
    dispatch; on a GPU as many as keep :data:`MIN_CALLS_PER_EPOCH` callback calls (live
    points, Stop checks) per epoch, at most :data:`MAX_STEPS_PER_EXECUTION`."""
    if not gpus:
        return 1
    return max(1, min(MAX_STEPS_PER_EXECUTION, steps_per_epoch // MIN_CALLS_PER_EPOCH))


def device_plan(config: TrainConfig, gpus: Sequence[Any], backend: str = "tensorflow",
                steps_per_epoch: int = 1) -> DevicePlan:
    """Decide jit, mixed precision, distribution and steps per execution.

    Mixed precision asked for on a machine without a GPU is *ignored with a note* rather
    than refused: the web server that validates a form may not see the GPU a worker sees,
    and a recipe saved on a GPU machine should still run (in float32) on a laptop.

    jit: JAX compiles every step (without it each op is dispatched alone, far slower);
    TensorFlow's XLA only on one GPU (on a CPU it made steps ~5x slower here, and Keras
    turns it off under MirroredStrategy); PyTorch runs eagerly (``torch.compile`` costs
    long compiles and needs a C compiler).
    """
    count = len(gpus)
    notes: list[str] = []
    policy: str | None = None
    if config.mixed_precision and not count:
        notes.append("Mixed precision was asked for but no GPU is visible, so this run "
                     "trained in float32 (16-bit is slower than float32 on a CPU).")
    elif config.mixed_precision:
        policy, note = mixed_policy(gpus)
        if note:
            notes.append(note)
    distribute = count > 1 and backend in ("jax", "tensorflow")
    if count > 1 and backend == "torch":
        notes.append(f"{count} GPUs are visible but Keras on PyTorch trains on one here; "
                     "use the JAX backend to train on all of them.")
    jit = {"jax": True, "tensorflow": count == 1}.get(backend, False)
    return DevicePlan(gpus=count, jit_compile=jit, mixed_precision=policy is not None,
                      distribute=distribute, notes=tuple(notes), backend=backend,
                      policy=policy or "float32",
                      steps_per_execution=steps_per_execution(count, steps_per_epoch),
                      gpu_names=tuple(getattr(g, "name", str(g)) for g in gpus))


@contextlib.contextmanager
def precision_scope(policy: str | bool) -> Iterator[None]:
    """Keras's global dtype policy set to ``policy`` inside, restored after.

    ``True`` means ``mixed_float16``, ``False`` (or ``"float32"``) leaves it alone.
    """
    if policy is True:
        policy = "mixed_float16"
    if not policy or policy == "float32":
        yield
        return
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def distribution_scope(plan: DevicePlan) -> contextlib.AbstractContextManager[Any]:
    """Data parallel over every GPU, else nothing.

    JAX: ``keras.distribution.DataParallel`` (each batch split between the GPUs, variables
    replicated); it must stay active through ``fit`` and ``evaluate``, which shard the
    batches. TensorFlow: ``MirroredStrategy``, the only multi-GPU path Keras's ``fit``
    supports there.
    """
    if not plan.distribute:
        return contextlib.nullcontext()
    if plan.backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    devices = keras.distribution.list_devices("gpu")
    return keras.distribution.DataParallel(devices=devices).scope()


@contextlib.contextmanager
def device_scope(plan: DevicePlan) -> Iterator[None]:
    """The plan's dtype policy and distribution, for building or loading, fitting and
    testing a model: a resumed run reloads its checkpoint under the same ones."""
    with precision_scope(plan.policy), distribution_scope(plan):
        yield
