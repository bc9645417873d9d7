"""What each column of a table is (number, category, text, date), how much of it is missing,
and the task a target column implies.

Kinds are decided from the cells' text, not from a library's guess: a column is a *number*
when every filled cell parses as one, a *date* when (nearly) every one parses as a date, a
*category* when it has few distinct values, and *text* otherwise. Text and date columns are
not used as features (they are named, with the reason, on /data).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from dashcore.errors import UserError

NUMBER, CATEGORY, TEXT, DATE = "number", "category", "text", "date"
USABLE = (NUMBER, CATEGORY)
REGRESSION, BINARY, MULTICLASS = "regression", "binary", "multiclass"
TASKS = {REGRESSION: "Regression (predict a number)",
         BINARY: "Binary classification (one of two values)",
         MULTICLASS: "Multi-class classification (one of a few values)"}
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-", "--", "#n/a"})
MAX_CATEGORIES = 50  # a column with more distinct text values than this is free text
MAX_CLASSES_FROM_NUMBERS = 10  # whole numbers with at most this many values: classes
MAX_CLASSES = 50  # the most classes a classification target may have
DATE_SHARE = 0.95  # share of filled cells that must parse as dates for a date column


@dataclass(frozen=True)
class ColumnInfo:
    """One column as /data describes it."""

    name: str
    kind: str  # NUMBER, CATEGORY, TEXT or DATE
    missing: int  # empty (or NA-like) cells
    distinct: int  # distinct filled values
    note: str = ""  # why a column is not usable, in a few words

    def to_dict(self) -> dict:
        """JSON-ready (stored with the dataset)."""
        return asdict(self)


def missing_mask(values: pd.Series) -> np.ndarray:
    """True where a cell is empty or says NA (``""``, ``NA``, ``N/A``, ``null``, ``?``…)."""
    return values.str.strip().str.lower().isin(MISSING).to_numpy()


def to_numbers(values: pd.Series) -> np.ndarray:
    """float64 values of a number column; NaN where missing (or not a number)."""
    return pd.to_numeric(values.str.strip().where(~missing_mask(values)),
                         errors="coerce").to_numpy(dtype=np.float64)


def _looks_like_dates(filled: pd.Series) -> bool:
    sample = filled.head(500)
    if not sample.str.contains(r"\d", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= DATE_SHARE)


def describe_column(name: str, values: pd.Series) -> ColumnInfo:
    """The kind, missing count and distinct count of one column of strings."""
    missing = missing_mask(values)
    filled = values[~missing].str.strip()
    distinct = int(filled.nunique())
    if filled.empty:
        return ColumnInfo(name, TEXT, int(missing.sum()), 0, "every cell is empty")
    numbers = pd.to_numeric(filled, errors="coerce")
    if numbers.notna().all() and np.isfinite(numbers.to_numpy(dtype=np.float64)).all():
        return ColumnInfo(name, NUMBER, int(missing.sum()), distinct)
    if _looks_like_dates(filled):
        return ColumnInfo(name, DATE, int(missing.sum()), distinct,
                          "dates are not used as features")
    if distinct <= MAX_CATEGORIES:
        return ColumnInfo(name, CATEGORY, int(missing.sum()), distinct)
    return ColumnInfo(name, TEXT, int(missing.sum()), distinct,
                      f"free text ({distinct:,} different values) is not used as a feature")


def describe_columns(frame: pd.DataFrame) -> list[ColumnInfo]:
    """:func:`describe_column` of every column, in order.

    Raises:
        UserError: no column holds numbers (there is nothing a model could read as is).
    """
    infos = [describe_column(str(name), frame[name]) for name in frame.columns]
    if not any(info.kind == NUMBER for info in infos):
        kinds = ", ".join(f"{info.name!r} ({info.kind})" for info in infos[:6])
        raise UserError(f"No column holds numbers ({kinds}{', …' if len(infos) > 6 else ''}): "
                        "a table for this workbench needs at least one numeric column. Check "
                        "the delimiter and the decimal separator (use a dot, 3.5 not 3,5).")
    return infos


def task_for(info: ColumnInfo, values: pd.Series) -> str:
    """The task a target column implies: numbers → regression, two values → binary, a few
    values (a category, or at most 10 whole numbers) → multi-class.

    Raises:
        UserError: a text or date column, or a column with a single value.
    """
    if info.kind not in USABLE:
        raise UserError(f"Column {info.name!r} is {info.kind}, so it cannot be the target: "
                        "choose a column of numbers or categories.")
    if info.distinct < 2:
        raise UserError(f"Column {info.name!r} has a single value, so there is nothing to "
                        "predict: choose another target.")
    if info.distinct == 2:
        return BINARY
    if info.kind == CATEGORY:
        return MULTICLASS
    numbers = to_numbers(values)
    numbers = numbers[np.isfinite(numbers)]
    whole = bool(np.all(numbers == np.round(numbers)))
    return MULTICLASS if whole and info.distinct <= MAX_CLASSES_FROM_NUMBERS else REGRESSION


def check_task(info: ColumnInfo, task: str) -> None:
    """Refuse a task (chosen by a person) the target column cannot have."""
    if task not in TASKS:
        raise UserError(f"Unknown task {task!r}: choose one of {', '.join(TASKS)}.")
    if task == REGRESSION and info.kind != NUMBER:
        raise UserError(f"Column {info.name!r} holds categories, not numbers: it can only be "
                        "a classification target.")
    if task == BINARY and info.distinct != 2:
        raise UserError(f"Column {info.name!r} has {info.distinct} different values; binary "
                        "classification needs exactly two. Choose multi-class instead.")
    if task == MULTICLASS and not 2 <= info.distinct <= MAX_CLASSES:
        raise UserError(f"Column {info.name!r} has {info.distinct:,} different values; "
                        f"classification allows 2 to {MAX_CLASSES}. Choose regression for "
                        "a number.")
