"""The run configuration: :class:`TrainConfig`, its limits and checks, and recipes.

Imports no Keras, so pages that only need the form's constants stay light.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from dashcore.errors import UserError
from dashcore.models.presets import DEFAULT_PRESET, RECIPES, get_preset
from dashcore.models.specs import ModelSpec
from dashcore.settings import Limits, limit_setting

OPTIMIZERS = {"adam": "Adam", "sgd": "SGD with momentum", "rmsprop": "RMSprop"}
LOSSES = {"categorical_crossentropy": "Categorical cross-entropy", "mse": "Mean squared error",
          "mae": "Mean absolute error (tables: regression)",
          "binary_crossentropy": "Binary cross-entropy (tables: two classes, sigmoid output)"}
IMAGE_LOSSES = ("categorical_crossentropy", "mse")  # what an image dataset may train with
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
MAX_GPUS = 8  # GPUs one run may ask a Ray cluster for: one host's worth (no multi-host training)


def _show(value: Any) -> str:
    """A value as a sentence shows it: ``10000`` → ``10,000``, ``50.0`` → ``50``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return repr(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return f"{float(value):g}"


def _default_architecture() -> dict[str, Any]:
    return get_preset(DEFAULT_PRESET).to_dict()


@dataclass
class TrainConfig:
    """Everything one training run needs; saved as ``config.json`` beside its outputs.

    Defaults are the Keras MNIST convnet recipe, shortened to 5 epochs (≈99% test
    accuracy on MNIST). :meth:`validate` explains every impossible value in a sentence.

    Example:
        >>> TrainConfig(batch_size=0).validate()[0]
        'Batch size 0 is not allowed: use a whole number from 1 to 4096 (128 is a good start).'
    """

    dataset: str = "MNIST"  # a name from dashcore.datasets.catalog.list_datasets()
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
    augment: bool = False  # light random shifts (±10%), rotations (±5%) and zooms (±10%);
    # safe for digits and drawings (it never mirrors, so a 2 stays a 2)
    augment_photo: bool = False  # photo augmentation: random left-right flips, rotations up to
    # ±11°, zooms ±15% and brightness ±20%; for photos, not digits or letters (a mirrored
    # "b" is a "d")
    loss: str = "categorical_crossentropy"  # or "mse" (mean squared error, to compare); a
    # table's task decides the rest (dashcore.tables.schema.TASK_LOSSES): "mse" or "mae" for
    # regression, "binary_crossentropy" (sigmoid unit) or the 2-unit softmax for two classes
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
    # training digits: drawn as pen strokes, varied as a hand varies them, on a 280×280
    # canvas at random sizes, places and brush widths, then preprocessed as /draw does
    # (28×28 grey digits only)
    holdout_last: int = 0  # leave the last N training images out of training and validation
    # (the default model keeps MNIST's last 2,000 for the /draw replay tests); 0 = none
    gpus: int | None = None  # GPUs the run's Ray job asks for (0 to MAX_GPUS); None = the
    # server's DASHCORE_RAY_GPUS. Local workers use whatever GPUs their machine has.
    resume: bool = False  # continue from the last whole-epoch checkpoint in the run's folder;
    # ``epochs`` is then the total to reach, counting the epochs already done
    start_model: str | None = None  # fine-tune: start from this saved model (a registry id)
    # instead of fresh weights; its input shape and classes must match the dataset's
    trainable_last: int = 0  # fine-tune: train only the last N layers that have weights
    # (the others are frozen); 0 = train every layer
    sweep: dict[str, Any] | None = None  # the sweep this run is a trial of ({"id", "name",
    # "trial", "number"}, see dashcore.sweeps); None for a run started by hand

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
        for key in ("augment", "augment_photo"):
            if not isinstance(getattr(self, key), bool):
                problems.append(f"{key.replace('_', ' ').capitalize()} must be on or off "
                                f"(true or false); got {shown[key]}.")
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
        if self.gpus is not None and (not whole(self.gpus) or not 0 <= self.gpus <= MAX_GPUS):
            problems.append(f"GPUs {shown['gpus']} is not allowed: use a whole number from 0 "
                            f"to {MAX_GPUS} (the GPUs of one host; 0 trains on CPUs).")
        if not isinstance(self.resume, bool):
            problems.append(f"Resume must be on or off (True or False), not {self.resume!r}.")
        if self.start_model is not None and (not isinstance(self.start_model, str)
                                             or not self.start_model.strip()):
            problems.append("The model to fine-tune must be a saved model's id (see /models), "
                            "or none to start from fresh weights.")
        if not whole(self.trainable_last) or self.trainable_last < 0:
            problems.append(f"Trainable layers {shown['trainable_last']} is not allowed: use 0 "
                            "(train every layer) or the number of last layers to train.")
        elif self.trainable_last and not self.start_model:
            problems.append("Freezing layers needs a saved model to start from: pick one under "
                            "'Start from', or set the trainable layers to 0.")
        if self.sweep is not None and (not isinstance(self.sweep, dict)
                                       or not isinstance(self.sweep.get("id"), str)):
            problems.append("The sweep this run belongs to cannot be read: start it again "
                            "from /sweep.")
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
        model = f"Fine-tune of {self.start_model}" if self.start_model else self.spec.name
        return (f"{model[:40]} · {self.dataset}{classes} · "
                f"{OPTIMIZERS.get(self.optimizer, self.optimizer).split()[0]} "
                f"{self.learning_rate:g} · {self.epochs} ep")


# ---------------------------------------------------------------- recipes


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


def count_steps(train_samples: int, batch_size: int) -> int:
    """Gradient steps in one pass over ``train_samples`` images (the last batch may be short)."""
    return max(1, math.ceil(int(train_samples) / int(batch_size)))
