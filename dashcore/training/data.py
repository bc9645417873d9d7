"""Step 1 of a run: the dataset loaded, classes picked, validation split off, scaled once;
and the checks that can be made before a run is queued. No Keras here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from dashcore.datasets.base import Dataset
from dashcore.datasets.catalog import load_dataset
from dashcore.datasets.prepare import one_hot, subset_classes, to_model_input
from dashcore.errors import UserError
from dashcore.models.cost import model_cost
from dashcore.models.specs import ModelSpec
from dashcore.models.validation import estimate_params, validate_spec
from dashcore.settings import Limits, Settings, limit_setting
from dashcore.tables.schema import TASK_LOSSES, TableInfo, check_loss, output_layer
from dashcore.training.budget import check_activation_memory, check_training_work
from dashcore.training.config import IMAGE_LOSSES, MIN_TRAIN_IMAGES, TrainConfig, count_steps

# ---------------------------------------------------------------- data


@dataclass
class PreparedData:
    """Model-ready arrays: float32 images ``(N, H, W, C)`` in [0, 1], one-hot labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    table: TableInfo | None = None  # a table's target, task and encoder; None for images
    output: tuple[int, str] | None = None  # a table's output layer (units, activation)

    @property
    def num_classes(self) -> int:
        """Output width of the model."""
        return self.output[0] if self.output else len(self.class_names)

    @property
    def output_activation(self) -> str:
        """The output layer's activation: softmax, or linear / sigmoid for a table."""
        return self.output[1] if self.output else "softmax"


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


def prepare_data(config: TrainConfig, settings: Settings) -> PreparedData:
    """Step 1: load, pick classes, split off validation with the seed, scale once.

    Images stay uint8 through selection and splitting (the only copies are the split
    themselves) and become float32 exactly once, which is what Keras trains on.
    """
    dataset = load_dataset(config.dataset, settings)
    if dataset.is_table:
        return prepare_table(dataset, config)
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
        x_train, y_train = with_canvas_like(x_train, y_train, config.seed, settings)
        if n_val:
            x_val, y_val = with_canvas_like(x_val, y_val, config.seed + 1, settings)
    return PreparedData(
        x_train=to_model_input(x_train), y_train=one_hot(y_train, k),
        x_val=to_model_input(x_val) if n_val else None,
        y_val=one_hot(y_val, k) if n_val else None,
        x_test=to_model_input(x_test), y_test=one_hot(y_test, k),
        class_names=names, input_shape=dataset.input_shape)


def table_targets(y: np.ndarray, units: int) -> np.ndarray:
    """A table's targets as the loss reads them: (N, 1) numbers or 0/1 for a single
    output unit, else one-hot rows."""
    if units == 1:
        return y.astype(np.float32).reshape(-1, 1)
    return one_hot(y, units)


def prepare_table(dataset: Dataset, config: TrainConfig) -> PreparedData:
    """Step 1 for a table: rows already encoded when it was imported (scaled with the
    training rows' statistics); split off validation with the seed; targets by the loss."""
    table = dataset.table
    check_table_config(config, dataset)
    order = np.random.default_rng(config.seed).permutation(len(dataset.x_train))
    if config.max_train_images:
        order = order[:config.max_train_images]
    n_val = int(round(len(order) * config.validation_split))
    if len(order) - n_val < 1:
        raise UserError(f"Only {len(order)} training rows are available: lower the "
                        "validation split.")
    train_idx, val_idx = np.sort(order[n_val:]), np.sort(order[:n_val])
    output = output_layer(table.task, config.loss, len(dataset.class_names))
    units = output[0]
    x, y = dataset.x_train.astype(np.float32), dataset.y_train
    return PreparedData(
        x_train=x[train_idx], y_train=table_targets(y[train_idx], units),
        x_val=x[val_idx] if n_val else None,
        y_val=table_targets(y[val_idx], units) if n_val else None,
        x_test=dataset.x_test.astype(np.float32), y_test=table_targets(dataset.y_test, units),
        class_names=tuple(dataset.class_names), input_shape=dataset.input_shape,
        table=table, output=output)


def default_loss(dataset: Dataset) -> str:
    """The loss a dataset trains with unless a person picks one: categorical cross-entropy
    for images, the first of its task's losses for a table (mean squared error for a
    number, binary cross-entropy for two classes)."""
    if dataset.is_table:
        return TASK_LOSSES[dataset.table.task][0]
    return "categorical_crossentropy"


def check_table_config(config: TrainConfig, dataset: Dataset) -> None:
    """Refuse what a table cannot train with: image-only options, a loss of another task."""
    check_loss(dataset.table.task, config.loss)
    image_only = [label for label, on in (("light augmentation", config.augment),
                                          ("photo augmentation", config.augment_photo),
                                          ("canvas-ready training", config.canvas_ready),
                                          ("picking classes", bool(config.classes)),
                                          ("holding out images", bool(config.holdout_last)))
                  if on]
    if image_only:
        raise UserError(f"{dataset.name} is a table: {', '.join(image_only)} only applies to "
                        "images. Turn it off.")


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


