"""Training: the run configuration, the live-metrics Keras callback, and one function
that trains, tests and registers a model.

The workbench trains in a worker process (see :mod:`dashcore.worker`), never in a page.
:func:`train_in_process` is the whole job (prepare data → build → compile → fit →
evaluate → save) and knows nothing about processes or stores: it reports through an
injected *sink* and asks an injected ``should_stop`` whether to halt, so scripts and
tests reuse it unchanged. Four steps, as in the Keras MNIST tutorial:

1. prepare the data (:func:`prepare_data`), 2. build and compile the model,
3. fit with :class:`LiveMetrics` forwarding metrics, 4. evaluate on the test split and
save the model with its card to the registry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np

from dashcore.architectures import (
    ModelSpec,
    build_model,
    estimate_params,
    get_preset,
    validate_spec,
)
from dashcore.atomic import atomic_write_json, atomic_write_with
from dashcore.data import Dataset, load_dataset, one_hot, subset_classes
from dashcore.errors import UserError
from dashcore.settings import Limits, Settings, get_settings, limit_setting
from dashcore.store import COMPLETED, FAILED, STOPPED

OPTIMIZERS = {"adam": "Adam", "sgd": "SGD with momentum", "rmsprop": "RMSprop"}
LOSSES = {"categorical_crossentropy": "Categorical cross-entropy", "mse": "Mean squared error"}
# Learning-rate schedules: what each does, in the words /train shows beside the choice.
SCHEDULES = {
    "constant": "Constant: the learning rate stays as set for the whole run.",
    "one_cycle": "One-cycle: warms up from 1/25 of the learning rate to the full rate over the "
                 "first 30% of the steps, then eases down to near zero by the last step "
                 "(fast convergence in few epochs).",
}
ONE_CYCLE_WARMUP = 0.3  # share of all steps spent warming up to the peak learning rate
ONE_CYCLE_START_DIVISOR = 25.0  # the warm-up starts at learning_rate / this
ONE_CYCLE_END_FRACTION = 1e-3  # the last step's rate is learning_rate × this
MAX_BATCH_SIZE = 4096  # larger batches do not fit a small server's memory for big models
MAX_LEARNING_RATE = 1.0  # above this every optimizer here diverges on image data
MAX_VALIDATION_SPLIT = 0.5  # holding out more than half leaves too little to learn from
MIN_TRAIN_IMAGES = 10  # fewer than this cannot be split into training and validation
DEFAULT_ARCHITECTURE = "CNN 32-64"


def _show(value: Any) -> str:
    """A value as a sentence shows it: ``10000`` → ``10,000``, ``50.0`` → ``50``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return repr(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return f"{float(value):g}"


def _default_architecture() -> dict[str, Any]:
    return get_preset(DEFAULT_ARCHITECTURE).to_dict()


@dataclass
class TrainConfig:
    """Everything one training run needs; saved as ``config.json`` beside its outputs.

    Defaults are the Keras MNIST convnet recipe, shortened to 5 epochs (≈99% test
    accuracy on MNIST). :meth:`validate` explains every impossible value in a sentence.

    Example:
        >>> TrainConfig(batch_size=0).validate()[0]
        'Batch size 0 is not allowed: use a whole number from 1 to 4096 (128 is a good start).'
    """

    dataset: str = "MNIST"  # a name from dashcore.data.list_datasets()
    architecture: dict[str, Any] = field(default_factory=_default_architecture)  # ModelSpec dict;
    # its input shape and output width are refitted to the dataset when the model is built
    optimizer: str = "adam"  # "adam", "sgd" (with momentum) or "rmsprop"
    learning_rate: float = 1e-3  # optimizer step size; more than 0 and at most 1
    momentum: float = 0.9  # SGD only: fraction of the previous update kept, 0 to below 1
    batch_size: int = 128  # images per gradient step, 1 to 4096
    epochs: int = 5  # passes over the training images, 1 to limits.max_epochs
    validation_split: float = 0.1  # fraction of training images held out for validation, 0–0.5
    seed: int = 42  # seeds the split, the shuffling, weight initialisation and dropout
    patience: int = 0  # early stopping: epochs without a better validation loss; 0 = off
    augment: bool = False  # light random shifts (±10%), rotations (±5%) and zooms (±10%)
    loss: str = "categorical_crossentropy"  # or "mse" (mean squared error, to compare)
    classes: list[int] | None = None  # class indices to train on (≥2, relabelled 0..k-1);
    # None = all classes
    max_train_images: int = 0  # use only this many training images (after shuffling); 0 = all
    keep_best: bool = True  # register the best epoch's weights (lowest validation loss)
    batch_log_interval_s: float = 0.5  # seconds between per-batch metric points (≥ 0.05)
    schedule: str = "constant"  # learning-rate schedule: "constant" or "one_cycle" (warm-up to
    # learning_rate over the first 30% of steps, then cosine down to ~0 by the last step)
    mixed_precision: bool = False  # float16 compute on a GPU (float32 weights); ignored, with
    # a note on the model card, where no GPU is visible (float16 is slower on a CPU)
    canvas_ready: bool = False  # also train (and validate) on canvas-like renderings of the
    # training digits: drawn as pen strokes on a 280×280 canvas at random sizes, places and
    # brush widths, then preprocessed as /draw does (28×28 grey digits only)
    holdout_last: int = 0  # leave the last N training images out of training and validation
    # (the default model keeps MNIST's last 2,000 for the /draw replay tests); 0 = none

    # ------------------------------------------------------------ checking

    def validate(self, limits: Limits | None = None) -> list[str]:
        """Every problem with this configuration, one plain sentence each ([] = fine)."""
        limits = limits or Limits()
        problems: list[str] = []
        shown = {key: _show(value) for key, value in asdict(self).items()}

        def whole(value: Any) -> bool:
            return isinstance(value, int | np.integer) and not isinstance(value, bool)

        def number(value: Any) -> bool:
            return (isinstance(value, int | float | np.number) and not isinstance(value, bool)
                    and math.isfinite(float(value)))

        if not isinstance(self.dataset, str) or not self.dataset:
            problems.append("Pick a dataset to train on.")
        if not isinstance(self.architecture, dict) or not self.architecture.get("layers"):
            problems.append("Pick an architecture: a preset, or the one built on /architecture.")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"Optimizer {self.optimizer!r} is not offered: choose "
                            f"{', '.join(OPTIMIZERS)}.")
        if not number(self.learning_rate) or not 0 < self.learning_rate <= MAX_LEARNING_RATE:
            problems.append(f"Learning rate {shown['learning_rate']} is not allowed: use a number "
                            f"above 0 and at most {MAX_LEARNING_RATE:g} (0.001 suits Adam, "
                            "0.01 suits SGD).")
        if not number(self.momentum) or not 0 <= self.momentum < 1:
            problems.append(f"Momentum {shown['momentum']} is not allowed: use a number from 0 up "
                            "to (not including) 1, such as 0.9.")
        if not whole(self.batch_size) or not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            problems.append(f"Batch size {shown['batch_size']} is not allowed: use a whole number "
                            f"from 1 to {MAX_BATCH_SIZE} (128 is a good start).")
        if not whole(self.epochs) or not 1 <= self.epochs <= limits.max_epochs:
            over = (f" {limit_setting('max_epochs')}"
                    if whole(self.epochs) and self.epochs > limits.max_epochs else "")
            problems.append(f"{shown['epochs']} epochs is not allowed: use a whole number "
                            f"from 1 to {limits.max_epochs} (5–10 is enough for MNIST).{over}")
        if (not number(self.validation_split)
                or not 0 <= self.validation_split <= MAX_VALIDATION_SPLIT):
            problems.append(f"Validation split {shown['validation_split']} is not allowed: use a "
                            f"fraction from 0 to {MAX_VALIDATION_SPLIT} (0.1 holds out 10% of "
                            "the training images).")
        if not whole(self.seed) or not 0 <= self.seed < 2**31:
            problems.append(f"Seed {shown['seed']} is not allowed: use a whole number from 0 to "
                            f"{2**31 - 1}.")
        if not whole(self.patience) or not 0 <= self.patience <= limits.max_epochs:
            problems.append(f"Early-stopping patience {shown['patience']} is not allowed: use 0 "
                            f"(off) or a whole number of epochs up to {limits.max_epochs}.")
        if self.patience and not self.validation_split:
            problems.append("Early stopping watches the validation loss: set a validation "
                            "split above 0, or set patience to 0.")
        if self.loss not in LOSSES:
            problems.append(f"Loss {self.loss!r} is not offered: choose {', '.join(LOSSES)}.")
        if self.classes is not None:
            if (not isinstance(self.classes, list | tuple)
                    or not all(whole(c) and c >= 0 for c in self.classes)):
                problems.append("Classes must be a list of class numbers such as [3, 8].")
            elif len(set(self.classes)) < 2:
                problems.append("Pick at least two different classes to train on (for example "
                                "3 and 8), or leave the selection empty to use all classes.")
        if not whole(self.max_train_images) or self.max_train_images < 0:
            problems.append(f"Training-image limit {self.max_train_images} is not allowed: use "
                            "0 (all images) or a positive whole number.")
        elif 0 < self.max_train_images < MIN_TRAIN_IMAGES:
            problems.append(f"{self.max_train_images} training images are too few: use at "
                            f"least {MIN_TRAIN_IMAGES}, or 0 for all of them.")
        if not number(self.batch_log_interval_s) or self.batch_log_interval_s < 0.05:
            problems.append("The per-batch logging interval must be at least 0.05 seconds.")
        if self.schedule not in SCHEDULES:
            problems.append(f"Learning-rate schedule {self.schedule!r} is not offered: choose "
                            f"{' or '.join(SCHEDULES)}.")
        if not isinstance(self.canvas_ready, bool):
            problems.append(f"Canvas-ready must be on or off (True or False), not "
                            f"{self.canvas_ready!r}.")
        if not whole(self.holdout_last) or self.holdout_last < 0:
            problems.append(f"Held-out image count {shown['holdout_last']} is not allowed: use 0 "
                            "(none) or a positive whole number.")
        if not isinstance(self.mixed_precision, bool):
            problems.append(f"Mixed precision must be on or off (True or False), not "
                            f"{self.mixed_precision!r}.")
        return problems

    def check(self, limits: Limits | None = None) -> TrainConfig:
        """Raise one :class:`UserError` listing every problem; returns self when valid."""
        problems = self.validate(limits)
        if problems:
            raise UserError(" ".join(problems))
        return self

    # ------------------------------------------------------------ (de)serialising

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what the store and ``config.json`` hold)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; refuses unknown keys so typos do not pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"Unknown training setting(s) {', '.join(unknown)}; allowed: "
                            f"{', '.join(sorted(known))}.")
        return cls(**data)

    @property
    def spec(self) -> ModelSpec:
        """The architecture as a :class:`ModelSpec` (before fitting it to the data)."""
        return ModelSpec.from_dict(self.architecture)

    def default_name(self) -> str:
        """A readable run name: ``CNN 32-64 · MNIST · Adam 0.001 · 5 ep``."""
        classes = f" [{' vs '.join(str(c) for c in sorted(set(self.classes)))}]" \
            if self.classes else ""
        return (f"{self.spec.name} · {self.dataset}{classes} · "
                f"{OPTIMIZERS.get(self.optimizer, self.optimizer).split()[0]} "
                f"{self.learning_rate:g} · {self.epochs} ep")


