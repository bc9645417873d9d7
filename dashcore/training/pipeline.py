"""Training: the run configuration, the live-metrics Keras callback, and one function
that trains, tests and registers a model.

The workbench trains in a worker process (see :mod:`dashcore.jobs.worker`), never in a page.
:func:`train_in_process` is the whole job (prepare data → build → compile → fit →
evaluate → save) and knows nothing about processes or stores: it reports through an
injected *sink* and asks an injected ``should_stop`` whether to halt, so scripts and
tests reuse it unchanged. Four steps, as in the Keras MNIST tutorial:

1. prepare the data (:func:`prepare_data`), 2. build and compile the model,
3. fit with :class:`LiveMetrics` forwarding metrics, 4. evaluate on the test split and
save the model with its card to the registry.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dashcore.access.auth import User
from dashcore.access.quota import check_quota
from dashcore.atomic import atomic_write_json
from dashcore.errors import UserError
from dashcore.models.builder import build_model
from dashcore.settings import Settings, get_settings, limit_setting
from dashcore.store.runs import COMPLETED, FAILED, STOPPED
from dashcore.tables.columns import BINARY, REGRESSION
from dashcore.training.best_weights import KeepBestWeights
from dashcore.training.checkpoints import (
    CheckpointState,
    best_weights,
    load_checkpoint,
    seeded_epochs,
)
from dashcore.training.config import (
    ONE_CYCLE_END_FRACTION,
    ONE_CYCLE_START_DIVISOR,
    ONE_CYCLE_WARMUP,
    TrainConfig,
    count_steps,
)
from dashcore.training.data import check_model_size, fitted_spec, prepare_data
from dashcore.training.devices import device_plan, precision_scope, strategy_scope, visible_gpus
from dashcore.training.epoch_checkpoint import EpochCheckpoint
from dashcore.training.finetune import load_start_model, mnist_test_accuracy
from dashcore.training.live_metrics import LiveMetrics
from dashcore.training.phases import COMPILING, FINISHING, LOADING, PhaseClock, PhaseSink
from dashcore.training.sinks import NullSink, TeeSink, TrainingSink
from dashcore.training.stopping import StopAtTimeLimit, StopOnNaN, StopOnRequest
from dashcore.training.tensorboard import TensorBoardScalars, TensorBoardSink


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


def make_optimizer(config: TrainConfig, steps_per_epoch: int = 1) -> Any:
    """The configured Keras optimizer, with its learning-rate schedule."""
    rate = learning_rate_schedule(config, steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=config.momentum)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=rate)
    return keras.optimizers.Adam(learning_rate=rate)


def task_metrics(task: str | None, activation: str = "softmax") -> list[Any]:
    """The metrics a run reports: accuracy for classes (and AUC for two), MAE and RMSE for
    a regression. ``task`` is a table's (None for images)."""
    if task == REGRESSION:
        return [keras.metrics.MeanAbsoluteError(name="mae"),
                keras.metrics.RootMeanSquaredError(name="rmse")]
    accuracy = (keras.metrics.BinaryAccuracy(name="accuracy") if activation == "sigmoid"
                else keras.metrics.CategoricalAccuracy(name="accuracy"))
    if task == BINARY:
        return [accuracy, keras.metrics.AUC(name="auc")]
    return [accuracy]


def compile_model(model: Any, config: TrainConfig, steps_per_epoch: int = 1,
                  jit_compile: bool = False, task: str | None = None,
                  activation: str = "softmax") -> Any:
    """Step 2b: compile with the configured optimizer, schedule and loss; the task's metrics.

    ``steps_per_epoch`` sizes the one-cycle schedule. ``jit_compile`` comes from
    :func:`device_plan` (XLA on GPU only: on this 2-core CPU it made steps ~5× slower);
    when on, Keras's ``"auto"`` still leaves it off for layers XLA cannot compile.
    """
    model.compile(optimizer=make_optimizer(config, steps_per_epoch), loss=config.loss,
                  metrics=task_metrics(task, activation),
                  jit_compile="auto" if jit_compile else False)
    return model


def scale_regression_output(model: Any, table: Any) -> None:
    """End a regression model with a fixed ``Rescaling`` to the target's training mean and
    deviation: the layers learn a standardised number (what Adam's default step suits), while
    the loss, MAE and RMSE, the predictions and the saved model speak the target's units."""
    model.add(keras.layers.Rescaling(scale=table.target_std, offset=table.target_mean,
                                     name="target_scale"))


