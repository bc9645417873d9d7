"""Evaluation that explains a model: confusion matrix, per-class metrics, mistakes.

A model is run over a dataset split once, in batches, and the probabilities are
cached in-process per (model file, modification time, dataset, split), so every
view of /evaluate (matrix, drill-down, galleries, histogram, comparison) is cheap
NumPy over the same arrays. Conventions: rows of a confusion matrix are the true
class, columns the predicted class; probabilities are float32 rows summing to 1.

Example:
    >>> y_true = np.array([0, 0, 1, 1]); y_pred = np.array([0, 1, 1, 1])
    >>> confusion_matrix(y_true, y_pred, 2).tolist()
    [[1, 1], [0, 2]]
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from dashcore.access.auth import User
from dashcore.datasets import base
from dashcore.errors import PermissionDenied, UserError
from dashcore.evaluation.isolated import predict_isolated
from dashcore.evaluation.metrics import (
    Evaluation,
    Predictions,
    confusion_matrix,
    loss_and_accuracy,
    per_class_metrics,
)
from dashcore.evaluation.splits import BATCH_SIZE, DRAWINGS_SPLIT, SPLITS, check_fit, split_arrays
from dashcore.inference.predictor import (
    as_probabilities,
    deleted_sentence,
    get_predictor,
)
from dashcore.models.registry import ModelEntry
from dashcore.settings import Settings

_CACHE_SIZE = 8  # evaluations kept per process (10 000 × 10 float32 ≈ 0.4 MB each)

_cache: OrderedDict[tuple, Evaluation] = OrderedDict()
_cache_lock = threading.Lock()


def _fingerprint(dataset_name: str, split: str, x: np.ndarray, y: np.ndarray) -> tuple:
    """Cache key part for the data: built-ins by name, anything else by content."""
    if dataset_name in (base.MNIST, base.FASHION) and split in SPLITS:
        return (dataset_name, split)
    return (dataset_name, split, x.shape, zlib.crc32(np.ascontiguousarray(y).tobytes()),
            zlib.crc32(np.ascontiguousarray(x).tobytes()))


def evaluate_predictions(preds: Predictions) -> Evaluation:
    """All summary numbers from predictions (no model needed: used by tests and comparisons)."""
    matrix = confusion_matrix(preds.y_true, preds.y_pred, preds.num_classes)
    loss, accuracy = loss_and_accuracy(preds.y_true, preds.probs)
    return Evaluation(preds, matrix, loss, accuracy, per_class_metrics(matrix, preds.class_names))


def evaluate_model(model_path: Path, dataset_name: str = base.MNIST, split: str = "test",
                   title: str = "", batch_size: int = BATCH_SIZE, *, isolated: bool = False,
                   cached_only: bool = False, settings: Settings) -> Evaluation:
    """Run a saved model over a split once (in batches) and evaluate it; cached in-process.

    The cache key is (model file, its modification time, dataset, split), so a
    retrained or replaced file is evaluated afresh and everyone else reuses the result.
    ``isolated`` runs the model in a separate, time- and memory-limited process
    (:mod:`dashcore.evaluation.isolated`; for uploaded models); ``cached_only`` only
    returns an evaluation someone has already run (for visitors).

    Raises:
        UserError: the model's input or output does not fit the dataset (naming both
            shapes), the dataset or split does not exist, the file is gone, an isolated
            run passed its time limit, or nothing is cached for ``cached_only``.
    """
    path = Path(model_path)
    x, y, dataset = split_arrays(dataset_name, split, settings)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise UserError(deleted_sentence(path)) from None
    shown_name = base.DRAWINGS if split == DRAWINGS_SPLIT else dataset.name
    key = (str(path.resolve()), mtime, _fingerprint(shown_name, split, x, y))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    if cached_only:
        raise PermissionDenied(
            f"Visitors see evaluations that have already been run, and this model has not "
            f"been evaluated on the {split} split of {shown_name} yet. Sign in to run it, or "
            "pick the built-in model.")
    if isolated:
        outputs = predict_isolated(path, dataset_name, split, settings,
                                   expected=(len(y), dataset.num_classes))
    else:
        predictor = get_predictor(path)
        check_fit(predictor.input_shape, predictor.num_outputs, x.shape[1:],
                  dataset.num_classes, shown_name)
        outputs = predictor.predict_many(x, batch_size=batch_size)
    probs = as_probabilities(outputs, np.float32)
    preds = Predictions(np.asarray(y, dtype=np.int64), probs, tuple(dataset.class_names), x,
                        title or f"{path.stem} on {shown_name} ({split})")
    result = evaluate_predictions(preds)
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def evaluate_entry(entry: ModelEntry, dataset_name: str = base.MNIST, split: str = "test",
                   user: User | None = None, *, settings: Settings) -> Evaluation:
    """Evaluate a registry entry the way its source and the person asking allow.

    Uploaded models run in an isolated, time-limited process; models trained here run
    in-process (their cost was budgeted when they were trained). A visitor (not signed
    in) may run the built-in model and see any evaluation already cached, but not start
    a new one of another model. ``user`` None is a trusted caller.
    """
    visitor = user is not None and not user.name and not user.is_admin
    return evaluate_model(entry.path, dataset_name, split, title=entry.name,
                          isolated=entry.card.get("source") == "uploaded",
                          cached_only=visitor and not entry.builtin, settings=settings)


def clear_cache() -> None:
    """Forget cached evaluations (tests; after a model file is deleted)."""
    with _cache_lock:
        _cache.clear()