# ---------------------------------------------------------------- recipes

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
}
# Why each recipe, in a line /train shows under the form.
RECIPE_NOTES: dict[str, str] = {
    "Fast CNN": "One epoch of one-cycle Adam peaking at 0.01: about 99.1% test accuracy in a "
                "single pass (see BENCHMARKS.md).",
    "Best CNN": "20 epochs of one-cycle Adam with light augmentation: 99.64% test accuracy "
                "(see BENCHMARKS.md); the registered weights are the epoch with the lowest "
                "validation loss (the test set never chooses).",
}
RECIPE_FIELDS = ("optimizer", "learning_rate", "batch_size", "epochs", "validation_split",
                 "schedule", "augment", "patience", "keep_best")  # what a recipe may set


def recipe_for(preset: str) -> dict[str, Any]:
    """The recipe fields for ``preset``: its own recipe, else the defaults (tutorial)."""
    defaults = TrainConfig()
    return {name: RECIPES.get(preset, {}).get(name, getattr(defaults, name))
            for name in RECIPE_FIELDS}


def recommended_config(preset: str, **changes: Any) -> TrainConfig:
    """A :class:`TrainConfig` for ``preset`` with its recommended recipe, then ``changes``.

    Example:
        >>> recommended_config("Fast CNN").schedule
        'one_cycle'
    """
    return TrainConfig(architecture=get_preset(preset).to_dict(),
                       **{**recipe_for(preset), **changes})


