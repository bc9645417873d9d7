"""New rows in, predictions out, with the encoder a model was trained with (kept on its
card): one row from /predict's form, or a whole CSV returned with prediction columns.

The model is run through an injected ``run`` (encoded rows → outputs), so this module
needs no Keras; pages pass the shared predictor's ``predict_rows``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from dashcore.errors import UserError
from dashcore.settings import Limits
from dashcore.tables.columns import REGRESSION
from dashcore.tables.reading import read_csv_rows
from dashcore.tables.schema import TableInfo

Run = Callable[[np.ndarray], np.ndarray]


def table_of(card: dict) -> TableInfo:
    """The table a model was trained on, from its card.

    Raises:
        UserError: the model reads images, not table rows.
    """
    meta = card.get("table")
    if not isinstance(meta, dict):
        raise UserError(f"{card.get('name', 'This model')!r} reads images, not table rows: "
                        "pick a model trained on a table.")
    return TableInfo.from_meta(meta)


def predict_frame(frame: pd.DataFrame, card: dict, run: Run) -> pd.DataFrame:
    """``frame`` with the model's answer added: ``predicted <target>`` and, for classes,
    one ``probability of <class>`` column each.

    Raises:
        UserError: a feature column is absent or holds text where numbers belong.
    """
    table = table_of(card)
    outputs = np.asarray(run(table.encoder.transform(frame)), dtype=np.float64)
    out = frame.copy()
    label = f"predicted {table.target}"
    if table.task == REGRESSION:
        out[label] = outputs[:, 0]
        return out
    names = list(card.get("class_names") or [])
    if card.get("output_activation") == "sigmoid":
        outputs = np.column_stack([1.0 - outputs[:, 0], outputs[:, 0]])
    out[label] = [names[i] for i in outputs.argmax(axis=1)]
    for index, name in enumerate(names):
        out[f"probability of {name}"] = outputs[:, index]
    return out


def predict_csv(data: bytes, card: dict, run: Run, limits: Limits) -> bytes:
    """A CSV of new rows (checked as an upload is: sizes first) → the same rows with the
    prediction columns, as CSV bytes."""
    frame = read_csv_rows(data, limits)
    return predict_frame(frame, card, run).to_csv(index=False).encode("utf-8")


def form_defaults(table: TableInfo) -> dict[str, object]:
    """A starting value per feature for /predict's form: the training mean of a number,
    the first training value of a category."""
    return {f.name: (round(f.mean, 6) if f.kind == "number" else f.categories[0])
            for f in table.encoder.features}


def one_row(values: dict[str, object]) -> pd.DataFrame:
    """The form's values as a one-row frame of strings, the way a CSV row is read."""
    return pd.DataFrame({name: [str(value)] for name, value in values.items()})