# ---------------------------------------------------------------- devices


def augmentation_layers(config: TrainConfig) -> list[Any]:
    """The random transformations the configuration asks for, as Keras preprocessing layers.

    ``augment`` (digit-safe): shifts ±10%, rotations ±5% of a turn (±18°), zooms ±10%.
    ``augment_photo``: left-right flips, rotations ±3% of a turn (±11°), zooms ±15% and
    brightness ±20% (images are in [0, 1]). Both may be on; flips are never digit-safe.
    """
    layers: list[Any] = []
    if config.augment:
        layers += [
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=config.seed),
            keras.layers.RandomRotation(0.05, fill_mode="constant", seed=config.seed),
            keras.layers.RandomZoom(0.1, fill_mode="constant", seed=config.seed)]
    if config.augment_photo:
        layers.append(keras.layers.RandomFlip("horizontal", seed=config.seed))
        if not config.augment:
            layers += [
                keras.layers.RandomRotation(0.03, fill_mode="reflect", seed=config.seed),
                keras.layers.RandomZoom(0.15, fill_mode="reflect", seed=config.seed)]
        layers.append(keras.layers.RandomBrightness(0.2, value_range=(0.0, 1.0),
                                                    seed=config.seed))
    return layers


def augmentation(config: TrainConfig) -> Any:
    """The chosen augmentations as one layer stack, applied per batch in the input pipeline
    (training only), so the saved model stays exactly the spec's layers; None when off."""
    layers = augmentation_layers(config)
    return keras.Sequential(layers, name="augment") if layers else None


def _start(config: TrainConfig, data: Any, spec: Any, plan: Any, steps: int,
           run_dir: Path | None, settings: Settings
           ) -> tuple[Any, int, CheckpointState | None, dict[str, Any] | None]:
    """Step 2: the compiled model to fit, and where it starts.

    A fresh model from the spec; a saved model to fine-tune (``start_model``); or, with
    ``resume``, the run's last whole-epoch checkpoint, optimizer state included. Returns
    (model, parameter count, checkpoint or None, starting model's card or None).
    """
    if config.resume:
        if run_dir is None:
            raise UserError("Continuing a run needs its run folder (a run id).")
        model, state = load_checkpoint(run_dir)
        if state.epoch >= config.epochs:
            raise UserError(f"This run has already done {state.epoch} epochs; to continue it, "
                            f"ask for more than {state.epoch} in total.")
        if tuple(model.input_shape[1:]) != tuple(data.input_shape):
            raise UserError("The checkpoint's model does not read this dataset's images.")
        return model, check_model_size(model, settings.limits), state, None
    parent = None
    with precision_scope(plan.mixed_precision), strategy_scope(plan.distribute):
        if config.start_model:
            model, parent = load_start_model(config.start_model, data.input_shape,
                                             data.num_classes, config.dataset,
                                             config.trainable_last, settings)
        else:
            model = build_model(spec, output_float32=plan.mixed_precision)
            if data.table is not None and data.table.task == REGRESSION:
                scale_regression_output(model, data.table)
        params = check_model_size(model, settings.limits)
        compile_model(model, config, steps, jit_compile=plan.jit_compile,
                      task=data.table.task if data.table is not None else None,
                      activation=data.output_activation)
    return model, params, None, parent


