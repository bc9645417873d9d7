"""Reading a stored table dataset back: the same ``<name>.npz`` as an uploaded image set,
with a ``table`` member (its :class:`~dashcore.tables.schema.TableInfo` as JSON) and its raw
rows as CSV bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dashcore.datasets.base import Dataset
from dashcore.errors import UserError
from dashcore.tables.schema import TableInfo, frame_from_bytes

TABLE_KEY = "table"  # the member that marks a stored dataset as a table


def is_table_file(path: Path) -> bool:
    """True when a stored dataset's ``.npz`` is a table (reads only its directory)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return TABLE_KEY in npz.files
    except Exception:  # noqa: BLE001 - not readable as a table: the image loader says why
        return False


def load_table_file(path: Path, name: str) -> Dataset:
    """The table dataset stored at ``path``, named ``name``.

    Raises:
        UserError: the file is damaged.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ("x_train", "y_train", "x_test", "y_test")}
            meta = json.loads(bytes(npz[TABLE_KEY]).decode("utf-8"))
            class_names = tuple(str(n) for n in npz["class_names"])
            raw_train = frame_from_bytes(bytes(npz["raw_train"]))
            raw_test = frame_from_bytes(bytes(npz["raw_test"]))
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"The stored table {name!r} could not be read ({type(exc).__name__}): "
                        "delete it and import the CSV again.") from None
    table = TableInfo.from_meta(meta, raw_train, raw_test)
    return Dataset(name=name, class_names=class_names, table=table,
                   source="Imported from a CSV table.", **arrays)
