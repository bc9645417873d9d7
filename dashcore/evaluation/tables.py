"""A saved model run over a table's split once (cached per model file and dataset), with
what /evaluate shows for tables: regression errors against the mean baseline, binary curves
and a movable threshold, per-class metrics for several classes, the worst rows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dashcore.datasets import catalog
from dashcore.errors import UserError
from dashcore.inference.predictor import deleted_sentence, get_predictor
from dashcore.models.registry import ModelEntry
from dashcore.settings import Settings
from dashcore.tables.columns import BINARY, REGRESSION
from dashcore.tables.metrics import largest_errors

_CACHE_SIZE = 8
_cache: OrderedDict[tuple, TableEvaluation] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class TableEvaluation:
    """One model's outputs on one split of a table, beside the rows as uploaded."""

    task: str
    target: str
    class_names: tuple[str, ...]
    actual: np.ndarray  # numbers (regression) or class indices
    outputs: np.ndarray  # (N,) predicted numbers, or (N, K) class probabilities
    raw: pd.DataFrame  # the split's rows as uploaded, same order
    train_mean: float  # the baseline's prediction (regression)
    title: str

    @property
    def scores(self) -> np.ndarray:
        """Binary: each row's probability of the second class (the positive one)."""
        return self.outputs[:, 1]

    def errors(self) -> np.ndarray:
        """How wrong each row is: |actual − predicted|, or 1 − the true class's probability."""
        if self.task == REGRESSION:
            return np.abs(self.actual - self.outputs)
        return 1.0 - self.outputs[np.arange(len(self.actual)), self.actual]

    def worst_rows(self, count: int = 20) -> pd.DataFrame:
        """The rows with the largest errors, with their feature values and the answer."""
        index = largest_errors(self.errors(), count)
        rows = self.raw.iloc[index].copy()
        if self.task == REGRESSION:
            rows.insert(0, "predicted", self.outputs[index])
            rows.insert(1, "error", (self.outputs - self.actual)[index])
        else:
            rows.insert(0, "predicted", [self.class_names[i]
                                         for i in self.outputs[index].argmax(axis=1)])
            rows.insert(1, f"probability of the true {self.target}",
                        self.outputs[index, self.actual[index]])
        rows.insert(0, "row", index)
        return rows.reset_index(drop=True)


def probabilities(outputs: np.ndarray, activation: str) -> np.ndarray:
    """(N, K) probabilities from a model's outputs: a sigmoid unit becomes [1 − p, p]."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if activation == "sigmoid":
        p = np.clip(outputs[:, 0], 0.0, 1.0)
        return np.column_stack([1.0 - p, p])
    return outputs


def evaluate_table(entry: ModelEntry, dataset_name: str, split: str, settings: Settings
                   ) -> TableEvaluation:
    """Run a model trained on a table over a split of ``dataset_name`` (cached).

    Raises:
        UserError: the model was not trained on a table, or on a table with other columns;
            an unknown split; the model file is gone.
    """
    card = entry.card
    dataset = catalog.load_dataset(dataset_name, settings)
    if not dataset.is_table:
        raise UserError(f"{dataset_name} holds images; this model reads table rows. Pick the "
                        f"table it was trained on ({card.get('dataset')}).")
    meta = card.get("table")
    if not isinstance(meta, dict):
        raise UserError(f"{entry.name!r} reads images, not table rows: pick a model trained "
                        f"on {dataset_name} (train one on /train).")
    if meta.get("encoder") != dataset.table.encoder.to_dict():
        raise UserError(f"{entry.name!r} was trained on a table with other columns or "
                        f"encodings ({card.get('dataset')}): pick that table, or a model "
                        f"trained on {dataset_name}.")
    if split not in ("test", "train"):
        raise UserError(f"Tables have a test and a train split; {split!r} is not one of them.")
    path = Path(entry.path)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise UserError(deleted_sentence(path)) from None
    key = (str(path.resolve()), mtime, dataset_name, split, len(dataset.y_test))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    x, y = dataset.split(split)
    outputs = get_predictor(path).predict_rows(x)
    task = dataset.table.task
    if task == REGRESSION:
        predicted, actual = np.asarray(outputs, dtype=np.float64)[:, 0], y.astype(np.float64)
    else:
        predicted = probabilities(outputs, card.get("output_activation", "softmax"))
        actual = y.astype(np.int64)
        if predicted.shape[1] != len(dataset.class_names):
            raise UserError(f"{entry.name!r} gives {predicted.shape[1]} outputs but the table "
                            f"has {len(dataset.class_names)} classes.")
    raw = dataset.table.raw_test if split == "test" else dataset.table.raw_train
    result = TableEvaluation(task=task, target=dataset.table.target,
                             class_names=tuple(dataset.class_names), actual=actual,
                             outputs=predicted, raw=raw, train_mean=dataset.table.target_mean,
                             title=f"{entry.name} on {dataset_name} ({split})")
    with _lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def is_binary(result: TableEvaluation) -> bool:
    """True for two classes: the threshold, ROC and precision–recall views apply."""
    return result.task == BINARY
