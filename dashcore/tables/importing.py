"""A CSV → a stored table dataset: read (sizes first), describe, pick the target, split with
a seed, fit the encoder on the training rows, store as ``upload:<name>``.

Nothing is written until every check passed; the owner's disk quota is checked on the
file's size before it is parsed and on the stored size before it is written. Parsing holds a
slot of the image imports' gate (``DASHCORE_IMPORT_WORKERS`` at once, one per person); the
byte, row and column limits bound its cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashcore.access.auth import User, authorize
from dashcore.access.quota import check_quota
from dashcore.datasets.base import Dataset, check_class_name
from dashcore.datasets.saved import check_new_name, store_dataset
from dashcore.datasets.zip_import import IMPORTS
from dashcore.errors import UserError
from dashcore.settings import Limits, Settings
from dashcore.tables.columns import (
    NUMBER,
    REGRESSION,
    USABLE,
    ColumnInfo,
    check_task,
    describe_columns,
    missing_mask,
    task_for,
    to_numbers,
)
from dashcore.tables.encoding import DROP, FILL, MISSING_RULES, TableEncoder
from dashcore.tables.reading import MIN_ROWS, read_csv
from dashcore.tables.schema import TableInfo, frame_to_bytes
from dashcore.tables.stored import TABLE_KEY


@dataclass(frozen=True)
class TablePreview:
    """A CSV read and described, before a target is chosen."""

    frame: pd.DataFrame
    columns: tuple[ColumnInfo, ...]

    def column(self, name: str) -> ColumnInfo:
        """The named column's description.

        Raises:
            UserError: no such column.
        """
        for info in self.columns:
            if info.name == name:
                return info
        raise UserError(f"There is no column {name!r}: choose one from the header.")

    def suggested_task(self, target: str) -> str:
        """The task the target implies (see :func:`dashcore.tables.columns.task_for`)."""
        return task_for(self.column(target), self.frame[target])

    def table(self) -> list[dict]:
        """One row per column for /data: name, kind, missing, distinct values, note."""
        return [{"column": c.name, "kind": c.kind, "missing": c.missing,
                 "distinct values": c.distinct, "note": c.note} for c in self.columns]


def inspect_csv(data: bytes, limits: Limits) -> TablePreview:
    """Read and describe a CSV (sizes checked first); writes nothing."""
    frame = read_csv(data, limits)
    return TablePreview(frame, tuple(describe_columns(frame)))


@dataclass(frozen=True)
class TableOptions:
    """What /data's form chose for a CSV import."""

    target: str  # the column to predict
    task: str | None = None  # None: the one the target implies
    test_fraction: float = 0.2  # share of rows held out for testing
    seed: int = 42  # the same seed gives the same split
    missing: str = FILL  # FILL or DROP (see dashcore.tables.encoding.MISSING_RULES)

    def check(self) -> None:
        """Refuse impossible values with a sentence."""
        if not 0.05 <= self.test_fraction <= 0.5:
            raise UserError(f"Test share {self.test_fraction:g} is not allowed: use 0.05 to "
                            "0.5 (0.2 keeps a fifth of the rows for testing).")
        if self.missing not in MISSING_RULES:
            raise UserError(f"Unknown rule for missing values {self.missing!r}: choose "
                            f"{' or '.join(MISSING_RULES)}.")


def _class_order(values: pd.Series, info: ColumnInfo) -> list[str]:
    """Class values in a stable order: numerically for numbers, else alphabetically."""
    distinct = values.str.strip().unique().tolist()
    if info.kind == NUMBER:
        return sorted(distinct, key=float)
    return sorted(distinct, key=str)


