"""What a stored table dataset carries besides its arrays (:class:`TableInfo`), and the
output layer and losses each task trains with.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pandas as pd

from dashcore.errors import UserError
from dashcore.tables.columns import BINARY, MULTICLASS, REGRESSION, TASKS, ColumnInfo
from dashcore.tables.encoding import TableEncoder

# Losses each task may train with; the first is the default /train offers.
TASK_LOSSES: dict[str, tuple[str, ...]] = {
    REGRESSION: ("mse", "mae"),
    BINARY: ("binary_crossentropy", "categorical_crossentropy"),
    MULTICLASS: ("categorical_crossentropy",),
}
# What the live charts show besides the loss, by task: (metric key, title).
TASK_PANELS: dict[str, tuple[tuple[str, str], ...]] = {
    REGRESSION: (("loss", "Loss"), ("mae", "Mean absolute error"), ("rmse", "RMSE")),
    BINARY: (("loss", "Loss"), ("accuracy", "Accuracy"), ("auc", "AUC")),
    MULTICLASS: (("loss", "Loss"), ("accuracy", "Accuracy")),
}


def output_layer(task: str, loss: str, num_classes: int) -> tuple[int, str]:
    """(units, activation) of the output layer: a linear unit for regression, a sigmoid
    unit for binary cross-entropy, else one softmax unit per class (the tutorial's 2-unit
    softmax for two classes)."""
    if task == REGRESSION:
        return 1, "linear"
    if task == BINARY and loss == "binary_crossentropy":
        return 1, "sigmoid"
    return num_classes, "softmax"


def check_loss(task: str, loss: str) -> None:
    """Refuse a loss the task cannot train with, saying which it can."""
    allowed = TASK_LOSSES[task]
    if loss not in allowed:
        raise UserError(f"Loss {loss!r} does not suit {TASKS[task].lower()}: use "
                        f"{' or '.join(repr(a) for a in allowed)}.")


@dataclass(frozen=True)
class TableInfo:
    """A table dataset's target, task, columns and encoder, and its raw rows.

    ``raw_train``/``raw_test`` are the rows as uploaded (strings), in the same order as
    the dataset's arrays: the exploration charts and the largest-error rows show them.
    """

    target: str
    task: str
    columns: tuple[ColumnInfo, ...]
    encoder: TableEncoder
    notes: tuple[str, ...] = ()  # one line per thing done to the rows or columns
    target_mean: float = 0.0  # training mean of a regression target (the baseline)
    target_std: float = 1.0  # its standard deviation (the model's output scale)
    raw_train: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)
    raw_test: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    @property
    def feature_columns(self) -> list[str]:
        """The columns the model reads, in order."""
        return [f.name for f in self.encoder.features]

    def meta(self) -> dict:
        """Everything but the raw rows, JSON-ready (what a model card keeps to predict)."""
        return {"target": self.target, "task": self.task,
                "columns": [c.to_dict() for c in self.columns],
                "encoder": self.encoder.to_dict(), "notes": list(self.notes),
                "target_mean": self.target_mean, "target_std": self.target_std}

    @classmethod
    def from_meta(cls, data: dict, raw_train: pd.DataFrame | None = None,
                  raw_test: pd.DataFrame | None = None) -> TableInfo:
        """Inverse of :meth:`meta`."""
        return cls(target=data["target"], task=data["task"],
                   columns=tuple(ColumnInfo(**c) for c in data["columns"]),
                   encoder=TableEncoder.from_dict(data["encoder"]),
                   notes=tuple(data.get("notes", ())),
                   target_mean=float(data.get("target_mean", 0.0)),
                   target_std=float(data.get("target_std", 1.0)),
                   raw_train=raw_train if raw_train is not None else pd.DataFrame(),
                   raw_test=raw_test if raw_test is not None else pd.DataFrame())

    def to_json(self) -> str:
        """:meth:`meta` as JSON text."""
        return json.dumps(self.meta(), ensure_ascii=False)


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    """Raw rows as UTF-8 CSV bytes (stored as a uint8 array inside the .npz)."""
    return frame.to_csv(index=False).encode("utf-8")


def frame_from_bytes(data: bytes) -> pd.DataFrame:
    """Inverse of :func:`frame_to_bytes`: every cell a string again."""
    if not data:
        return pd.DataFrame()
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False)