# ---------------------------------------------------------------- data


@dataclass
class PreparedData:
    """Model-ready arrays: float32 images ``(N, H, W, 1)`` in [0, 1], one-hot labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]

    @property
    def num_classes(self) -> int:
        """Output width of the model."""
        return len(self.class_names)


def to_model_input(x: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W)`` → float32 ``(N, H, W, 1)`` in [0, 1], in one allocation.

    ``dashcore.data.scale_images`` writes ``x.astype(float32) / 255``, which holds two
    float copies at once; this writes the result straight into its final array.
    """
    out = np.empty((*x.shape, 1), dtype=np.float32)
    np.multiply(x, np.float32(1.0 / 255.0), out=out[..., 0], dtype=np.float32)
    return out


def select_classes(dataset: Dataset, classes: list[int] | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Train/test arrays (still uint8) restricted to ``classes`` and their names."""
    if not classes:
        return (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test,
                tuple(dataset.class_names))
    wanted = sorted(set(int(c) for c in classes))
    bad = [c for c in wanted if c >= dataset.num_classes]
    if bad:
        raise UserError(f"Class(es) {bad} do not exist in {dataset.name}, which has classes "
                        f"0 to {dataset.num_classes - 1}.")
    x_train, y_train = subset_classes(dataset.x_train, dataset.y_train, wanted)
    x_test, y_test = subset_classes(dataset.x_test, dataset.y_test, wanted)
    return x_train, y_train, x_test, y_test, tuple(dataset.class_names[c] for c in wanted)


def prepare_data(config: TrainConfig, settings: Settings | None = None) -> PreparedData:
    """Step 1: load, pick classes, split off validation with the seed, scale once.

    Images stay uint8 through selection and splitting (the only copies are the split
    themselves) and become float32 exactly once, which is what Keras trains on.
    """
    dataset = load_dataset(config.dataset, settings)
    if config.holdout_last:
        if config.holdout_last > len(dataset.x_train) - MIN_TRAIN_IMAGES:
            raise UserError(f"Holding out the last {config.holdout_last:,} of "
                            f"{len(dataset.x_train):,} training images leaves too few to "
                            "train on: hold out fewer.")
        keep = len(dataset.x_train) - config.holdout_last
        dataset = dataclasses.replace(dataset, x_train=dataset.x_train[:keep],
                                      y_train=dataset.y_train[:keep])
    x_all, y_all, x_test, y_test, names = select_classes(dataset, config.classes)
    order = np.random.default_rng(config.seed).permutation(len(x_all))
    if config.max_train_images:
        order = order[:config.max_train_images]
    n_val = int(round(len(order) * config.validation_split))
    if len(order) - n_val < 1:
        raise UserError(f"Only {len(order)} training images are available: lower the "
                        "validation split or use more images.")
    train_idx, val_idx = np.sort(order[n_val:]), np.sort(order[:n_val])
    k = len(names)
    x_train, y_train = x_all[train_idx], y_all[train_idx]
    x_val, y_val = x_all[val_idx], y_all[val_idx]
    if config.canvas_ready:
        settings = settings or get_settings()
        x_train, y_train = with_canvas_like(x_train, y_train, config.seed, settings)
        if n_val:
            x_val, y_val = with_canvas_like(x_val, y_val, config.seed + 1, settings)
    return PreparedData(
        x_train=to_model_input(x_train), y_train=one_hot(y_train, k),
        x_val=to_model_input(x_val) if n_val else None,
        y_val=one_hot(y_val, k) if n_val else None,
        x_test=to_model_input(x_test), y_test=one_hot(y_test, k),
        class_names=names, input_shape=(*dataset.image_shape, 1))


def with_canvas_like(x: np.ndarray, y: np.ndarray, seed: int, settings: Settings
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``x`` plus one canvas-like rendering of each digit (see ``TrainConfig.canvas_ready``).

    Renderings are cached under ``<home>/cache`` (a few ms per digit to make).
    """
    if x.shape[1:] != (28, 28):
        raise UserError(f"Canvas-ready training draws 28×28 digits, but these images are "
                        f"{x.shape[1]}×{x.shape[2]}: turn canvas-ready off for this dataset.")
    from dashcore.datasets.canvas_like import canvas_like_images

    xc, yc = canvas_like_images(x, y, seed=seed, cache_dir=settings.home / "cache")
    return np.concatenate([x, xc]), np.concatenate([y, yc])


def fitted_spec(config: TrainConfig, input_shape: tuple[int, ...], num_classes: int
                ) -> ModelSpec:
    """The configured architecture with its input and output fitted to the data."""
    return config.spec.with_data(tuple(input_shape), num_classes)


def check_model_size(model: Any, limits: Limits) -> int:
    """Parameter count, or a :class:`UserError` when it is over the server's limit."""
    params = int(model.count_params())
    if params > limits.max_params:
        raise UserError(f"This model has {params:,} parameters; the limit on this server is "
                        f"{limits.max_params:,}. Use fewer or smaller layers (e.g. a "
                        f"MaxPooling2D before Flatten). {limit_setting('max_params')}")
    return params


def describe_job(config: TrainConfig, settings: Settings | None = None) -> dict[str, Any]:
    """Check what cannot be checked from the numbers alone, before a run is queued.

    Loads the dataset (cached), checks the chosen classes exist, and checks the layer
    stack fitted to the data (shapes and size) without building it in Keras. Returns
    ``architecture`` (name), ``params``, ``input_shape``, ``num_classes``, ``class_names``.

    Raises:
        UserError: unknown dataset or class, a model that cannot be built or is too big.
    """
    settings = settings or get_settings()
    config.check(settings.limits)
    dataset = load_dataset(config.dataset, settings)
    if config.classes:
        bad = sorted(c for c in set(config.classes) if c >= dataset.num_classes)
        if bad:
            raise UserError(f"Class(es) {bad} do not exist in {dataset.name}, which has "
                            f"classes 0 to {dataset.num_classes - 1}.")
        names = tuple(dataset.class_names[c] for c in sorted(set(config.classes)))
    else:
        names = tuple(dataset.class_names)
    spec = fitted_spec(config, dataset.input_shape, len(names))
    validate_spec(spec, settings.limits.max_params)  # plain-words layer checks, no Keras
    params = int(sum(estimate_params(spec)))
    return {"architecture": spec.name, "params": params, "input_shape": dataset.input_shape,
            "num_classes": len(names), "class_names": names}


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int) -> Any:
    """The optimizer's learning rate: the float itself, or a Keras schedule over all steps.

    One-cycle is Keras's own ``CosineDecay`` with a linear warm-up (so it is saved with
    the model and reloads without custom code): from ``learning_rate / 25`` up to
    ``learning_rate`` over the first 30% of ``epochs × steps_per_epoch`` steps, then a
    cosine down to ``learning_rate / 1000`` at the last step. A high peak explores fast,
    the long low tail settles into a good minimum: few epochs reach high accuracy.
    """
    if config.schedule != "one_cycle":
        return config.learning_rate
    total = max(2, int(config.epochs) * max(1, int(steps_per_epoch)))
    warmup = max(1, int(round(total * ONE_CYCLE_WARMUP)))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / ONE_CYCLE_START_DIVISOR,
        decay_steps=max(1, total - warmup), alpha=ONE_CYCLE_END_FRACTION,
        warmup_target=config.learning_rate, warmup_steps=warmup, name="one_cycle")


