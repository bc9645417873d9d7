"""Training: one function that trains, tests and registers a model, in named steps.

The workbench trains in a worker process (see :mod:`dashcore.jobs.worker`), never in a page.
:func:`train_in_process` is the whole job and knows nothing about processes or stores: it
reports through an injected *sink* and asks an injected ``should_stop`` whether to halt, so
scripts and tests reuse it unchanged. The steps, as in the Keras MNIST tutorial:

1. prepare the data (:func:`~dashcore.training.data.prepare_data`);
2. the model to start from (:func:`start_model`: fresh, fine-tuned or resumed), made under
   the run's dtype policy and distribution (:func:`~dashcore.training.devices.device_scope`);
3. the callbacks (:func:`build_callbacks`), then ``fit`` (:func:`fit`);
4. what happened (:func:`~dashcore.training.outcome.fit_outcome`), the test split, and the
   model saved with its card (:func:`~dashcore.training.outcome.model_card`).

Nothing here imports TensorFlow: the same steps run on the JAX and PyTorch backends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from dashcore.access.auth import User
from dashcore.access.quota import check_quota
from dashcore.atomic import atomic_write_json
from dashcore.backend import backend_name, visible_gpus
from dashcore.errors import UserError
from dashcore.models.builder import build_model
from dashcore.settings import Settings
from dashcore.store.runs import FAILED, STOPPED
from dashcore.tables.columns import BINARY, REGRESSION
from dashcore.training.augment import with_augmentation
from dashcore.training.best_weights import KeepBestWeights
from dashcore.training.checkpoints import (
    CheckpointState,
    best_weights,
    load_checkpoint,
    restore_seed_states,
)
from dashcore.training.config import (
    ONE_CYCLE_END_FRACTION,
    ONE_CYCLE_START_DIVISOR,
    ONE_CYCLE_WARMUP,
    TrainConfig,
    count_steps,
)
from dashcore.training.data import PreparedData, check_model_size, fitted_spec, prepare_data
from dashcore.training.devices import DevicePlan, device_plan, device_scope
from dashcore.training.epoch_checkpoint import EpochCheckpoint
from dashcore.training.epochs import SeededEpochs
from dashcore.training.finetune import load_start_model
from dashcore.training.live_metrics import LiveMetrics
from dashcore.training.outcome import TrainOutcome, fit_outcome, job_seconds, model_card
from dashcore.training.phases import COMPILING, FINISHING, LOADING, PhaseClock, PhaseSink
from dashcore.training.sinks import NullSink, TeeSink, TrainingSink
from dashcore.training.stopping import StopAtTimeLimit, StopOnNaN, StopOnRequest
from dashcore.training.tensorboard import TensorBoardScalars, TensorBoardSink

__all__ = ["TrainOutcome", "compile_model", "learning_rate_schedule", "make_optimizer",
           "task_metrics", "train_in_process"]


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


def data_metrics(data: PreparedData) -> list[Any]:
    """:func:`task_metrics` for the prepared data."""
    return task_metrics(data.table.task if data.table is not None else None,
                        data.output_activation)


def compile_model(model: Any, config: TrainConfig, steps_per_epoch: int = 1,
                  jit_compile: bool = False, task: str | None = None,
                  activation: str = "softmax", steps_per_execution: int = 1) -> Any:
    """Step 2b: compile with the configured optimizer, schedule and loss; the task's metrics.

    ``steps_per_epoch`` sizes the one-cycle schedule. ``jit_compile`` comes from
    :func:`device_plan` (always on JAX; XLA on one GPU only on TensorFlow, where on this
    2-core CPU it made steps ~5× slower); when on, Keras's ``"auto"`` still leaves it off
    for layers that cannot compile.
    """
    model.compile(optimizer=make_optimizer(config, steps_per_epoch), loss=config.loss,
                  metrics=task_metrics(task, activation),
                  jit_compile="auto" if jit_compile else False,
                  steps_per_execution=steps_per_execution)
    return model


def scale_regression_output(model: Any, table: Any) -> None:
    """End a regression model with a fixed ``Rescaling`` to the target's training mean and
    deviation: the layers learn a standardised number (what Adam's default step suits), while
    the loss, MAE and RMSE, the predictions and the saved model speak the target's units."""
    model.add(keras.layers.Rescaling(scale=table.target_std, offset=table.target_mean,
                                     name="target_scale"))


def recompile(model: Any, source: Any, config: TrainConfig, plan: DevicePlan,
              metrics: list[Any]) -> Any:
    """Compile ``model`` with ``source``'s optimizer object and the plan's jit and steps
    per execution: augmentation in front of a model trains that model's optimizer state,
    and a reloaded checkpoint keeps its own."""
    model.compile(optimizer=source.optimizer, loss=config.loss, metrics=metrics,
                  jit_compile="auto" if plan.jit_compile else False,
                  steps_per_execution=plan.steps_per_execution)
    return model


# ---------------------------------------------------------------- step 2: the model


@dataclass
class StartingPoint:
    """The compiled model a run fits, and where it starts."""

    model: Any  # the spec's layers (saved and tested), compiled with its optimizer
    fitted: Any  # what ``fit`` runs: ``model``, or augmentation in front of it
    params: int
    resumed: CheckpointState | None = None  # the checkpoint a continued run starts from
    parent: dict[str, Any] | None = None  # the fine-tuned model's card

    @property
    def initial_epoch(self) -> int:
        """Epochs already done (0 for a fresh model)."""
        return self.resumed.epoch if self.resumed is not None else 0


def start_model(config: TrainConfig, data: PreparedData, spec: Any, plan: DevicePlan,
                steps: int, run_dir: Path | None, settings: Settings) -> StartingPoint:
    """Step 2: a fresh model from the spec; a saved model to fine-tune (``start_model``);
    or, with ``resume``, the run's last whole-epoch checkpoint, optimizer state included.

    Call it inside :func:`device_scope`: a checkpoint is then loaded under the same dtype
    policy and distribution as a fresh model is built.
    """
    resumed = parent = None
    if config.resume:
        if run_dir is None:
            raise UserError("Continuing a run needs its run folder (a run id).")
        model, resumed = load_checkpoint(run_dir)
        if resumed.epoch >= config.epochs:
            raise UserError(f"This run has already done {resumed.epoch} epochs; to continue "
                            f"it, ask for more than {resumed.epoch} in total.")
        if tuple(model.input_shape[1:]) != tuple(data.input_shape):
            raise UserError("The checkpoint's model does not read this dataset's images.")
        params = check_model_size(model, settings.limits)
        # its optimizer, this machine's jit and steps per execution
        recompile(model, model, config, plan, data_metrics(data))
    else:
        if config.start_model:
            model, parent = load_start_model(config.start_model, data.input_shape,
                                             data.num_classes, config.dataset,
                                             config.trainable_last, settings)
        else:
            model = build_model(spec, settings.limits.max_params,
                                output_float32=plan.mixed_precision)
            if data.table is not None and data.table.task == REGRESSION:
                scale_regression_output(model, data.table)
        params = check_model_size(model, settings.limits)
        compile_model(model, config, steps, plan.jit_compile,
                      task=data.table.task if data.table is not None else None,
                      activation=data.output_activation,
                      steps_per_execution=plan.steps_per_execution)
    fitted = with_augmentation(model, config)
    if fitted is not model:
        recompile(fitted, model, config, plan, data_metrics(data))
    if resumed is not None:  # Dropout's and augmentation's generators carry on
        restore_seed_states(fitted, resumed.seed_states)
    return StartingPoint(model, fitted, params, resumed, parent)


# ---------------------------------------------------------------- step 3: callbacks and fit


@dataclass
class RunCallbacks:
    """The run's Keras callbacks, by name; :meth:`in_order` is the order Keras calls them."""

    live: LiveMetrics
    nan: StopOnNaN
    stop: StopOnRequest
    timer: StopAtTimeLimit
    best: KeepBestWeights
    checkpoint: EpochCheckpoint | None = None  # reads live, nan and best: runs after them
    extra: tuple[Any, ...] = ()  # the caller's (a sweep's pruning, a benchmark's probe)
    early: Any = None  # keras.callbacks.EarlyStopping, when patience is set
    tensorboard: TensorBoardScalars | None = None  # closed after fit

    def in_order(self) -> list[Any]:
        """Live metrics first; the checkpoint after live, nan and best; early stopping last."""
        ordered = [self.live, self.nan, self.stop, self.timer, self.best]
        if self.checkpoint is not None:
            ordered.append(self.checkpoint)
        ordered += list(self.extra)
        if self.early is not None:
            ordered.append(self.early)
        return ordered


def build_callbacks(config: TrainConfig, data: PreparedData, start: StartingPoint,
                    plan: DevicePlan, sink: TrainingSink, should_stop: Callable[[], bool],
                    settings: Settings, run_dir: Path | None,
                    extra: tuple[Any, ...] = ()) -> RunCallbacks:
    """Step 3a: live metrics (and TensorBoard), stopping, best weights, checkpoints.

    A resumed run's callbacks carry on counting and comparing from its checkpoint.
    """
    tensorboard = TensorBoardScalars(run_dir / "tensorboard") if run_dir is not None else None
    live = LiveMetrics(TeeSink(sink, TensorBoardSink(tensorboard)) if tensorboard else sink,
                       train_samples=len(data.x_train), batch_size=config.batch_size,
                       interval_s=config.batch_log_interval_s)
    live.device = plan.device_word
    best = KeepBestWeights(monitor="val_loss" if data.x_val is not None else "loss",
                           checkpoint=run_dir / "best.weights.h5" if run_dir else None,
                           target=start.model)
    callbacks = RunCallbacks(live=live, nan=StopOnNaN(), stop=StopOnRequest(should_stop),
                             timer=StopAtTimeLimit(job_seconds(settings)), best=best,
                             extra=tuple(extra), tensorboard=tensorboard)
    if run_dir is not None:
        callbacks.checkpoint = EpochCheckpoint(run_dir, live, callbacks.nan, best,
                                               config.seed, target=start.model)
    if config.patience:
        callbacks.early = keras.callbacks.EarlyStopping(monitor="val_loss",
                                                        patience=config.patience)
    resumed = start.resumed
    if resumed is not None:
        live.epochs_done = resumed.epoch
        best.best_epoch, best.best_metrics = resumed.best_epoch, dict(resumed.best_metrics)
        best.best_weights = best_weights(start.model, run_dir, resumed) if run_dir else None
    return callbacks


def fit(start: StartingPoint, config: TrainConfig, data: PreparedData,
        callbacks: RunCallbacks) -> tuple[float, float]:
    """Step 3b: ``fit`` over seeded epochs; returns (wall, CPU) seconds of the fit alone.

    Each epoch's order comes from (seed, epoch), so a resumed run sees what it would have
    seen.
    """
    batches = SeededEpochs(data.x_train, data.y_train, config.batch_size, config.seed,
                           start.initial_epoch)
    has_val = data.x_val is not None
    wall, cpu = time.monotonic(), time.process_time()
    try:
        start.fitted.fit(batches, epochs=config.epochs, initial_epoch=start.initial_epoch,
                         steps_per_epoch=batches.steps, shuffle=False, verbose=0,
                         callbacks=callbacks.in_order(),
                         validation_data=(data.x_val, data.y_val) if has_val else None)
    finally:
        if callbacks.tensorboard is not None:
            callbacks.tensorboard.close()
    return time.monotonic() - wall, time.process_time() - cpu


# ---------------------------------------------------------------- the whole job


def train_in_process(config: TrainConfig, sink: TrainingSink | None = None,
                     should_stop: Callable[[], bool] | None = None, *,
                     settings: Settings, run_id: str | None = None,
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
        settings: data folder and limits (the entry point read them once).
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

    data = prepare_data(config, settings)  # 1
    phases.enter(COMPILING)  # building, compiling and tracing: until the first live point
    keras.utils.set_random_seed(config.seed)
    spec = fitted_spec(config, data.input_shape, data.num_classes, data.output_activation)
    steps = count_steps(len(data.x_train), config.batch_size)
    plan = device_plan(config, visible_gpus(), backend_name(), steps)
    with device_scope(plan):
        start = start_model(config, data, spec, plan, steps, run_dir, settings)  # 2
        start_accuracy = None
        if start.parent is not None:  # the starting model on the new test split, unfitted
            start_accuracy = _accuracy(start.fitted, data)
        if should_stop():
            return TrainOutcome(status=STOPPED, reason="Stopped before training began; no "
                                "model was saved.", params=start.params,
                                duration_s=time.monotonic() - started)
        callbacks = build_callbacks(config, data, start, plan, sink, should_stop,  # 3
                                    settings, run_dir, extra_callbacks)
        fit_s, fit_cpu_s = fit(start, config, data, callbacks)
        phases.enter(FINISHING)
        outcome = fit_outcome(callbacks, config, settings, params=start.params,  # 4
                              fit_s=fit_s, fit_cpu_s=fit_cpu_s)
        if outcome.status == FAILED:
            outcome.duration_s = time.monotonic() - started
            return outcome
        weights_used = "last epoch"
        best = callbacks.best
        if config.keep_best and best.best_weights is not None and best.best_epoch is not None:
            start.model.set_weights(best.best_weights)
            weights_used = f"best epoch ({best.best_epoch})"
        test = start.fitted.evaluate(data.x_test, data.y_test,
                                     batch_size=max(256, config.batch_size), verbose=0,
                                     return_dict=True)
    outcome.test_accuracy = float(test["accuracy"]) if "accuracy" in test else None
    outcome.test_loss = float(test["loss"])
    outcome.test_metrics = {key: float(value) for key, value in test.items()}
    outcome.duration_s = time.monotonic() - started
    phases.end()
    outcome.phases = phases.summary()
    card = model_card(config, outcome, start, spec, data, plan, weights_used,
                      name=name, owner=owner, run_id=run_id, start_accuracy=start_accuracy)
    card.update(card_extra or {})
    if register:
        from dashcore.models.registry import save_model

        check_model_room(start.model, owner, settings)
        entry = save_model(start.model, card, settings)
        outcome.model_id, card = entry.model_id, entry.card
    outcome.card = card
    return outcome


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


def _accuracy(model: Any, data: PreparedData) -> float:
    return float(model.evaluate(data.x_test, data.y_test, batch_size=256, verbose=0,
                                return_dict=True)["accuracy"])