# ---------------------------------------------------------------- reporting


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
    test_metrics: dict[str, float] = field(default_factory=dict)  # every metric on the test
    # split (a table's regression has MAE and RMSE instead of accuracy)
    params: int = 0  # parameter count of the model
    duration_s: float = 0.0  # the whole job: data, build, fit, test, save
    fit_s: float = 0.0  # model.fit alone, wall clock (what the overhead benchmark compares)
    fit_cpu_s: float = 0.0  # model.fit alone, CPU seconds of this process (all its threads)
    phases: list[dict[str, Any]] = field(default_factory=list)  # where the time went
    card: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON-ready fields a history table needs (everything but the card)."""
        data = asdict(self)
        data.pop("card")
        data["best_val_accuracy"] = self.best_metrics.get("val_accuracy")
        return data


def job_seconds(settings: Settings) -> float | None:
    """The job time limit in seconds (``None`` when the limit is 0 or less: no limit)."""
    minutes = settings.limits.job_max_minutes
    return minutes * 60.0 if minutes > 0 else None


def _minutes(minutes: float) -> str:
    """``240`` → ``240 minutes``; ``0.05`` → ``3 seconds``."""
    if minutes >= 1:
        return f"{minutes:g} minute{'s' if minutes != 1 else ''}"
    return f"{minutes * 60:.3g} seconds"


def library_versions() -> dict[str, str]:
    """Versions written on every model card, so a result can be reproduced."""
    import tensorflow as tf

    return {"keras": keras.__version__, "tensorflow": tf.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


SAVED_BYTES_PER_PARAM = 12  # a .keras file with Adam's two moments: ~3 float32 per weight


def check_model_room(model: Any, owner: str | None, settings: Settings) -> None:
    """Re-check the owner's disk quota before the model file is written: the quota was
    checked when the run was queued, and the person may have filled it since.

    Raises:
        UserError: the model would take the owner over their quota (the run's checkpoint
            stays in its folder, so the run can be continued once there is room).
    """
    if not owner:
        return
    size = int(model.count_params()) * SAVED_BYTES_PER_PARAM + 64 * 1024
    try:
        check_quota(User(owner), settings, size, "this run's model")
    except UserError as exc:
        raise UserError(f"The model was not saved. {exc} Its last whole-epoch checkpoint is "
                        "kept: continue the run once there is room.") from None


def train_in_process(config: TrainConfig, sink: TrainingSink | None = None,
                     should_stop: Callable[[], bool] | None = None, *,
                     settings: Settings | None = None, run_id: str | None = None,
                     run_dir: Path | None = None, name: str | None = None,
                     owner: str | None = None, register: bool = True,
                     extra_callbacks: tuple[Any, ...] = (),
                     card_extra: dict[str, Any] | None = None,
                     phases: PhaseClock | None = None) -> TrainOutcome:
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
        card_extra: more fields for the model card (the worker's parts and parent run).
        phases: times loading, compiling, training, testing (the worker's clock already
            holds its wait for a worker). Defaults to a fresh :class:`PhaseClock`.

    With ``config.resume`` it continues from the run folder's last whole-epoch checkpoint
    (optimizer state and epoch count included); with ``config.start_model`` it fine-tunes
    that saved model instead of building fresh weights.

    Raises:
        UserError: for an invalid configuration, an unknown dataset, or a model that
            cannot be built or is too large.
    """
    started = time.monotonic()
    settings = settings or get_settings()
    phases = phases or PhaseClock()
    phases.enter(LOADING)
    sink = PhaseSink(sink or NullSink(), phases)  # the first live point begins "training"
    should_stop = should_stop or (lambda: False)
    config.check(settings.limits)
    if run_dir is None and run_id is not None:
        run_dir = settings.runs_dir / run_id
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / "config.json", config.to_dict())

    # 1. Data
    data = prepare_data(config, settings)
    phases.enter(COMPILING)  # building, compiling and tracing: until the first live point

    # 2. Model, on the devices there are
    keras.utils.set_random_seed(config.seed)
    spec = fitted_spec(config, data.input_shape, data.num_classes, data.output_activation)
    plan = device_plan(config, visible_gpus())
    steps = count_steps(len(data.x_train), config.batch_size)
    model, params, resumed, parent = _start(config, data, spec, plan, steps, run_dir, settings)
    initial_epoch = resumed.epoch if resumed is not None else 0
    start_accuracy = None
    if parent is not None:  # the starting model on the new data's test split, before fitting
        start_accuracy = float(model.evaluate(data.x_test, data.y_test, batch_size=256,
                                              verbose=0, return_dict=True)["accuracy"])
    if should_stop():
        return TrainOutcome(status=STOPPED, reason="Stopped before training began; no model "
                            "was saved.", params=params,
                            duration_s=time.monotonic() - started)

    # 3. Fit
    has_val = data.x_val is not None
    tensorboard = TensorBoardScalars(run_dir / "tensorboard") if run_dir is not None else None
    live = LiveMetrics(TeeSink(sink, TensorBoardSink(tensorboard)) if tensorboard else sink,
                       train_samples=len(data.x_train), batch_size=config.batch_size,
                       interval_s=config.batch_log_interval_s)
    stop, nan = StopOnRequest(should_stop), StopOnNaN()
    timer = StopAtTimeLimit(job_seconds(settings))
    best = KeepBestWeights(monitor="val_loss" if has_val else "loss",
                           checkpoint=run_dir / "best.weights.h5" if run_dir is not None else None)
    if resumed is not None:  # carry on counting and comparing from the checkpoint
        live.epochs_done = resumed.epoch
        best.best_epoch, best.best_metrics = resumed.best_epoch, dict(resumed.best_metrics)
        best.best_weights = best_weights(model, run_dir, resumed) if run_dir else None
    callbacks: list[Any] = [live, nan, stop, timer, best, *extra_callbacks]
    if run_dir is not None:  # after LiveMetrics, StopOnNaN and KeepBestWeights: it reads them
        callbacks.insert(5, EpochCheckpoint(run_dir, live, nan, best, config.seed))
    early = None
    if config.patience:
        early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience)
        callbacks.append(early)
    # Each epoch's order comes from (seed, epoch): a resumed run sees what it would have seen.
    train = seeded_epochs(data.x_train, data.y_train, config.batch_size, config.seed,
                          initial_epoch, config.epochs,
                          augmentation(config))
    fit_start, fit_cpu_start = time.monotonic(), time.process_time()
    try:
        model.fit(train, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                  verbose=0, callbacks=callbacks,
                  validation_data=(data.x_val, data.y_val) if has_val else None)
    finally:
        if tensorboard is not None:
            tensorboard.close()
    fit_s = time.monotonic() - fit_start
    phases.enter(FINISHING)
    fit_cpu_s = time.process_time() - fit_cpu_start

    outcome = TrainOutcome(status=COMPLETED, epochs_done=live.epochs_done,
                           final_metrics=live.last_metrics, best_metrics=best.best_metrics,
                           best_epoch=best.best_epoch, params=params, fit_s=fit_s,
                           fit_cpu_s=fit_cpu_s)
    if nan.failure:
        outcome.status, outcome.reason = FAILED, nan.failure
        outcome.duration_s = time.monotonic() - started
        return outcome
    if stop.stop_requested:
        where = (f"in epoch {stop.stopped_at[0]} at batch {stop.stopped_at[1]}"
                 if stop.stopped_at else f"after epoch {live.epochs_done}")
        outcome.status, outcome.reason = STOPPED, f"Stopped on request {where}."
    elif timer.time_limit_hit:
        where = (f"in epoch {timer.stopped_at[0]} at batch {timer.stopped_at[1]}"
                 if timer.stopped_at else f"after epoch {live.epochs_done}")
        outcome.status = STOPPED
        outcome.reason = (f"Stopped {where}: training reached this server's job time limit "
                          f"of {_minutes(settings.limits.job_max_minutes)}. The model so far "
                          "was saved. Use fewer epochs or images to finish in time. "
                          f"{limit_setting('job_max_minutes')}")
    elif early is not None and early.stopped_epoch > 0:
        outcome.reason = (f"Early stopping ended training after epoch {live.epochs_done}: the "
                          f"validation loss had not improved for {config.patience} epoch(s).")

    # 4. Test and save
    weights_used = "last epoch"
    if config.keep_best and best.best_weights is not None and best.best_epoch is not None:
        model.set_weights(best.best_weights)
        weights_used = f"best epoch ({best.best_epoch})"
    test = model.evaluate(data.x_test, data.y_test, batch_size=max(256, config.batch_size),
                          verbose=0, return_dict=True)
    outcome.test_accuracy = float(test["accuracy"]) if "accuracy" in test else None
    outcome.test_loss = float(test["loss"])
    outcome.test_metrics = {key: float(value) for key, value in test.items()}
    outcome.duration_s = time.monotonic() - started
    phases.end()
    outcome.phases = phases.summary()
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
        "sweep": config.sweep,  # {"id", "name", "trial"} for a sweep's trial, else None
        "phases": outcome.phases,  # [{"phase", "s", "done"}]: where the run's time went
        "test_metrics": outcome.test_metrics,
    }
    if data.table is not None:  # what /evaluate and /predict need to read new rows
        card.update({"task": data.table.task, "table": data.table.meta(),
                     "output_activation": data.output_activation})
    if resumed is not None:
        card["continued_from_epoch"] = resumed.epoch
    if parent is not None:
        card.update({"parent_model": config.start_model, "parent_name": parent.get("name"),
                     "parent_dataset": parent.get("dataset"), "spec": parent.get("spec"),
                     "trainable_last": config.trainable_last,
                     "start_test_accuracy": start_accuracy,
                     "mnist_test_accuracy": mnist_test_accuracy(model)})
    card.update(card_extra or {})
    if register:
        from dashcore.models.registry import save_model

        check_model_room(model, owner, settings)
        entry = save_model(model, card, settings)
        outcome.model_id, card = entry.model_id, entry.card
    outcome.card = card
    return outcome