def count_steps(train_samples: int, batch_size: int) -> int:
    """Gradient steps in one pass over ``train_samples`` images (the last batch may be short)."""
    return max(1, math.ceil(int(train_samples) / int(batch_size)))


def make_optimizer(config: TrainConfig, steps_per_epoch: int = 1) -> Any:
    """The configured Keras optimizer, with its learning-rate schedule."""
    rate = learning_rate_schedule(config, steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=config.momentum)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=rate)
    return keras.optimizers.Adam(learning_rate=rate)


def compile_model(model: Any, config: TrainConfig, steps_per_epoch: int = 1,
                  jit_compile: bool = False) -> Any:
    """Step 2b: compile with the configured optimizer, schedule and loss; accuracy metric.

    ``steps_per_epoch`` sizes the one-cycle schedule. ``jit_compile`` comes from
    :func:`device_plan` (XLA on GPU only: on this 2-core CPU it made steps ~5× slower);
    when on, Keras's ``"auto"`` still leaves it off for layers XLA cannot compile.
    """
    model.compile(optimizer=make_optimizer(config, steps_per_epoch), loss=config.loss,
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                  jit_compile="auto" if jit_compile else False)
    return model


# ---------------------------------------------------------------- devices


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


def augmented_dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> Any:
    """A shuffled, batched ``tf.data`` pipeline with light random shifts/rotations/zooms.

    Augmentation runs per batch in the input pipeline (training only), so the saved
    model stays exactly the spec's layers.
    """
    import tensorflow as tf

    augment = keras.Sequential([
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=config.seed),
        keras.layers.RandomRotation(0.05, fill_mode="constant", seed=config.seed),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=config.seed),
    ], name="augment")
    return (tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(min(len(x), 20_000), seed=config.seed, reshuffle_each_iteration=True)
            .batch(config.batch_size)
            .map(lambda a, b: (augment(a, training=True), b),
                 num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


# ---------------------------------------------------------------- reporting


class TrainingSink(Protocol):
    """Where :class:`LiveMetrics` sends what it sees (a store, a list, a terminal…)."""

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Per-batch points (throttled) and the current progress."""

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        """One finished (or stopped-early) epoch's metrics."""


class NullSink:
    """A sink that drops everything: for scripts that only want the outcome."""

    def batches(self, points: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Ignore per-batch points."""

    def epoch(self, point: dict[str, Any], progress: dict[str, Any]) -> None:
        """Ignore epoch points."""


class TensorBoardScalars:
    """Writes scalars as TensorBoard event files without the ``tensorboard`` package.

    ``tf.summary`` needs the ``tensorboard`` package installed; the event format itself is
    just TFRecord-framed ``Event`` protocol buffers, which TensorFlow writes on its own.
    Layout matches Keras's TensorBoard callback: ``<log_dir>/train`` and
    ``<log_dir>/validation``, tags ``epoch_loss``, ``epoch_accuracy``, ``batch_loss``….
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}

    def _writer(self, split: str) -> Any:
        if split not in self._writers:
            import socket

            import tensorflow as tf
            from tensorflow.core.util import event_pb2

            folder = self.log_dir / split
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
            writer = tf.io.TFRecordWriter(str(path))
            writer.write(event_pb2.Event(wall_time=time.time(),
                                         file_version="brain.Event:2").SerializeToString())
            self._writers[split] = writer
        return self._writers[split]

    def scalars(self, split: str, step: int, values: dict[str, float]) -> None:
        """Write one step's scalars (e.g. ``{"epoch_loss": 0.1}``) under ``split``."""
        from tensorflow.core.framework import summary_pb2
        from tensorflow.core.util import event_pb2

        summary = summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
            for tag, value in values.items() if value is not None and math.isfinite(value)])
        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        self._writer(split).write(event.SerializeToString())

    def flush(self) -> None:
        """Make everything written so far visible to TensorBoard."""
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        """Flush and close every file."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class LiveMetrics(keras.callbacks.Callback):
    """Forwards training metrics to a sink while the model trains, and obeys Stop.

    Per batch it records at most one point every ``interval_s`` seconds (plus the run's
    first batch and each epoch's last), so a fast model does not flood the store. Each
    point holds the *mean over the batches since the previous point*, recovered from
    Keras's running epoch means, so the curve is not smeared by the epoch average. Per
    epoch it forwards every metric. It checks ``should_stop()`` after every batch, ends
    training on a NaN loss with a plain reason, and keeps the best epoch's weights.

    Args:
        sink: receives points and progress (see :class:`TrainingSink`).
        should_stop: returns True once the user pressed Stop. Defaults to never.
        train_samples: training images per epoch (to convert batches to samples).
        batch_size: images per batch.
        interval_s: seconds between per-batch points. Defaults to 0.5.
        monitor: metric that picks the best epoch. Defaults to ``"val_loss"``.
        checkpoint: where to save the best weights as they improve (``.weights.h5``);
            ``None`` keeps them in memory only.
        tensorboard: optional :class:`TensorBoardScalars` to mirror every point into.
        clock: seconds as a float; injectable for tests. Defaults to ``time.monotonic``.

    Example:
        >>> callback = LiveMetrics(NullSink(), train_samples=300, batch_size=100)
        >>> model.fit(x, y, batch_size=100, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(self, sink: TrainingSink, should_stop: Callable[[], bool] | None = None, *,
                 train_samples: int, batch_size: int, interval_s: float = 0.5,
                 monitor: str = "val_loss", checkpoint: Path | None = None,
                 tensorboard: TensorBoardScalars | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.sink = sink
        self.should_stop = should_stop or (lambda: False)
        self.train_samples = int(train_samples)
        self.batch_size = int(batch_size)
        self.interval_s = float(interval_s)
        self.monitor = monitor
        self.checkpoint = checkpoint
        self.tensorboard = tensorboard
        self.clock = clock
        self.steps_per_epoch = count_steps(self.train_samples, self.batch_size)
        self.epochs = 1
        # What happened (read by train_in_process after fit):
        self.stop_requested = False  # the user pressed Stop
        self.failure: str | None = None  # a sentence when training had to be abandoned
        self.epochs_done = 0  # epochs completed in full
        self.stopped_at: tuple[int, int] | None = None  # (epoch, batch), 1-based, if cut short
        self.best_epoch: int | None = None
        self.best_metrics: dict[str, float] = {}
        self.best_weights: list[np.ndarray] | None = None
        self.last_metrics: dict[str, float] = {}
        self.batches_done = 0
        self._start = 0.0
        self._epoch = 0
        self._epoch_start = 0.0
        self._last_point_time = -math.inf
        self._last_batch: int | None = None
        self._last_samples = 0
        self._last_means: dict[str, float] = {}

    # ---- helpers

    def _samples_after(self, batch: int) -> int:
        return min((batch + 1) * self.batch_size, self.train_samples)

    def _progress(self, batch: int | None, now: float, phase: str) -> dict[str, Any]:
        """Counters, speed and time left, for the progress bar (batch is 0-based)."""
        elapsed = now - self._start
        epoch_elapsed = now - self._epoch_start
        done_in_epoch = self._samples_after(batch) if batch is not None else 0
        rate = done_in_epoch / epoch_elapsed if epoch_elapsed > 0 and done_in_epoch else None
        total_steps = self.steps_per_epoch * self.epochs
        eta = (elapsed / self.batches_done * (total_steps - self.batches_done)
               if self.batches_done else None)
        return {"epoch": self._epoch + 1, "epochs": self.epochs,
                "batch": (batch + 1) if batch is not None else 0,
                "steps": self.steps_per_epoch, "samples_per_s": rate,
                "eta_s": max(0.0, eta) if eta is not None else None,
                "elapsed_s": elapsed, "phase": phase,
                "fraction": min(1.0, self.batches_done / total_steps) if total_steps else 0.0}

    def _window_means(self, samples: int, logs: dict[str, float]) -> dict[str, float]:
        """Mean of each metric over the batches since the previous point.

        Keras reports running means weighted by samples: m_b = Σ/S_b. The mean over
        samples S_a..S_b is therefore (S_b·m_b − S_a·m_a) / (S_b − S_a).
        """
        out: dict[str, float] = {}
        span = samples - self._last_samples
        for key, mean in logs.items():
            if not isinstance(mean, float | int):
                continue
            previous = self._last_means.get(key, 0.0)
            value = (samples * mean - self._last_samples * previous) / span if span else mean
            if "accuracy" in key:
                value = min(1.0, max(0.0, value))
            out[key] = float(value)
        return out

    # ---- Keras hooks

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Start the clocks; learn the epoch count and steps per epoch from Keras."""
        self._start = self.clock()
        params = self.params or {}
        self.epochs = int(params.get("epochs") or 1)
        if params.get("steps"):
            self.steps_per_epoch = int(params["steps"])

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Reset the per-epoch window (Keras resets its running means here too)."""
        self._epoch = epoch
        self._epoch_start = self.clock()
        self._last_batch = None
        self._last_samples = 0
        self._last_means = {}

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Record a throttled point, catch a NaN loss, and honour Stop."""
        logs = logs or {}
        self.batches_done += 1
        self._last_batch = batch
        now = self.clock()
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.failure = (f"The loss became {loss} (not a number) in epoch {self._epoch + 1}, "
                            f"batch {batch + 1}: training diverged. Lower the learning rate "
                            "(try 10× smaller) or use Adam.")
            self.stopped_at = (self._epoch + 1, batch + 1)
            self.model.stop_training = True
            return
        last_in_epoch = batch + 1 >= self.steps_per_epoch
        if (self.batches_done == 1 or last_in_epoch
                or now - self._last_point_time >= self.interval_s):
            samples = self._samples_after(batch)
            point = {"step": self._epoch * self.steps_per_epoch + batch,
                     "epoch": self._epoch + 1, "batch": batch + 1,
                     "x": self._epoch + (batch + 1) / self.steps_per_epoch,
                     "t": now - self._start, **self._window_means(samples, logs)}
            self._last_samples, self._last_point_time = samples, now
            self._last_means = {k: float(v) for k, v in logs.items()
                                if isinstance(v, float | int)}
            self.sink.batches([point], self._progress(batch, now, "training"))
            if self.tensorboard is not None:
                self.tensorboard.scalars("train", point["step"], {
                    f"batch_{k}": point[k] for k in logs if k in point})
        if not self.stop_requested and self.should_stop():
            self.stop_requested = True
            if not last_in_epoch:
                self.stopped_at = (self._epoch + 1, batch + 1)
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Forward the epoch's metrics, track the best epoch, checkpoint its weights."""
        logs = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, float | int)}
        now = self.clock()
        partial = self.stopped_at is not None and self.stopped_at[0] == epoch + 1
        if not partial:
            self.epochs_done = epoch + 1
        x = (epoch + (self._last_batch + 1) / self.steps_per_epoch
             if partial and self._last_batch is not None else epoch + 1)
        point = {"epoch": epoch + 1, "x": x, "t": now - self._start,
                 "duration_s": now - self._epoch_start, "partial": partial, **logs}
        self.last_metrics = logs
        if self.failure is None:
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                self.failure = (f"{bad[0]} became not-a-number in epoch {epoch + 1}: training "
                                "diverged. Lower the learning rate (try 10× smaller).")
                self.model.stop_training = True
        score = logs.get(self.monitor, logs.get("loss"))
        if (self.failure is None and score is not None
                and (self.best_epoch is None
                     or score < self.best_metrics.get(self.monitor,
                                                      self.best_metrics.get("loss", math.inf)))):
            self.best_epoch, self.best_metrics = epoch + 1, dict(logs)
            self.best_weights = [np.array(w) for w in self.model.get_weights()]
            if self.checkpoint is not None:
                atomic_write_with(self.checkpoint, self.model.save_weights, suffix=".weights.h5")
        self.sink.epoch(point, self._progress(self._last_batch, now, "training"))
        if self.tensorboard is not None:
            self.tensorboard.scalars("train", epoch + 1, {
                f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")})
            self.tensorboard.scalars("validation", epoch + 1, {
                f"epoch_{k[4:]}": v for k, v in logs.items() if k.startswith("val_")})
            self.tensorboard.flush()


# ---------------------------------------------------------------- the job


@dataclass
class TrainOutcome:
    """What a run produced. ``status`` is ``completed``, ``stopped`` or ``failed``."""

    status: str
    reason: str | None = None  # a sentence for stopped/failed (and early stopping)
    model_id: str | None = None  # registry id of the saved model, if one was saved
    epochs_done: int = 0  # epochs completed in full
    final_metrics: dict[str, float] = field(default_factory=dict)  # the last epoch's logs
    best_metrics: dict[str, float] = field(default_factory=dict)  # the best epoch's logs
    best_epoch: int | None = None  # 1-based
    test_accuracy: float | None = None
    test_loss: float | None = None
    params: int = 0  # parameter count of the model
    duration_s: float = 0.0  # the whole job: data, build, fit, test, save
    fit_s: float = 0.0  # model.fit alone, wall clock (what the overhead benchmark compares)
    fit_cpu_s: float = 0.0  # model.fit alone, CPU seconds of this process (all its threads)
    card: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON-ready fields a history table needs (everything but the card)."""
        data = asdict(self)
        data.pop("card")
        data["best_val_accuracy"] = self.best_metrics.get("val_accuracy")
        return data


def library_versions() -> dict[str, str]:
    """Versions written on every model card, so a result can be reproduced."""
    import tensorflow as tf

    return {"keras": keras.__version__, "tensorflow": tf.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


@contextlib.contextmanager
def _precision(mixed: bool) -> Iterator[None]:
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


def _strategy_scope(distribute: bool) -> contextlib.AbstractContextManager[Any]:
    """``MirroredStrategy().scope()`` for more than one GPU, else nothing.

    Variables created inside (model and optimizer) are mirrored on every GPU; ``fit``
    then splits each batch of ``batch_size`` images between them.
    """
    if not distribute:
        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.distribute.MirroredStrategy().scope()


def train_in_process(config: TrainConfig, sink: TrainingSink | None = None,
                     should_stop: Callable[[], bool] | None = None, *,
                     settings: Settings | None = None, run_id: str | None = None,
                     run_dir: Path | None = None, name: str | None = None,
                     owner: str | None = None, register: bool = True,
                     extra_callbacks: tuple[Any, ...] = ()) -> TrainOutcome:
    """Train, test and register one model in this process; returns what happened.

    Reusable from scripts: ``train_in_process(TrainConfig(epochs=1))`` trains the
    default CNN on MNIST and saves it to the registry. A NaN loss returns ``failed``
    with a reason; Stop returns ``stopped`` with the model so far saved.

    Args:
        config: what to train (validated here against the settings' limits).
        sink: receives live metrics. Defaults to :class:`NullSink`.
        should_stop: polled after every batch. Defaults to never.
        settings: data folder and limits. Defaults to :func:`get_settings`.
        run_id: id of the run in the store (written on the model card).
        run_dir: folder for ``config.json``, TensorBoard logs and the best-weights
            checkpoint. Defaults to ``<runs_dir>/<run_id>`` (or none without a run id).
        name: the model's display name. Defaults to :meth:`TrainConfig.default_name`.
        owner: the user who started it (``None`` while there are no accounts).
        register: save the model to the registry (False for benchmarks).
        extra_callbacks: more Keras callbacks, run after the live-metrics one (the
            time-to-accuracy benchmark's per-epoch test probe).

    Raises:
        UserError: for an invalid configuration, an unknown dataset, or a model that
            cannot be built or is too large.
    """
    started = time.monotonic()
    settings = settings or get_settings()
    sink = sink or NullSink()
    should_stop = should_stop or (lambda: False)
    config.check(settings.limits)
    if run_dir is None and run_id is not None:
        run_dir = settings.runs_dir / run_id
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / "config.json", config.to_dict())

    # 1. Data
    data = prepare_data(config, settings)

    # 2. Model, on the devices there are
    keras.utils.set_random_seed(config.seed)
    spec = fitted_spec(config, data.input_shape, data.num_classes)
    plan = device_plan(config, visible_gpus())
    steps = count_steps(len(data.x_train), config.batch_size)
    with _precision(plan.mixed_precision), _strategy_scope(plan.distribute):
        model = build_model(spec, output_float32=plan.mixed_precision)
        params = check_model_size(model, settings.limits)
        compile_model(model, config, steps, jit_compile=plan.jit_compile)
    if should_stop():
        return TrainOutcome(status=STOPPED, reason="Stopped before training began; no model "
                            "was saved.", params=params,
                            duration_s=time.monotonic() - started)

    # 3. Fit
    has_val = data.x_val is not None
    tensorboard = TensorBoardScalars(run_dir / "tensorboard") if run_dir is not None else None
    live = LiveMetrics(sink, should_stop, train_samples=len(data.x_train),
                       batch_size=config.batch_size, interval_s=config.batch_log_interval_s,
                       monitor="val_loss" if has_val else "loss",
                       checkpoint=run_dir / "best.weights.h5" if run_dir is not None else None,
                       tensorboard=tensorboard)
    callbacks: list[Any] = [live, *extra_callbacks]
    early = None
    if config.patience:
        early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience)
        callbacks.append(early)
    if config.augment:
        fit_args: dict[str, Any] = {"x": augmented_dataset(data.x_train, data.y_train, config)}
    else:
        fit_args = {"x": data.x_train, "y": data.y_train, "batch_size": config.batch_size,
                    "shuffle": True}
    fit_start, fit_cpu_start = time.monotonic(), time.process_time()
    try:
        model.fit(**fit_args, epochs=config.epochs, verbose=0, callbacks=callbacks,
                  validation_data=(data.x_val, data.y_val) if has_val else None)
    finally:
        if tensorboard is not None:
            tensorboard.close()
    fit_s = time.monotonic() - fit_start
    fit_cpu_s = time.process_time() - fit_cpu_start

    outcome = TrainOutcome(status=COMPLETED, epochs_done=live.epochs_done,
                           final_metrics=live.last_metrics, best_metrics=live.best_metrics,
                           best_epoch=live.best_epoch, params=params, fit_s=fit_s,
                           fit_cpu_s=fit_cpu_s)
    if live.failure:
        outcome.status, outcome.reason = FAILED, live.failure
        outcome.duration_s = time.monotonic() - started
        return outcome
    if live.stop_requested:
        where = (f"in epoch {live.stopped_at[0]} at batch {live.stopped_at[1]}"
                 if live.stopped_at else f"after epoch {live.epochs_done}")
        outcome.status, outcome.reason = STOPPED, f"Stopped on request {where}."
    elif early is not None and early.stopped_epoch > 0:
        outcome.reason = (f"Early stopping ended training after epoch {live.epochs_done}: the "
                          f"validation loss had not improved for {config.patience} epoch(s).")

    # 4. Test and save
    weights_used = "last epoch"
    if config.keep_best and live.best_weights is not None and live.best_epoch is not None:
        model.set_weights(live.best_weights)
        weights_used = f"best epoch ({live.best_epoch})"
    test = model.evaluate(data.x_test, data.y_test, batch_size=max(256, config.batch_size),
                          verbose=0, return_dict=True)
    outcome.test_accuracy = float(test["accuracy"])
    outcome.test_loss = float(test["loss"])
    outcome.duration_s = time.monotonic() - started
    card = {
        "name": name or config.default_name(), "owner": owner, "source": "trained",
        "run_id": run_id, "status": outcome.status, "dataset": config.dataset,
        "spec": spec.to_dict(), "hyperparameters": config.to_dict(), "seed": config.seed,
        "epochs_done": outcome.epochs_done, "final_metrics": outcome.final_metrics,
        "best_metrics": outcome.best_metrics, "best_epoch": outcome.best_epoch,
        "weights": weights_used, "test_accuracy": outcome.test_accuracy,
        "test_loss": outcome.test_loss, "duration_s": round(outcome.duration_s, 2),
        "fit_s": round(fit_s, 2), "versions": library_versions(),
        "input_shape": list(data.input_shape), "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "classes": sorted(set(config.classes)) if config.classes else None,
        "params": params, "device": plan.describe(), "device_notes": list(plan.notes),
    }
    if register:
        from dashcore.registry import save_model

        entry = save_model(model, card, settings)
        outcome.model_id, card = entry.model_id, entry.card
    outcome.card = card
    return outcome
