"""What a sweep searches: :class:`SweepPlan`, its checks, its budget, and trial configs.

No Optuna and no Keras at import, so the sweep form can check a plan and say what it will
cost before anything is started. :meth:`SweepPlan.distributions` (the Optuna search space)
imports Optuna when called.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from dashcore.errors import UserError
from dashcore.settings import Limits, limit_setting
from dashcore.text import check_name
from dashcore.training.config import (
    MAX_BATCH_SIZE,
    MAX_LEARNING_RATE,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
)

MAX_TRIALS = 100  # trials in one sweep: more is a job for a cluster, not a shared form
MAX_SWEEP_NAME = 60  # characters; trial runs are named "<sweep> · trial 12"
# The metrics a sweep can optimise (the validation value of each epoch), and their direction.
METRICS = {"val_accuracy": ("validation accuracy", "maximize"),
           "val_loss": ("validation loss", "minimize")}
PRUNERS = {"median": "Median: after each epoch, stop a trial whose value is worse than the "
                     "median of earlier finished trials at the same epoch.",
           "none": "None: every trial runs all its epochs."}
# The settings a sweep may vary, what kind of range each takes, and its label on the form.
VARIABLE = {
    "learning_rate": ("log", "learning rate"),  # {"low", "high"}, sampled log-uniformly
    "batch_size": ("choices", "batch size"),  # {"choices": [32, 64, 128]}
    "epochs": ("int", "epochs"),  # {"low", "high"}
    "dropout": ("float", "dropout"),  # {"low", "high"}: the rate of every Dropout layer
    "optimizer": ("choices", "optimizer"),  # {"choices": ["adam", "sgd"]}
    "augment": ("choices", "augmentation"),  # {"choices": [False, True]}
    "schedule": ("choices", "schedule"),  # {"choices": ["constant", "one_cycle"]}
}


def check_sweep_name(name: Any) -> str:
    """A sweep name others may see: 1–60 characters, on one line, no control or
    text-direction characters (the workbench's one name check, :func:`check_name`).

    Raises:
        UserError: the name is empty, too long, or holds such a character.
    """
    return check_name("sweep", name, MAX_SWEEP_NAME)


def _dropout_layers(architecture: dict[str, Any]) -> int:
    return sum(1 for layer in architecture.get("layers", []) if layer.get("type") == "Dropout")


@dataclass
class SweepPlan:
    """One sweep as the form fills it in; stored on the Optuna study, so it survives restarts.

    Example:
        >>> plan = SweepPlan(name="lr", base=TrainConfig(epochs=2).to_dict(),
        ...                  vary={"learning_rate": {"low": 1e-4, "high": 1e-2}}, n_trials=4)
        >>> plan.budget()["epochs"]
        8
    """

    name: str  # shown to everyone as literal text
    base: dict[str, Any]  # the TrainConfig (as a dict) every trial starts from
    vary: dict[str, dict[str, Any]] = field(default_factory=dict)  # setting → its range
    n_trials: int = 8  # trials asked in all (pruned and failed ones count too)
    parallel: int = 1  # trials queued or running at once
    metric: str = "val_accuracy"  # a key of METRICS
    pruner: str = "median"  # a key of PRUNERS
    # Trials one after another in the worker process of the trial before (one process per
    # "at once" slot, no start-up per trial); each still gets a fresh Keras session and seed.
    same_worker: bool = True

    @property
    def direction(self) -> str:
        """``maximize`` or ``minimize``, from the metric."""
        return METRICS[self.metric][1]

    @property
    def metric_label(self) -> str:
        """The metric in words: ``validation accuracy``."""
        return METRICS.get(self.metric, (self.metric,))[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what the study's user attributes hold)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepPlan:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: data[k] for k in ("name", "base", "vary", "n_trials", "parallel",
                                           "metric", "pruner", "same_worker") if k in data})

    # ------------------------------------------------------------ checking

    def validate(self, limits: Limits | None = None) -> list[str]:
        """Every problem with this plan, one sentence each ([] = fine)."""
        limits = limits or Limits()
        problems: list[str] = []
        try:
            check_sweep_name(self.name)
        except UserError as exc:
            problems.append(str(exc))
        try:
            base = TrainConfig.from_dict(self.base)
        except (UserError, TypeError) as exc:
            return [*problems, f"The sweep's starting settings cannot be read: {exc}"]
        problems += base.validate(limits)
        if not base.validation_split:
            problems.append("A sweep compares trials on their validation value: set a "
                            "validation split above 0 (0.1 holds out 10%).")
        if not isinstance(self.n_trials, int) or not 1 <= self.n_trials <= MAX_TRIALS:
            problems.append(f"{self.n_trials} trials is not allowed: use 1 to {MAX_TRIALS}.")
        if not isinstance(self.parallel, int) or self.parallel < 1:
            problems.append(f"{self.parallel} trials at once is not allowed: use 1 or more.")
        elif self.parallel > limits.queued_per_user:
            problems.append(f"{self.parallel} trials at once is more than the "
                            f"{limits.queued_per_user} runs one person may have queued or "
                            f"running: use at most {limits.queued_per_user}. "
                            f"{limit_setting('queued_per_user')}")
        if self.metric not in METRICS:
            problems.append(f"Metric {self.metric!r} is not offered: choose "
                            f"{' or '.join(METRICS)}.")
        if self.pruner not in PRUNERS:
            problems.append(f"Pruner {self.pruner!r} is not offered: choose "
                            f"{' or '.join(PRUNERS)}.")
        if not isinstance(self.same_worker, bool):
            problems.append(f"Whether trials share a worker must be on or off; got "
                            f"{self.same_worker!r}.")
        if not self.vary:
            problems.append("Tick at least one setting to vary: a sweep of identical trials "
                            "finds nothing.")
        for name, spec in self.vary.items():
            problems += _range_problems(name, spec, base, limits)
        return problems

    def check(self, limits: Limits | None = None) -> SweepPlan:
        """Raise one :class:`UserError` listing every problem; returns self when valid."""
        problems = self.validate(limits)
        if problems:
            raise UserError(" ".join(problems))
        return self

    # ------------------------------------------------------------ what it costs

    def max_epochs(self) -> int:
        """The most epochs one trial may train."""
        epochs = self.vary.get("epochs")
        return int(epochs["high"]) if epochs else int(self.base.get("epochs", 1))

    def budget(self) -> dict[str, int]:
        """What the sweep uses at most: runs, epochs in all, runs at once, images per run."""
        return {"runs": self.n_trials, "epochs": self.n_trials * self.max_epochs(),
                "at_once": self.parallel,
                "images": int(self.base.get("max_train_images") or 0)}

    def costliest_trials(self) -> list[TrainConfig]:
        """The trials that cost most: the most epochs at the smallest batch (most steps,
        most work) and at the largest (most activation memory). Checking them against the
        per-run budgets before the sweep starts means no trial is refused half-way."""
        batches = self.vary.get("batch_size", {}).get("choices") or [self.base["batch_size"]]
        configs = []
        for batch in sorted({min(batches), max(batches)}):
            params = {"batch_size": batch, "epochs": self.max_epochs()}
            if "augment" in self.vary:
                params["augment"] = True  # the augmentation pipeline costs a little more
            configs.append(self.trial_config(params, {"id": "budget-check"}))
        return configs

    # ------------------------------------------------------------ trials

    def distributions(self) -> dict[str, Any]:
        """The Optuna search space: one distribution per varied setting."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        space: dict[str, Any] = {}
        for name, spec in self.vary.items():
            kind = VARIABLE[name][0]
            if kind == "log":
                space[name] = FloatDistribution(float(spec["low"]), float(spec["high"]),
                                                log=True)
            elif kind == "float":
                space[name] = FloatDistribution(float(spec["low"]), float(spec["high"]))
            elif kind == "int":
                space[name] = IntDistribution(int(spec["low"]), int(spec["high"]))
            else:
                space[name] = CategoricalDistribution(list(spec["choices"]))
        return space

    def trial_config(self, params: dict[str, Any], sweep: dict[str, Any]) -> TrainConfig:
        """The run for one trial: the base settings with the trial's values put in.

        ``dropout`` sets the rate of every Dropout layer of the architecture; ``sweep``
        (``{"id", "name", "trial"}``) is written on the run's config and model card.
        """
        data = copy.deepcopy(self.base)
        for name, value in params.items():
            if name == "dropout":
                for layer in data["architecture"]["layers"]:
                    if layer.get("type") == "Dropout":
                        layer["rate"] = round(float(value), 4)
            elif name == "batch_size" or name == "epochs":
                data[name] = int(value)
            elif name == "augment":
                data[name] = bool(value)
            elif name == "learning_rate":
                data[name] = float(f"{float(value):.3g}")
            else:
                data[name] = value
        data["sweep"] = dict(sweep)
        return TrainConfig.from_dict(data)


def _range_problems(name: str, spec: Any, base: TrainConfig, limits: Limits) -> list[str]:
    """Sentences for one varied setting's range (empty when it is fine)."""
    if name not in VARIABLE:
        return [f"{name!r} cannot vary in a sweep: choose from {', '.join(VARIABLE)}."]
    kind, label = VARIABLE[name]
    if not isinstance(spec, dict):
        return [f"The range for {label} cannot be read."]
    if kind == "choices":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            return [f"Pick at least one {label} to try."]
        allowed = {"batch_size": None, "optimizer": OPTIMIZERS, "augment": (False, True),
                   "schedule": SCHEDULES}[name]
        if name == "batch_size":
            bad = [c for c in choices if isinstance(c, bool) or not isinstance(c, int)
                   or not 1 <= c <= MAX_BATCH_SIZE]
            if bad:
                return [f"Batch size {bad[0]!r} is not allowed: use whole numbers from 1 to "
                        f"{MAX_BATCH_SIZE}."]
        elif any(c not in allowed for c in choices):
            return [f"{label.capitalize()} choices must be among {', '.join(map(str, allowed))}."]
        if len(set(map(repr, choices))) != len(choices):
            return [f"Each {label} choice should appear once."]
        return []
    low, high = spec.get("low"), spec.get("high")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool)
                  and math.isfinite(v) for v in (low, high))
    if not numbers or not low < high:
        return [f"The {label} range needs a lowest value below the highest; got {low!r} to "
                f"{high!r}."]
    if kind == "log" and not 0 < low < high <= MAX_LEARNING_RATE:
        return [f"The learning-rate range must lie above 0 and at most {MAX_LEARNING_RATE:g}; "
                f"got {low:g} to {high:g}."]
    if kind == "int":
        if int(low) != low or int(high) != high or low < 1 or high > limits.max_epochs:
            return [f"The epochs range must be whole numbers from 1 to {limits.max_epochs}; "
                    f"got {low:g} to {high:g}."]
    if name == "dropout":
        if not 0 <= low < high < 1:
            return [f"The dropout range must lie from 0 up to (not including) 1; got {low:g} "
                    f"to {high:g}."]
        if not _dropout_layers(base.architecture):
            return [f"{base.spec.name} has no Dropout layer, so dropout cannot vary: untick it "
                    "or pick an architecture with one (CNN 32-64)."]
    return []