def split_rows(n: int, labels: np.ndarray | None, test_fraction: float, seed: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) row indices; per class for classification (each class keeps
    at least one row on each side), so the same seed always gives the same split."""
    rng = np.random.default_rng(seed)
    if labels is None:
        order = rng.permutation(n)
        n_test = max(1, int(round(n * test_fraction)))
        return np.sort(order[n_test:]), np.sort(order[:n_test])
    train, test = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        n_test = min(len(rows) - 1, max(1, int(round(len(rows) * test_fraction))))
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def build_table(preview: TablePreview, options: TableOptions, name: str = "table"
                ) -> Dataset:
    """The table as a dataset: target chosen, rows filtered, split, encoded. Writes nothing.

    Raises:
        UserError: an unusable target or task, too few rows or rows per class.
    """
    options.check()
    info = preview.column(options.target)
    task = options.task or preview.suggested_task(options.target)
    check_task(info, task)
    frame, notes = preview.frame, []
    features = {c.name: c.kind for c in preview.columns
                if c.name != options.target and c.kind in USABLE}
    for column in preview.columns:
        if column.name != options.target and column.kind not in USABLE:
            notes.append(f"Column {column.name!r} is left out: {column.note}.")
    if not features:
        raise UserError(f"Besides the target {options.target!r} no column holds numbers or "
                        "categories: there is nothing to predict it from.")
    keep = ~missing_mask(frame[options.target])
    if not keep.all():
        notes.append(f"{int((~keep).sum()):,} row(s) without a value in {options.target!r} are "
                     "left out (there is nothing to learn from them).")
    if options.missing == DROP:
        gaps = np.zeros(len(frame), dtype=bool)
        for column in features:
            gaps |= missing_mask(frame[column])
        if (gaps & keep).any():
            notes.append(f"{int((gaps & keep).sum()):,} row(s) with a missing feature value "
                         "are left out.")
        keep &= ~gaps
    elif any(c.missing for c in preview.columns if c.name in features):
        notes.append(MISSING_RULES[FILL])
    frame = frame[keep].reset_index(drop=True)
    if len(frame) < MIN_ROWS:
        raise UserError(f"Only {len(frame)} usable row(s) are left; a model needs at least "
                        f"{MIN_ROWS}. Fill in the missing values, or keep rows with gaps.")
    labels, class_names, y_all = None, (), None
    if task == REGRESSION:
        y_all = to_numbers(frame[options.target]).astype(np.float32)
    else:
        class_names = tuple(check_class_name(v) for v in _class_order(frame[options.target],
                                                                      info))
        index = {value: i for i, value in enumerate(class_names)}
        labels = frame[options.target].str.strip().map(index).to_numpy(dtype=np.int64)
        counts = np.bincount(labels, minlength=len(class_names))
        if counts.min() < 2:
            rare = class_names[int(counts.argmin())]
            raise UserError(f"The value {rare!r} of {options.target!r} appears in only "
                            f"{int(counts.min())} row: every class needs at least two (one to "
                            "train on, one to test).")
        y_all = labels
    train_rows, test_rows = split_rows(len(frame), labels, options.test_fraction, options.seed)
    raw_train = frame.iloc[train_rows].reset_index(drop=True)
    raw_test = frame.iloc[test_rows].reset_index(drop=True)
    encoder = TableEncoder.fit(raw_train, features)  # the training rows alone
    numbers = [f.name for f in encoder.features if f.kind == NUMBER]
    categories = [f"{f.name} ({len(f.categories)})" for f in encoder.features
                  if f.kind != NUMBER]
    if numbers:
        notes.append(f"{len(numbers)} numeric column(s) are standardised with the training "
                     "rows' mean and standard deviation (the same values at prediction).")
    if categories:
        notes.append("Categorical column(s) become one 0/1 input per value seen in training: "
                     f"{', '.join(categories)}; a value not seen in training switches none on.")
    y_train, y_test = y_all[train_rows], y_all[test_rows]
    target_mean = float(y_train.mean()) if task == REGRESSION else 0.0
    target_std = float(y_train.std()) if task == REGRESSION else 1.0
    table = TableInfo(target=options.target, task=task, columns=preview.columns,
                      encoder=encoder, notes=tuple(notes), target_mean=target_mean,
                      target_std=target_std if target_std > 1e-12 else 1.0,
                      raw_train=raw_train, raw_test=raw_test)
    return Dataset(name=name, x_train=encoder.transform(raw_train), y_train=y_train,
                   x_test=encoder.transform(raw_test), y_test=y_test,
                   class_names=class_names, table=table,
                   source=f"Imported from a CSV table ({len(frame):,} rows; target "
                          f"{options.target!r}).")


def import_table(name: str, data: bytes, options: TableOptions, settings: Settings,
                 user: User | None = None) -> Dataset:
    """/data's "Import table": check, read, build and store a CSV as ``upload:<name>``.

    Raises:
        PermissionDenied: ``user`` may not upload.
        UserError: a bad name, a file over a limit or the quota, an unusable table.
    """
    authorize(user, "upload")
    clean, _ = check_new_name(name, settings)
    check_quota(user, settings, len(data), "this table")
    # The same gate as image imports: a few at once on this server, one at a time per person.
    with IMPORTS.slot(user.name if user is not None and user.name else "",
                      settings.limits.import_workers):
        dataset = build_table(inspect_csv(data, settings.limits), options, clean)
    table = dataset.table
    extra = {TABLE_KEY: np.frombuffer(table.to_json().encode("utf-8"), dtype=np.uint8),
             "raw_train": np.frombuffer(frame_to_bytes(table.raw_train), dtype=np.uint8),
             "raw_test": np.frombuffer(frame_to_bytes(table.raw_test), dtype=np.uint8)}
    return store_dataset(dataset, clean, settings, user, extra_arrays=extra)