def fitted_spec(config: TrainConfig, input_shape: tuple[int, ...], num_classes: int,
                activation: str = "softmax") -> ModelSpec:
    """The configured architecture with its input and output fitted to the data."""
    return config.spec.with_data(tuple(input_shape), num_classes, activation)


def check_model_size(model: Any, limits: Limits) -> int:
    """Parameter count, or a :class:`UserError` when it is over the server's limit."""
    params = int(model.count_params())
    if params > limits.max_params:
        raise UserError(f"This model has {params:,} parameters; the limit on this server is "
                        f"{limits.max_params:,}. Use fewer or smaller layers (e.g. a "
                        f"MaxPooling2D before Flatten). {limit_setting('max_params')}")
    return params


def describe_job(config: TrainConfig, settings: Settings) -> dict[str, Any]:
    """Check what cannot be checked from the numbers alone, before a run is queued.

    Loads the dataset (cached), checks the chosen classes exist, and checks the layer
    stack fitted to the data (shapes and size) without building it in Keras, then the
    run's budgets: activation memory at the batch size and estimated training work.
    Returns ``architecture`` (name), ``params``, ``input_shape``, ``num_classes``,
    ``class_names``, ``train_images``, ``steps_per_epoch``, ``training_tmac`` and
    ``activation_bytes``.

    Raises:
        UserError: unknown dataset or class, a model that cannot be built or is too big,
            a run over the work or activation-memory budget (naming its setting).
    """
    config.check(settings.limits)
    dataset = load_dataset(config.dataset, settings)
    activation = "softmax"
    if not dataset.is_table and config.loss not in IMAGE_LOSSES:
        raise UserError(f"Loss {config.loss!r} is for tables; for images choose categorical "
                        "cross-entropy or mean squared error.")
    if dataset.is_table:
        check_table_config(config, dataset)
        units, activation = output_layer(dataset.table.task, config.loss,
                                         len(dataset.class_names))
        names = tuple(dataset.class_names) or (dataset.table.target,)
    elif config.classes:
        bad = sorted(c for c in set(config.classes) if c >= dataset.num_classes)
        if bad:
            raise UserError(f"Class(es) {bad} do not exist in {dataset.name}, which has "
                            f"classes 0 to {dataset.num_classes - 1}.")
        names = tuple(dataset.class_names[c] for c in sorted(set(config.classes)))
    else:
        names = tuple(dataset.class_names)
    architecture = None
    if config.start_model:  # fine-tune: the saved model must fit; its own layers are budgeted
        from dashcore.training.finetune import check_start_model

        card = check_start_model(config.start_model, dataset.input_shape, len(names),
                                 dataset.name, settings)
        architecture = f"fine-tune of {card.get('name') or config.start_model}"
        if not isinstance(card.get("spec"), dict):  # an uploaded model: no layer spec to cost
            return {"architecture": architecture, "params": int(card.get("params") or 0),
                    "input_shape": dataset.input_shape, "num_classes": len(names),
                    "class_names": names}
        spec = ModelSpec.from_dict(card["spec"])
    else:
        spec = fitted_spec(config, dataset.input_shape,
                           units if dataset.is_table else len(names), activation)
    validate_spec(spec, settings.limits.max_params)  # plain-words layer checks, no Keras
    params = int(sum(estimate_params(spec)))
    images = training_images(config, dataset)
    steps = count_steps(images, config.batch_size)
    cost = model_cost(spec)
    check_activation_memory(cost, spec, config.batch_size, settings.limits)
    work = check_training_work(cost, images, steps, config.epochs, config.batch_size,
                               settings.limits)
    return {"architecture": architecture or spec.name, "params": params,
            "input_shape": dataset.input_shape,
            "num_classes": len(names), "class_names": names, "train_images": images,
            "steps_per_epoch": steps, "training_tmac": work,
            "activation_bytes": cost.training_bytes(config.batch_size),
            "task": dataset.table.task if dataset.is_table else None}


def training_images(config: TrainConfig, dataset: Dataset) -> int:
    """Images per epoch: the chosen classes, the image limit, less the validation split and
    the held-out images; doubled by canvas-ready training's renderings."""
    labels = dataset.y_train[:max(0, len(dataset.y_train) - config.holdout_last)]
    if config.classes:
        available = int(np.isin(labels, sorted(set(config.classes))).sum())
    else:
        available = len(labels)
    if config.max_train_images:
        available = min(available, config.max_train_images)
    images = max(1, available - int(round(available * config.validation_split)))
    return 2 * images if config.canvas_ready else images  # plus one rendering of each
