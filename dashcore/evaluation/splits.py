"""What a model is scored on: a split's images and labels, and whether the model fits them.

Shared by the in-process evaluation (:mod:`dashcore.evaluation.runner`) and the isolated
child that scores uploaded models (:mod:`dashcore.evaluation.isolated`), so both read the
same split and refuse a model that does not fit with the same sentence.
"""

from __future__ import annotations

import numpy as np

from dashcore.datasets import base, catalog
from dashcore.errors import NotFoundError, UserError
from dashcore.inference.predictor import fit_input
from dashcore.settings import Settings

SPLITS = ("test", "train")  # dataset splits every dataset has
DRAWINGS_SPLIT = "your drawings"  # the labelled drawings saved from /draw
BATCH_SIZE = 1024  # images per forward pass: bounded memory, few Python round trips


def check_fit(input_shape: tuple[int | None, ...], num_outputs: int, image_shape: tuple[int, ...],
              num_classes: int, dataset_name: str) -> None:
    """Raise a :class:`UserError` naming both shapes when a model can't score a dataset.

    ``image_shape`` is one image's ``(H, W)`` (grey) or ``(H, W, 3)`` (colour). Flat (784)
    and row-sequence (28×28) inputs are fine: images are reshaped for them.
    """
    fit_input(np.zeros((1, *image_shape), dtype=np.uint8), input_shape)  # raises if no fit
    if num_outputs != num_classes:
        raise UserError(
            f"The model outputs {num_outputs} classes but {dataset_name} has {num_classes} "
            f"(labels 0–{num_classes - 1}). Pick a model trained on {dataset_name}, or a "
            f"dataset with {num_outputs} classes.")


def _load_drawings(settings: Settings) -> base.Dataset | None:
    """The "your drawings" dataset (test split only), or None when none are saved."""
    try:
        return catalog.load_dataset(base.DRAWINGS, settings)
    except NotFoundError:
        return None


def drawings_available(settings: Settings) -> bool:
    """True when "your drawings" holds at least one labelled drawing to evaluate on."""
    try:
        from dashcore.datasets.drawings import count_drawings
    except ImportError:
        return False
    try:
        return count_drawings(settings) > 0
    except UserError:
        return False


def split_arrays(dataset_name: str, split: str, settings: Settings
                 ) -> tuple[np.ndarray, np.ndarray, base.Dataset]:
    """``(images, labels, dataset)`` for a split name, "your drawings" included."""
    if split == DRAWINGS_SPLIT:
        dataset = _load_drawings(settings)
        if dataset is None or len(dataset.y_train) + len(dataset.y_test) == 0:
            raise UserError("There are no saved drawings yet: draw digits on /draw and use "
                            "'Save as example', then evaluate on them here.")
        # Digits: every drawing is in test. Classes of your own: the held-out drawings only.
        return dataset.x_test, dataset.y_test, dataset
    if split not in SPLITS:
        raise UserError(f"Unknown split {split!r}: choose one of {', '.join(SPLITS)} or "
                        f"{DRAWINGS_SPLIT!r}.")
    dataset = catalog.load_dataset(dataset_name, settings)
    x, y = dataset.split(split)
    if len(y) == 0:
        other = "train" if split == "test" else "test"
        raise UserError(f"The {split} split of {dataset.name} has no images: evaluate on the "
                        f"{other} split instead.")
    return x, y, dataset
